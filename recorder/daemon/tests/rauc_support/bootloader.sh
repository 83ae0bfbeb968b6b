#!/usr/bin/env bash
# RAUC's custom bootloader backend for the test system of tests/rauc_support/mod.rs. The card's
# U-Boot environment is the file `bootvars` beside this script (KEY=value lines), and every
# command behaves as RAUC's own U-Boot backend does through fw_printenv/fw_setenv, so the tests
# see the variables the real board's boot.scr would read. The booted slot is the file `booted`,
# written by the fixture at each simulated boot. Each call is appended to `bootloader.log` so
# that tests can tell what RAUC asked for.
#
#   get-primary            the first slot of BOOT_ORDER with attempts left
#   set-primary SLOT       SLOT first in BOOT_ORDER, BOOT_SLOT_LEFT=3
#   get-state SLOT         good if SLOT is in BOOT_ORDER and BOOT_SLOT_LEFT > 0, else bad
#   set-state SLOT good    BOOT_SLOT_LEFT=3
#   set-state SLOT bad     SLOT out of BOOT_ORDER, BOOT_SLOT_LEFT=0
#   get-current            the booted slot
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
readonly VARS="$here/bootvars"
readonly BOOTED="$here/booted"
readonly ATTEMPTS=3

printf '%s\n' "$*" >>"$here/bootloader.log"

fail() {
  printf 'bootloader.sh: %s\n' "$*" >&2
  exit 1
}

declare -A vars=()

load_vars() {
  local line
  [[ -f "$VARS" ]] || fail "no $VARS"
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" == *=* ]] || continue
    vars["${line%%=*}"]="${line#*=}"
  done <"$VARS"
}

# Written whole and renamed, as fw_setenv writes a complete environment: a reader never sees
# half of it.
save_vars() {
  local key
  {
    while IFS= read -r key; do
      printf '%s=%s\n' "$key" "${vars[$key]}"
    done < <(printf '%s\n' "${!vars[@]}" | sort)
  } >"$VARS.tmp"
  mv "$VARS.tmp" "$VARS"
}

# A variable that is not set is an error, as fw_printenv's exit status makes it for RAUC.
get_var() {
  [[ -v "vars[$1]" ]] || fail "$1 is not set"
  printf '%s' "${vars[$1]}"
}

# C's atoi as RAUC applies it to BOOT_x_LEFT: leading digits, anything else counts as 0.
attempts_left() {
  local value digits
  value="$(get_var "BOOT_$1_LEFT")"
  digits="${value%%[!0-9]*}"
  printf '%d' "$((10#${digits:-0}))"
}

boot_order() {
  local order
  order="$(get_var BOOT_ORDER)"
  read -r -a slots <<<"$order"
}

check_slot() {
  [[ "$1" == A || "$1" == B ]] || fail "unknown slot '$1'"
}

get_primary() {
  local slots=() slot
  boot_order
  for slot in "${slots[@]}"; do
    if [[ -v "vars[BOOT_${slot}_LEFT]" ]] && (($(attempts_left "$slot") > 0)); then
      printf '%s\n' "$slot"
      return 0
    fi
  done
  fail "Unable to find primary boot slot"
}

set_primary() {
  local target="$1" slots=() slot order="$1"
  check_slot "$target"
  if [[ -v "vars[BOOT_ORDER]" ]]; then
    boot_order
  else
    slots=(A B)
  fi
  for slot in "${slots[@]}"; do
    [[ "$slot" == "$target" ]] || order+=" $slot"
  done
  vars["BOOT_${target}_LEFT"]="$ATTEMPTS"
  vars[BOOT_ORDER]="$order"
  save_vars
}

get_state() {
  local target="$1" slots=() slot
  check_slot "$target"
  boot_order
  for slot in "${slots[@]}"; do
    if [[ "$slot" == "$target" ]]; then
      if (($(attempts_left "$target") > 0)); then
        printf 'good\n'
      else
        printf 'bad\n'
      fi
      return 0
    fi
  done
  printf 'bad\n'
}

set_state() {
  local target="$1" state="$2" slots=() slot order=""
  check_slot "$target"
  case "$state" in
    good)
      vars["BOOT_${target}_LEFT"]="$ATTEMPTS"
      ;;
    bad)
      if [[ -v "vars[BOOT_ORDER]" ]]; then
        boot_order
        for slot in "${slots[@]}"; do
          [[ "$slot" == "$target" ]] || order+="${order:+ }$slot"
        done
        vars[BOOT_ORDER]="$order"
      fi
      vars["BOOT_${target}_LEFT"]=0
      ;;
    *) fail "unknown state '$state'" ;;
  esac
  save_vars
}

get_current() {
  [[ -s "$BOOTED" ]] || fail "no booted slot in $BOOTED"
  printf '%s\n' "$(<"$BOOTED")"
}

main() {
  (($# >= 1)) || fail "usage: $0 get-primary|set-primary SLOT|get-state SLOT|set-state SLOT good|bad|get-current"
  load_vars
  case "$1" in
    get-primary) get_primary ;;
    set-primary) (($# == 2)) || fail "usage: set-primary SLOT"; set_primary "$2" ;;
    get-state) (($# == 2)) || fail "usage: get-state SLOT"; get_state "$2" ;;
    set-state) (($# == 3)) || fail "usage: set-state SLOT good|bad"; set_state "$2" "$3" ;;
    get-current) get_current ;;
    *) fail "unknown command '$1'" ;;
  esac
}

main "$@"
