#!/usr/bin/env bash
# Buildroot 2025.02 LTS builds the recorder with Rust 1.82. Fails when the workspace or any package
# in Cargo.lock declares a newer rust-version, so an upgrade that would break the firmware build is
# caught here rather than in the image build.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly MSRV="1.82"
cargo metadata --locked --format-version 1 | python3 ci/check_msrv.py "$MSRV"
