#!/usr/bin/env bash
# Benchmark of the live view's delay, glass to glass: `moment-recorder demo --burn-clock` (its
# test pattern carries the capture time in every frame), set up as the wizard does
# (ci/demo-session.sh), watched in headless Chromium, which reads the time back from the frames
# it shows (web/bench/latency.mjs). Prints the first live frame after Log in and the median and
# p95 delay over SECONDS_TO_MEASURE (default 60) (docs/performance.md, "Live view"), and the CPU
# the recorder's thumbnails cost meanwhile (the page shows them along the timeline): the ffmpeg
# decodes it ran and reaped, from its children's CPU time in /proc.
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
# shellcheck source=ci/demo-session.sh
source ci/demo-session.sh
start_demo "${CARGO_TARGET_DIR:-$PWD/target}/release/moment-recorder" --burn-clock
finish_setup
sleep 3

# children_cpu: CPU ticks of the demo's reaped children (cutime + cstime): the thumbnails' ffmpeg
# (the camera's ffmpeg runs until the end and is not counted).
children_cpu() { awk '{ print $16 + $17 }' "/proc/$demo_pid/stat"; }
before="$(children_cpu)"
started=$SECONDS
(cd web && node bench/latency.mjs --url "$DEMO_URL" --password "$DEMO_PASSWORD" --seconds "${SECONDS_TO_MEASURE:-60}")
ticks=$(($(children_cpu) - before))
awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v s="$((SECONDS - started))" \
  'BEGIN { printf "thumbnails while the page was open: %.2f s of CPU in %d s = %.2f %% of one core\n", t / hz, s, 100 * t / hz / s }'
