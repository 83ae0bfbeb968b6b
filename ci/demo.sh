#!/usr/bin/env bash
# The README's "run it" command: builds the recorder, formats a file-backed ring under demo/ (once)
# and records the live test pattern (ffmpeg testsrc2 + tone) into it until Ctrl-C, then shows what
# the ring holds. DEMO_DURATION (e.g. 30s) stops it by itself. The web UI joins it when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly RING="demo/ring.img"
readonly RING_SIZE="${DEMO_RING_SIZE:-1G}"

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
bin="target/release/moment-recorder"

mkdir -p demo
if ! "$bin" ring inspect "$RING" >/dev/null 2>&1; then
  rm -f "$RING"
  "$bin" ring format "$RING" --size "$RING_SIZE"
fi
record=("$bin" record --device "$RING" --source test)
if [[ -n "${DEMO_DURATION:-}" ]]; then
  record+=(--duration "$DEMO_DURATION")
fi
"${record[@]}"
"$bin" ring inspect "$RING"
