#!/bin/bash
# The boot test's only way into the guest (test image only, never part of the firmware): a root
# shell loop on the second serial port, which QEMU connects to a socket that tests/qemu-boot/
# guest.py talks to. Each line is "NONCE COMMAND"; the answer is the command's output between
# two markers carrying the nonce, the last with its exit status. The port is the first argument
# (the PC guest's second serial port by default; the emulated Pi's PL011, whose mini UART is the
# console).
set -uo pipefail

readonly PORT="${1:-/dev/ttyS1}"

stty -F "$PORT" raw -echo
# One serial line both ways: commands in, their output back.
# shellcheck disable=SC2094
exec <"$PORT" >"$PORT" 2>&1
while IFS=' ' read -r nonce command; do
  [[ -n "$nonce" ]] || continue
  printf '__PROBE_BEGIN_%s__\n' "$nonce"
  bash -c "$command" </dev/null
  printf '__END_%s__ %s\n' "$nonce" "$?"
done
