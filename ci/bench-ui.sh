#!/usr/bin/env bash
# Benchmark of the web app: from opening the page to the first frame of live video, in headless
# Chromium against `moment-recorder demo` (test pattern, 127.0.0.1:8080). Prints figures
# (docs/performance.md, "Web app"). RUNS=N sets the number of page loads (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
bin="$PWD/target/release/moment-recorder"

work="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [[ -n "$demo_pid" ]]; then kill -INT "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" demo --dir "$work/demo" --size 256M >"$work/demo.log" 2>&1 &
demo_pid=$!

# The live playlist needs a few segments: wait until the recorder has recorded for a while.
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null http://127.0.0.1:8080/ 2>/dev/null; then break; fi
  sleep 0.5
done
sleep 12

(cd web && node bench/first-frame.mjs --url http://127.0.0.1:8080 --password moment-demo --runs "${RUNS:-10}")
