#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine with rustup: Rust components, the
# test runner and Debian packages. Idempotent and quiet when everything is already there.
set -euo pipefail

readonly APT_PACKAGES=(util-linux python3 shellcheck ffmpeg rclone)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^${component}" || rustup component add "$component"
done

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-nextest"
  cargo install cargo-nextest --locked
fi
