#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine with rustup: Rust components, the
# test runner, Debian packages (Chromium for the browser tests; genimage, u-boot-tools and
# the filesystem tools for ci/check-image.sh and the USB export tests, which also need
# exfatprogs; rauc, dbus and openssl for the update tests' RAUC system,
# recorder/daemon/tests/rauc_support; QEMU, mmdebstrap and kmod for the whole-system boot test,
# tests/qemu-boot.sh; make, a C compiler, rsync and check-package's python3-magic and flake8 for
# the real Buildroot's checks, ci/check-buildroot.sh) and the web app's npm packages
# (hls.js, served by the recorder; playwright-core, which drives Chromium). Idempotent and quiet
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly APT_PACKAGES=(util-linux python3 shellcheck ffmpeg rclone chromium curl
  hostapd dnsmasq-base wpasupplicant iw udhcpc busybox iproute2
  genimage u-boot-tools systemd squashfs-tools dosfstools mtools fdisk e2fsprogs
  rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  qemu-user-static arch-test rauc dbus openssl exfatprogs qemu-system-x86 mmdebstrap kmod
  qemu-system-arm bison flex libssl-dev bc device-tree-compiler libgnutls28-dev make xxd cpio
  libubootenv-tool gcc g++ rsync file unzip python3-magic flake8)

# The aarch64 cross-check (ci/cross-check.sh) needs Debian's arm64 standard library for Rust.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-deps: dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]} > 0)); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# mmdebstrap runs the arm64 base's maintainer scripts (tests/emulated-board.sh) through
# qemu-user, which needs the kernel's binfmt_misc to know the interpreter. Machines without
# systemd-binfmt (this one) never register it; writing a registration twice fails.
readonly BINFMT=/proc/sys/fs/binfmt_misc
# Where that is not allowed (a container), say so and go on: mmdebstrap then fails with its own
# message, and everything that needs no arm64 base still runs.
if [[ ! -e "$BINFMT/register" ]]; then
  echo "install-deps: mount binfmt_misc"
  mount -t binfmt_misc binfmt_misc "$BINFMT" || echo "install-deps: cannot mount binfmt_misc" >&2
fi
if [[ -e "$BINFMT/register" && ! -e "$BINFMT/qemu-aarch64" ]]; then
  echo "install-deps: register qemu-aarch64 with binfmt_misc"
  cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register" ||
    echo "install-deps: cannot register qemu-aarch64 with binfmt_misc" >&2
fi

for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^${component}" || rustup component add "$component"
done

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-nextest"
  cargo install cargo-nextest --locked
fi

# npm ci again only when the lock file changed since the last install.
stamp="web/node_modules/.moment-installed-lock"
if ! cmp -s web/package-lock.json "$stamp" 2>/dev/null; then
  echo "install-deps: npm ci (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json "$stamp"
fi
