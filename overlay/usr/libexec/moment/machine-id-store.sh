#!/bin/bash
# The machine ID must be the same at every boot, but the root is read-only and /etc/machine-id
# empty, so systemd makes a transient one before any unit runs. boot.cmd passes
# systemd.machine_id=${machine_id} to the kernel once the U-Boot environment holds one; this
# stores the first boot's transient ID there, so every later boot gets the same ID from PID 1 on.
# fw_setenv (uboot-tools' in the image, the one RAUC uses; /etc/fw_env.config) takes the
# environment's lock file, as RAUC's calls do, and changes only the variable it is given.
#   MOMENT_MACHINE_ID_FILE  the ID to store (default /etc/machine-id), for tests
set -euo pipefail

readonly ID_FILE="${MOMENT_MACHINE_ID_FILE:-/etc/machine-id}"
readonly VARIABLE=machine_id

log() { printf 'machine-id-store: %s\n' "$*"; }

valid_id() { [[ "$1" =~ ^[0-9a-f]{32}$ ]]; }

main() {
  local id stored
  id="$(head -c 64 "$ID_FILE" | tr -d '\n')"
  valid_id "$id" || { log "$ID_FILE holds no valid machine ID ('$id'); nothing stored"; exit 1; }
  # An environment that cannot be read is never written: fw_setenv would replace it with the
  # tool's built-in default, which lacks bootcmd and the boot counters. uboot-tools only warns
  # about a bad CRC ("using default environment") and exits 0, so its words count too.
  local problem
  if ! problem="$(fw_printenv 2>&1 >/dev/null)" || grep -qiE 'bad crc|default environment' <<<"$problem"; then
    log "cannot read the U-Boot environment ($problem); nothing stored"
    exit 1
  fi
  # Unset, fw_printenv -n prints nothing (some versions fail as well).
  stored="$(fw_printenv -n "$VARIABLE" 2>/dev/null || true)"
  if [[ -n "$stored" ]]; then
    # A stored ID is never overwritten; an invalid one is left for a person to look at (boot.cmd
    # passes none then, so every boot gets a new transient ID).
    valid_id "$stored" || { log "the environment holds an invalid $VARIABLE='$stored'; left as it is"; exit 1; }
    log "the environment already holds $VARIABLE=$stored (this boot: $id)"
    exit 0
  fi
  fw_setenv "$VARIABLE" "$id"
  stored="$(fw_printenv -n "$VARIABLE")"
  [[ "$stored" == "$id" ]] || { log "fw_setenv wrote $VARIABLE but reads back '$stored'"; exit 1; }
  log "stored $VARIABLE=$id in the U-Boot environment"
}

main "$@"
