#!/usr/bin/env bash
# The whole test suite, as README.md gives it and .ci/run calls it: formatting, shell lint, the
# firmware tree's checks (ci/check-image.sh), the tree judged by the real Buildroot
# (ci/check-buildroot.sh), the boot chain on an emulated Pi (tests/emulated-board.sh: U-Boot,
# boot.scr, the A/B environment, the kernel from a squashfs slot), the Rust 1.82 dependency
# check, clippy, doc tests, the aarch64 build with its hardware-free tests under qemu-user
# (ci/cross-check.sh), the whole firmware booted in QEMU (tests/qemu-boot.sh, which also makes
# nextest's build), then every test under nextest (its summary last).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that need a tool (ffmpeg, losetup) fail instead of skipping when it is missing.
export CI="${CI:-1}"

ci/install-deps.sh
cargo fmt --all --check
shellcheck ci/*.sh .ci/run tests/*.sh tests/qemu-boot/*.sh tests/qemu-boot/init tests/emulated-board/*.sh
ci/check-image.sh
ci/check-buildroot.sh
tests/emulated-board.sh
ci/check-msrv.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --doc --locked --quiet
ci/cross-check.sh
tests/qemu-boot.sh
cargo nextest run --workspace --locked --no-fail-fast
