#!/bin/bash
# Marks the booted RAUC slot good once the recorder is healthy: it reached READY=1 (this unit
# is ordered after it), answers on its control socket, and the web app answers on port 80.
# Bounded: gives up after TRIES, and then the slot stays unconfirmed, so the U-Boot counter
# rolls back after the next reboots.
set -euo pipefail

readonly TRIES=60
readonly PAUSE_S=5

healthy() {
  moment-recorder status >/dev/null 2>&1 &&
    wget -q -T 5 -O /dev/null http://127.0.0.1/
}

main() {
  local try
  for ((try = 1; try <= TRIES; try++)); do
    if healthy; then
      rauc status mark-good
      return 0
    fi
    sleep "$PAUSE_S"
  done
  echo "mark-good: the recorder is not healthy after $((TRIES * PAUSE_S)) s; slot left unconfirmed" >&2
  return 1
}

main "$@"
