#!/usr/bin/env bash
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT), called with BINARIES_DIR as $1:
# the boot partition and sdcard.img (genimage, board/zero2w/genimage.cfg), sdcard.img.xz with
# its .bmap, and the signed RAUC update bundle (MOMENT_RAUC_CERT, MOMENT_RAUC_KEY).
set -euo pipefail

readonly BINARIES="${1:?usage: post-image.sh BINARIES_DIR}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly HOST_BIN="${HOST_DIR:?HOST_DIR is set by Buildroot}/bin"
readonly DTB="bcm2710-rpi-zero-2-w.dtb"

# The FAT partition: the firmware, its config.txt and cmdline.txt, the DTB and overlays,
# U-Boot and the compiled boot script. Printed as genimage's quoted, comma-separated list.
boot_files() {
  local files=() entry
  for entry in "$BINARIES"/rpi-firmware/*; do
    files+=("rpi-firmware/$(basename "$entry")")
  done
  files+=("$DTB" u-boot.bin boot.scr)
  for entry in "${files[@]}"; do
    [[ -e "$BINARIES/$entry" ]] || { echo "post-image: $entry is missing" >&2; exit 1; }
  done
  printf '"%s", ' "${files[@]}" | sed 's/, $//'
}

make_sdcard() {
  local cfg="$BINARIES/genimage.cfg" tmp
  sed "s|@BOOT_FILES@|$(boot_files)|" "$REPO/board/zero2w/genimage.cfg" >"$cfg"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/root"
  "$HOST_BIN/genimage" --rootpath "$tmp/root" --tmppath "$tmp/genimage" \
    --inputpath "$BINARIES" --outputpath "$BINARIES" --config "$cfg"
}

compress_sdcard() {
  "$HOST_BIN/bmaptool" create --output "$BINARIES/sdcard.img.bmap" "$BINARIES/sdcard.img"
  xz --threads=0 --force --keep "$BINARIES/sdcard.img"
}

make_bundle() {
  local version dir="$BINARIES/bundle"
  version="$(sed -n 's/^VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "${TARGET_DIR:?TARGET_DIR is set by Buildroot}/usr/lib/os-release")"
  rm -rf "$dir" "$BINARIES/moment-$version.raucb"
  mkdir -p "$dir"
  cp "$BINARIES/rootfs.squashfs" "$dir/rootfs.squashfs"
  "$REPO/post-build/rauc-manifest.sh" "$version" >"$dir/manifest.raucm"
  "$HOST_BIN/rauc" bundle \
    --cert="${MOMENT_RAUC_CERT:?MOMENT_RAUC_CERT: the signing certificate}" \
    --key="${MOMENT_RAUC_KEY:?MOMENT_RAUC_KEY: the signing key}" \
    "$dir" "$BINARIES/moment-$version.raucb"
}

main() {
  make_sdcard
  compress_sdcard
  make_bundle
}

main "$@"
