#!/usr/bin/env bash
# Benchmark of the web app: from opening the page to the first frame of live video, in headless
# Chromium against `moment-recorder demo` once its setup is done (ci/demo-session.sh). Prints
# figures (docs/performance.md, "Web app"). RUNS=N sets the number of page loads (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
# shellcheck source=ci/demo-session.sh
source ci/demo-session.sh
start_demo "${CARGO_TARGET_DIR:-$PWD/target}/release/moment-recorder"
finish_setup
# The live playlist needs a few segments: let the recorder record for a while.
sleep 12

(cd web && node bench/first-frame.mjs --url "$DEMO_URL" --password "$DEMO_PASSWORD" --runs "${RUNS:-10}")
