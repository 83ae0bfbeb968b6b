#!/usr/bin/env bash
# The README's "run it" command. Today it builds the recorder, formats a file-backed ring under
# demo/ and shows it with `ring inspect` and `ring fsck`; it grows into the full demo (test camera,
# web UI on 127.0.0.1) as those parts land.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly RING="demo/ring.img"
readonly RING_SIZE="256M"

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
bin="target/release/moment-recorder"

mkdir -p demo
if ! "$bin" ring inspect "$RING" >/dev/null 2>&1; then
  rm -f "$RING"
  "$bin" ring format "$RING" --size "$RING_SIZE"
fi
"$bin" ring inspect "$RING"
"$bin" ring fsck "$RING"
