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

main() {
  make_directories
  seed_config
}

main "$@"
