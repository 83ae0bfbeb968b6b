#!/usr/bin/env bash
# The recorder for the camera's CPU: cross-compiles the workspace for aarch64 with Debian's Rust
# (rustup cannot fetch another target here) and runs, under qemu-user, the tests that need no
# hardware and no x86 helper programs: the ring's whole suite (the crash simulation and the fuzzing
# with fewer cases: qemu is ~10x slower) and the unit tests of the media and daemon crates.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly TARGET=aarch64-unknown-linux-gnu
# Debian's cargo and rustc, not rustup's (first on PATH), which has no aarch64 standard library.
readonly CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# -L /: the arm64 libc of Debian's multiarch; every test binary is bounded in time.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="timeout 600 qemu-aarch64-static -L /"
export MOMENT_CRASH_SEEDS="${MOMENT_CRASH_SEEDS:-300}"
export PROPTEST_CASES="${PROPTEST_CASES:-32}"

# The tests run in the release profile with a test build's assertions and overflow checks, so
# the dependencies are compiled once for the binary and the tests (two builds took ~9 minutes).
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

started=$SECONDS
cross=(--locked --target "$TARGET" --target-dir target/cross)
"$CARGO" build "${cross[@]}" --release -p moment-recorder --bin moment-recorder
aarch64-linux-gnu-readelf -h target/cross/"$TARGET"/release/moment-recorder | grep -E "Class|Machine"
"$CARGO" test "${cross[@]}" --release -p moment-ring --lib --tests
"$CARGO" test "${cross[@]}" --release -p moment-media --lib
"$CARGO" test "${cross[@]}" --release -p moment-recorder --lib
echo "cross-check: aarch64 build and tests passed in $((SECONDS - started)) s"
