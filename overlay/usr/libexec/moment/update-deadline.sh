#!/bin/bash
# Backstop for a firmware update on trial. The recorder marks a freshly updated slot good once it
# records and serves the web app, and reboots it when it cannot (recorder/daemon/src/update/).
# A recorder that crashes in a loop does neither; then this reboots, so U-Boot's boot counter
# runs out and falls back to the old slot: at once when systemd has restarted the recorder
# MAX_RESTARTS times (a crash loop, seen within seconds), and in any case after DEADLINE_S (a
# recorder that hangs). Does nothing unless the booted slot is the one on trial (the recorder
# keeps its name in TRIAL_FILE until it confirms it).
# MOMENT_UPDATE_DEADLINE_S and MOMENT_UPDATE_MAX_RESTARTS (the unit's Environment=, 600 and 5 as
# shipped) let a test set its own bounds.
set -euo pipefail

readonly TRIAL_FILE=/data/state/update-trial-slot
readonly RECORDER_UNIT=moment-recorder.service
readonly PAUSE_S=5

# setting NAME VALUE DEFAULT MIN MAX: VALUE when it is a number within bounds, else DEFAULT with a
# warning. A bad value must neither leave a bad update running for ever nor reboot a good one.
setting() {
  if [[ "$2" =~ ^[0-9]{1,6}$ ]] && ((10#$2 >= $4 && 10#$2 <= $5)); then
    echo "$((10#$2))"
  else
    echo "update-deadline: $1=$2 is not $4-$5; using $3" >&2
    echo "$3"
  fi
}

DEADLINE_S="$(setting MOMENT_UPDATE_DEADLINE_S "${MOMENT_UPDATE_DEADLINE_S:-600}" 600 10 86400)"
MAX_RESTARTS="$(setting MOMENT_UPDATE_MAX_RESTARTS "${MOMENT_UPDATE_MAX_RESTARTS:-5}" 5 1 1000)"
readonly DEADLINE_S MAX_RESTARTS

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

# How often systemd has restarted the recorder in this boot (0 when it cannot say).
recorder_restarts() {
  local count
  count="$(systemctl show -p NRestarts --value "$RECORDER_UNIT" 2>/dev/null || true)"
  [[ "$count" =~ ^[0-9]+$ ]] && echo "$count" || echo 0
}

reboot_trial() { # SLOT WHY
  echo "update-deadline: slot $1 is still unconfirmed: $2; rebooting" >&2
  systemctl reboot
}

main() {
  local booted waited restarts
  booted="$(booted_slot)"
  for ((waited = 0; waited < DEADLINE_S; waited += PAUSE_S)); do
    on_trial "$booted" || return 0
    restarts="$(recorder_restarts)"
    if ((restarts >= MAX_RESTARTS)); then
      reboot_trial "$booted" "the recorder was restarted $restarts times in ${waited} s"
      return 0
    fi
    sleep "$PAUSE_S"
  done
  on_trial "$booted" || return 0
  reboot_trial "$booted" "no confirmation after ${DEADLINE_S} s"
}

main "$@"
