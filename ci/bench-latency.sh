#!/usr/bin/env bash
# Benchmark of the live view's delay, glass to glass: `moment-recorder demo --burn-clock` (its
# test pattern carries the capture time in every frame), set up as the wizard does
# (ci/demo-session.sh), watched in headless Chromium, which reads the time back from the frames
# it shows (web/bench/latency.mjs). Prints the first live frame after Log in and the median and
# p95 delay over SECONDS_TO_MEASURE (default 60) (docs/performance.md, "Live view").
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
# shellcheck source=ci/demo-session.sh
source ci/demo-session.sh
start_demo "${CARGO_TARGET_DIR:-$PWD/target}/release/moment-recorder" --burn-clock
finish_setup
sleep 3

(cd web && node bench/latency.mjs --url "$DEMO_URL" --password "$DEMO_PASSWORD" --seconds "${SECONDS_TO_MEASURE:-60}")
