#!/bin/bash
# Backstop for a firmware update on trial. The recorder marks a freshly updated slot good once it
# records and serves the web app, and reboots it when it cannot (recorder/daemon/src/update/).
# A recorder that crashes in a loop does neither; then this reboots after DEADLINE_S, so U-Boot's
# boot counter runs out and falls back to the old slot. Does nothing unless the booted slot is
# the one on trial (the recorder keeps its name in TRIAL_FILE until it confirms it).
# MOMENT_UPDATE_DEADLINE_S (the unit's Environment=, 600 as shipped) lets a test that boots a bad
# update several times wait seconds, not 30 minutes.
set -euo pipefail

readonly TRIAL_FILE=/data/state/update-trial-slot
readonly SHIPPED_DEADLINE_S=600
DEADLINE_S="${MOMENT_UPDATE_DEADLINE_S:-$SHIPPED_DEADLINE_S}"
readonly MIN_DEADLINE_S=10
readonly MAX_DEADLINE_S=86400
readonly PAUSE_S=5

booted_slot() {
  local arg args
  read -r -a args </proc/cmdline
  for arg in "${args[@]}"; do
    case "$arg" in rauc.slot=*) echo "${arg#rauc.slot=}" ;; esac
  done
}

on_trial() {
  [[ -r "$TRIAL_FILE" && "$(head -c 64 "$TRIAL_FILE")" == "$1" ]]
}

main() {
  local booted waited
  # A bad value must neither leave a bad update running for ever nor reboot a good one at once.
  if ! [[ "$DEADLINE_S" =~ ^[0-9]{1,6}$ ]] || ((DEADLINE_S < MIN_DEADLINE_S || DEADLINE_S > MAX_DEADLINE_S)); then
    echo "update-deadline: MOMENT_UPDATE_DEADLINE_S=$DEADLINE_S is not ${MIN_DEADLINE_S}-${MAX_DEADLINE_S} s; using ${SHIPPED_DEADLINE_S} s" >&2
    DEADLINE_S=$SHIPPED_DEADLINE_S
  fi
  booted="$(booted_slot)"
  for ((waited = 0; waited < DEADLINE_S; waited += PAUSE_S)); do
    on_trial "$booted" || return 0
    sleep "$PAUSE_S"
  done
  on_trial "$booted" || return 0
  echo "update-deadline: slot $booted is still unconfirmed after ${DEADLINE_S} s; rebooting" >&2
  systemctl reboot
}

main "$@"
