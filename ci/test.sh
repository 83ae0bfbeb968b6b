#!/usr/bin/env bash
# The whole test suite, as README.md gives it and .ci/run calls it: formatting, shell lint, the
# firmware tree's checks (ci/check-image.sh), the tree judged by the real Buildroot
# (ci/check-buildroot.sh), the Rust 1.82 dependency check, clippy, doc tests, the aarch64 build
# with its hardware-free tests under qemu-user (ci/cross-check.sh), the boot chain on an
# emulated Pi with that aarch64 recorder (tests/emulated-board.sh: U-Boot, boot.scr, the A/B
# environment, the kernel from a squashfs slot, the whole system through an update and a
# roll-back), the whole firmware booted in QEMU on x86 (tests/qemu-boot.sh, which also makes
# nextest's build), the first-boot Wi-Fi journey on software radios in the same kind of guest
# (tests/radio.sh), then every test under nextest (its summary last).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that need a tool (ffmpeg, losetup) fail instead of skipping when it is missing.
export CI="${CI:-1}"

ci/install-deps.sh
# The emulated board's arm64 Debian base (mmdebstrap: downloads, and maintainer scripts under
# qemu-user) is made while the checks below run; the board test waits for it.
mkdir -p target
tests/emulated-board.sh --base >target/emulated-board-base.log 2>&1 &
readonly BASE_PID=$!
cargo fmt --all --check
shellcheck ci/*.sh .ci/run tests/*.sh tests/qemu-boot/*.sh tests/qemu-boot/init tests/emulated-board/*.sh tests/radio/*.sh
ci/check-image.sh
ci/check-buildroot.sh
ci/check-msrv.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --doc --locked --quiet
ci/cross-check.sh
wait "$BASE_PID" || { cat target/emulated-board-base.log; exit 1; }
tests/emulated-board.sh
tests/qemu-boot.sh
tests/radio.sh
cargo nextest run --workspace --locked --no-fail-fast
