#!/bin/bash
# After /data is mounted, before the bind mounts: the persistent directories, and the files
# that are bind-mounted over the read-only root, seeded from the image the first time.
# MOMENT_ROOT (default /) lets a test run it against a tree.
set -euo pipefail

readonly ROOT="${MOMENT_ROOT:-}"
readonly DATA="$ROOT/data"

make_directories() {
  install -d -m 0755 "$DATA/memories" "$DATA/state" "$DATA/etc/moment-recorder" "$DATA/rauc"
  install -d -m 0700 "$DATA/rclone"
  install -d -m 0755 "$DATA/timesync"
}

seed_config() {
  local copy="$DATA/etc/moment-recorder/config.toml"
  [[ -s "$copy" ]] || install -m 0644 "$ROOT/etc/moment-recorder/config.toml" "$copy"
}

# systemd made a transient machine ID at boot (the root's /etc/machine-id is empty); the
# first one is kept, so later boots bind-mount the same ID over /etc/machine-id.
seed_machine_id() {
  local copy="$DATA/etc/machine-id"
  [[ -s "$copy" ]] && return 0
  if [[ -s "$ROOT/etc/machine-id" ]]; then
    install -m 0444 "$ROOT/etc/machine-id" "$copy"
  else
    systemd-id128 new >"$copy"
    chmod 0444 "$copy"
  fi
}

main() {
  make_directories
  seed_config
  seed_machine_id
}

main "$@"
