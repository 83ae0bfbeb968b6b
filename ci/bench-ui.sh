#!/usr/bin/env bash
# Benchmark of the web app: from opening the page to the first frame of live video, in headless
# Chromium against `moment-recorder demo` (test pattern, 127.0.0.1:8080), once its first-boot
# setup is done through the API (the demo starts in setup mode, like a new camera, and shows the
# wizard instead of live video). Prints figures (docs/performance.md, "Web app"). RUNS=N sets
# the number of page loads (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

ci/install-deps.sh
cargo build --release --locked -p moment-recorder
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/moment-recorder"
readonly URL="http://127.0.0.1:8080"
readonly PASSWORD="moment-demo"

work="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [[ -n "$demo_pid" ]]; then kill -INT "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" demo --dir "$work/demo" --size 256M >"$work/demo.log" 2>&1 &
demo_pid=$!

api() {
  curl -fsS --max-time 10 -b "$work/cookies" -c "$work/cookies" -H 'X-Moment: 1' \
    -H 'Content-Type: application/json' "$@"
}

# Setup as the wizard does it: the simulated home network, the same admin password, no uploads.
finish_setup() {
  api -o /dev/null -X POST --data "{\"password\":\"$PASSWORD\"}" "$URL/api/login"
  api -o /dev/null -X POST "$URL/api/setup" --data \
    "{\"wifi\":{\"ssid\":\"HomeNet\",\"password\":\"moment-home\",\"hidden\":false},\"admin_password\":\"$PASSWORD\",\"upload\":null}"
  api -o /dev/null -X POST --data "{\"password\":\"$PASSWORD\"}" "$URL/api/login"
  for _ in $(seq 1 60); do
    if api "$URL/api/status" | grep -q '"mode":"station"'; then return 0; fi
    sleep 0.5
  done
  echo "bench-ui: the demo did not leave setup mode" >&2
  return 1
}

for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "$URL/" 2>/dev/null; then break; fi
  sleep 0.5
done
finish_setup
# The live playlist needs a few segments: let the recorder record for a while.
sleep 12

(cd web && node bench/first-frame.mjs --url "$URL" --password "$PASSWORD" --runs "${RUNS:-10}")
