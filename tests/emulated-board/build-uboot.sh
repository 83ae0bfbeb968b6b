#!/usr/bin/env bash
# Builds the U-Boot the image uses (DESIGN.md 9: the same source, rpi_arm64_defconfig plus
# board/zero2w/uboot.fragment, board/zero2w/uboot-env.txt as the compiled-in default environment)
# for the emulated board test, with the DTB of the Pi 3 B that QEMU's raspi3b stands for.
# Output: target/emulated-board/u-boot.bin and bcm2837-rpi-3-b.dtb; skipped when both are newer
# than every input. Fails when Kconfig dropped any line of the fragment.
# Environment: MOMENT_SHARED  the shared directory (default: the clone's sibling ../shared).
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly SHARED="${MOMENT_SHARED:-../shared}"
readonly TARBALL="$SHARED/upstream/u-boot_2023.01+dfsg.orig.tar.xz"
readonly TARBALL_SHA256=e75da6f089d063aaef39a1c17f1631791d87700662624e18de2121fa39a1ed44
readonly OUT=target/emulated-board
readonly SRC="$OUT/u-boot-2023.01"
# Where CONFIG_DEFAULT_ENV_FILE (board/zero2w/uboot.fragment) points, inside the U-Boot tree.
readonly ENV_IN_TREE=board/raspberrypi/rpi/moment-env.txt
readonly FRAGMENT=board/zero2w/uboot.fragment
readonly ENV_FILE=board/zero2w/uboot-env.txt
readonly DTB=bcm2837-rpi-3-b.dtb

log() { printf 'build-uboot: %s\n' "$*"; }
die() { printf 'build-uboot: FAIL %s\n' "$*" >&2; exit 1; }

up_to_date() {
  local output input
  for output in "$OUT/u-boot.bin" "$OUT/bcm2837-rpi-3-b.dtb"; do
    [[ -e "$output" ]] || return 1
    for input in "$TARBALL" "$FRAGMENT" "$ENV_FILE" "$0"; do
      [[ "$output" -nt "$input" ]] || return 1
    done
  done
}

unpack() {
  [[ -f "$TARBALL" ]] || die "no U-Boot source at $TARBALL (set MOMENT_SHARED)"
  echo "$TARBALL_SHA256  $TARBALL" | sha256sum --check --quiet || die "$TARBALL: sha256 mismatch"
  rm -rf "${SRC:?}"
  mkdir -p "$OUT"
  tar -xf "$TARBALL" -C "$OUT"
  [[ -f "$SRC/Makefile" ]] || die "the tarball did not unpack to $SRC"
}

configure() {
  cp "$ENV_FILE" "$SRC/$ENV_IN_TREE"
  make -C "$SRC" -s CROSS_COMPILE=aarch64-linux-gnu- rpi_arm64_defconfig
  cat "$FRAGMENT" >>"$SRC/.config"
  # Kconfig warns for every symbol the fragment reassigns: expected, kept out of the log.
  make -C "$SRC" -s CROSS_COMPILE=aarch64-linux-gnu- olddefconfig 2>"$OUT/olddefconfig.log" ||
    { cat "$OUT/olddefconfig.log" >&2; die "olddefconfig failed"; }
}

# Every setting of the fragment ("CONFIG_X=..." and "# CONFIG_X is not set") is in .config as
# written: Kconfig silently drops a symbol whose dependencies are not met.
check_fragment() {
  local line missing=0
  while IFS= read -r line; do
    [[ "$line" =~ ^CONFIG_|^#\ CONFIG_.*\ is\ not\ set$ ]] || continue
    grep -qxF -- "$line" "$SRC/.config" || { log "not in .config: $line" >&2; missing=1; }
  done <"$FRAGMENT"
  ((missing == 0)) || die "Kconfig dropped lines of $FRAGMENT"
}

build() {
  # U-Boot's dtbs: every DTB of the BCM283x family, bcm2837-rpi-3-b.dtb among them.
  make -C "$SRC" -s CROSS_COMPILE=aarch64-linux-gnu- -j2 u-boot.bin dtbs
  cp "$SRC/u-boot.bin" "$OUT/u-boot.bin"
  cp "$SRC/arch/arm/dts/$DTB" "$OUT/$DTB"
}

main() {
  local started=$SECONDS
  if up_to_date; then
    log "up to date: $OUT/u-boot.bin"
    return 0
  fi
  unpack
  configure
  check_fragment
  build
  log "built $OUT/u-boot.bin and bcm2837-rpi-3-b.dtb in $((SECONDS - started)) s"
}

main "$@"
