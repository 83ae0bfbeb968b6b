#!/usr/bin/env bash
# Sourced by the browser benchmarks (ci/bench-ui.sh, ci/bench-latency.sh): starts
# `moment-recorder demo` (test pattern, 127.0.0.1:8080) in a temporary directory, waits for its
# web app, and finishes its first-boot setup through the API as the wizard does (the demo starts
# in setup mode, like a new camera, and shows the wizard instead of live video). The caller sets
# `set -euo pipefail` and reads DEMO_URL, DEMO_PASSWORD and DEMO_WORK.

readonly DEMO_URL="http://127.0.0.1:8080"
readonly DEMO_PASSWORD="moment-demo"
DEMO_WORK="$(mktemp -d)"
demo_pid=""

demo_cleanup() {
  if [[ -n "$demo_pid" ]]; then
    kill -INT "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$DEMO_WORK"
}
trap demo_cleanup EXIT

demo_api() {
  curl -fsS --max-time 10 -b "$DEMO_WORK/cookies" -c "$DEMO_WORK/cookies" -H 'X-Moment: 1' \
    -H 'Content-Type: application/json' "$@"
}

# start_demo BIN [DEMO ARGS...]: the demo in the background, until its web app answers.
start_demo() {
  local bin="$1"
  shift
  "$bin" demo --dir "$DEMO_WORK/demo" --size 256M "$@" >"$DEMO_WORK/demo.log" 2>&1 &
  demo_pid=$!
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$DEMO_URL/" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "the demo's web app did not answer: $(tail -n 5 "$DEMO_WORK/demo.log")" >&2
  return 1
}

# finish_setup: the simulated home network, the same admin password, no uploads.
finish_setup() {
  demo_api -o /dev/null -X POST --data "{\"password\":\"$DEMO_PASSWORD\"}" "$DEMO_URL/api/login"
  demo_api -o /dev/null -X POST "$DEMO_URL/api/setup" --data \
    "{\"wifi\":{\"ssid\":\"HomeNet\",\"password\":\"moment-home\",\"hidden\":false},\"admin_password\":\"$DEMO_PASSWORD\",\"upload\":null}"
  # The wizard's answers are kept once the camera has joined the home network, so the new login
  # works only from then on.
  for _ in $(seq 1 60); do
    if demo_api -o /dev/null -X POST --data "{\"password\":\"$DEMO_PASSWORD\"}" "$DEMO_URL/api/login" 2>/dev/null &&
      demo_api "$DEMO_URL/api/status" 2>/dev/null | grep -q '"mode":"station"'; then
      return 0
    fi
    sleep 0.5
  done
  echo "the demo did not leave setup mode" >&2
  return 1
}
