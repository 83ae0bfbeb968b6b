#!/usr/bin/env bash
# The README's "run it" command: installs what is missing, builds the recorder and runs
# `moment-recorder demo` (file-backed ring, test camera, simulated buttons) under demo/ until
# Ctrl-C. DEMO_DURATION (e.g. 30s) stops it by itself, for a quick look or a check in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
bin="${CARGO_TARGET_DIR:-target}/release/moment-recorder"

if [[ -n "${DEMO_DURATION:-}" ]]; then
  timeout --signal=INT "${DEMO_DURATION}" "$bin" demo --dir demo || [[ $? -eq 124 ]]
else
  "$bin" demo --dir demo
fi
