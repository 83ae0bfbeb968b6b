#!/usr/bin/env bash
# The test root tree and initramfs, shared by the boot tests that run the whole system
# (tests/qemu-boot.sh on x86_64, the full_update and full_rollback scenarios of
# tests/emulated-board.sh on arm64) so both assemble the root in Buildroot's order and load the
# same kind of initramfs. Sourced.

readonly DEBIAN_SUITE=bookworm
readonly DEBIAN_MIRROR=http://deb.debian.org/debian

# debian_base_tar CACHE ARCH PACKAGES: prints the path of a Debian minbase with PACKAGES for
# ARCH, made by mmdebstrap once and kept in CACHE under the name of what it holds. Fails (status
# 1, nothing printed) when mmdebstrap does: callers run it in $(...), where set -e does not reach.
debian_base_tar() {
  local cache="$1" arch="$2" packages="$3" tar
  tar="$cache/base-$DEBIAN_SUITE-$arch-$(printf '%s %s %s' "$DEBIAN_SUITE" "$packages" "$DEBIAN_MIRROR" | sha256sum | cut -c1-12).tar"
  if [[ ! -s "$tar" ]]; then
    mkdir -p "$cache"
    mmdebstrap --quiet --mode=root --format=tar --variant=minbase --architectures="$arch" \
      --include="$packages" --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' "$DEBIAN_SUITE" "$tar.partial" "$DEBIAN_MIRROR" >&2 ||
      return 1
    mv "$tar.partial" "$tar" || return 1
  fi
  echo "$tar"
}

# root_from_base ROOT BASE_TAR RECORDER: the Debian base unpacked, the recorder installed, and
# Buildroot's skeleton link for resolv.conf (Debian's base has a file there). The caller adds
# what else its packages would, then calls finish_root.
root_from_base() {
  local root="$1" base="$2" recorder="$3"
  mkdir -p "$root"
  tar -xf "$base" -C "$root"
  install -m 0755 "$recorder" "$root/usr/bin/moment-recorder"
  # Debug info is most of a test build's size (86 of the aarch64 build's 97 MiB); the host's
  # strip reads only its own architecture; a MOMENT_RECORDER_BIN may be a script.
  strip --strip-debug "$root/usr/bin/moment-recorder" 2>/dev/null ||
    aarch64-linux-gnu-strip --strip-debug "$root/usr/bin/moment-recorder" 2>/dev/null || true
  ln -sfn ../tmp/resolv.conf "$root/etc/resolv.conf"
}

# finish_root ROOT VERSION CERT: overlay/ copied over the tree, then post-build.sh on it, as
# Buildroot does after its packages.
finish_root() {
  local root="$1" version="$2" cert="$3"
  cp -a overlay/. "$root/"
  MOMENT_VERSION="$version" MOMENT_RAUC_CERT="$cert" post-build/post-build.sh "$root"
}

# module_initramfs OUTPUT KERNEL_ROOT KVER BUSYBOX MODULE...: a busybox initramfs with
# tests/qemu-boot/init as /init and the modules (with what they depend on, in load order)
# listed in /modules.order. KERNEL_ROOT holds lib/modules/KVER, depmod'ed.
module_initramfs() {
  local output="$1" kernel="$2" kver="$3" busybox="$4" dir="$1.d" module modules=()
  shift 4
  rm -rf "${dir:?}"
  mkdir -p "$dir"/{bin,dev,proc,sys,modules,newroot}
  install -m 0755 "$busybox" "$dir/bin/busybox"
  install -m 0755 tests/qemu-boot/init "$dir/init"
  for module in "$@"; do
    mapfile -t -O "${#modules[@]}" modules < <(modprobe -d "$kernel" -S "$kver" --show-depends "$module" |
      awk '$1 == "insmod" { print $2 }')
  done
  for module in "${modules[@]}"; do
    [[ -e "$dir/modules/$(basename "$module")" ]] && continue
    cp "$module" "$dir/modules/"
    basename "$module" >>"$dir/modules.order"
  done
  # The host's cpio: busybox may be another architecture's.
  (cd "$dir" && find . | cpio --quiet -o -H newc | gzip -1) >"$output"
}

# small_card_cfg RING_SIZE DATA_OFFSET DATA_SIZE BOOT_FILES: board/zero2w/genimage.cfg with the
# ring and data partitions resized (a test card of 2 GiB instead of 16 GiB or more; data-init.sh
# grows p6 to its end) and @BOOT_FILES@ filled in; nothing else changes.
small_card_cfg() {
  awk -v ring="$1" -v offset="$2" -v size="$3" -v files="$4" '
    /^\tpartition / { part = $2 }
    /^\t}/ { part = "" }
    part == "ring" && $1 == "size" { sub(/= .*/, "= " ring) }
    part == "data" && $1 == "offset" { sub(/= .*/, "= " offset) }
    part == "data" && $1 == "size" { sub(/= .*/, "= " size) }
    { sub(/@BOOT_FILES@/, files) }
    { print }' board/zero2w/genimage.cfg
}

# card_partition IMAGE N: partition N of a card image file as "START_SECTOR SECTORS".
card_partition() {
  sfdisk --dump "$1" | awk -v n="$1$2" '$1 == n { gsub(/[^0-9]/, "", $4); gsub(/[^0-9]/, "", $6); print $4, $6 }'
}

# squash_root ROOT OUTPUT: the root as the image makes its slots: zstd squashfs (DESIGN.md 9).
squash_root() {
  mksquashfs "$1" "$2" -comp zstd -Xcompression-level 3 -noappend -quiet >/dev/null
}

# signed_bundle SQUASHFS VERSION KEYS OUTPUT LOG: a RAUC bundle of one root image with the
# release's manifest (post-build/rauc-manifest.sh), signed with KEYS/dev.cert.pem and
# dev.key.pem (ci/rauc-dev-keys.sh) as post-image.sh signs the release's; rauc's output goes to
# LOG, and to stderr when it fails.
signed_bundle() {
  local squashfs="$1" version="$2" keys="$3" output="$4" log="$5" dir="$4.d"
  rm -rf "${dir:?}" "$output"
  mkdir -p "$dir"
  cp "$squashfs" "$dir/rootfs.squashfs"
  post-build/rauc-manifest.sh "$version" >"$dir/manifest.raucm"
  if ! rauc bundle --cert="$keys/dev.cert.pem" --key="$keys/dev.key.pem" "$dir" "$output" >"$log" 2>&1; then
    cat "$log" >&2
    return 1
  fi
  rm -rf "${dir:?}"
}
