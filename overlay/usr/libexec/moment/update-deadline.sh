#!/bin/bash
# Backstop for a firmware update on trial. The recorder marks a freshly updated slot good once it
# records and serves the web app, and reboots it when it cannot (recorder/daemon/src/update/).
# A recorder that crashes in a loop does neither; then this reboots after DEADLINE_S, so U-Boot's
# boot counter runs out and falls back to the old slot. Does nothing unless the booted slot is
# the one on trial (the recorder keeps its name in TRIAL_FILE until it confirms it).
set -euo pipefail

readonly TRIAL_FILE=/data/state/update-trial-slot
readonly DEADLINE_S=600
readonly PAUSE_S=10

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
