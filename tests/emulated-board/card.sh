#!/usr/bin/env bash
# The emulated board's SD card, made the way the image makes it (sourced by
# tests/emulated-board.sh): boot.scr and the redundant environment from board/zero2w/, the FAT
# and the partitions by genimage from board/zero2w/genimage.cfg, and in each slot a zstd
# squashfs with /boot/Image (Debian's arm64 kernel) and /boot/initrd (busybox, whose /init
# prints one marker line and powers off). Needs OUT, WORK, CACHE and die from the caller.

readonly MARKER=MOMENT-EMULATED-MARKER

fetch_parts() {
  local image
  image="$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
  [[ -n "$image" ]] || die "no linux-image-arm64 in apt's lists (dpkg --add-architecture arm64; apt-get update)"
  apt_fetch "$CACHE" "$image" "$WORK/kernel" || die "no kernel"
  apt_fetch "$CACHE" busybox-static:arm64 "$WORK/busybox" || die "no busybox"
  KERNEL_IMAGE="$WORK/Image"
  # Debian's arm64 vmlinuz is a gzip'd or a plain Image depending on the release: booti wants
  # it plain.
  if gzip -t "$WORK/kernel/boot/vmlinuz-"* 2>/dev/null; then
    gzip -dc "$WORK/kernel/boot/vmlinuz-"* >"$KERNEL_IMAGE"
  else
    cp "$WORK/kernel/boot/vmlinuz-"* "$KERNEL_IMAGE"
  fi
  image="${image%:*}"
  log "kernel ${image#linux-image-}, Image $(($(stat -c %s "$KERNEL_IMAGE") / 1048576)) MiB"
}

# booti moves the Image to 0x200000 (2 MiB aligned); the kernel with its BSS (the header's
# image_size) must end below fdt_addr_r, where the DTB goes (uboot-env.txt's layout).
check_kernel_fits() {
  python3 - "$KERNEL_IMAGE" "$(sed -n 's/^fdt_addr_r=//p' board/zero2w/uboot-env.txt)" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as image:
    size = struct.unpack_from("<Q", image.read(24), 16)[0]
end, fdt = 0x200000 + size, int(sys.argv[2], 16)
sys.exit(f"the kernel ends at {end:#x}, past fdt_addr_r {fdt:#x}" if end > fdt else 0)
PY
}

# The marker line tells the test which slot's initrd ran, the DTB's model and the command line.
make_initrd() { # SLOT
  local dir="$WORK/initrd-$1"
  rm -rf "${dir:?}"
  mkdir -p "$dir"/{bin,dev,proc,sys}
  # Without /dev/console in the initramfs the kernel gives /init no output.
  mknod -m 600 "$dir/dev/console" c 5 1
  install -m 0755 "$WORK/busybox/bin/busybox" "$dir/bin/busybox"
  echo "$1" >"$dir/slot-id"
  cat >"$dir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
model="$(/bin/busybox tr -d '\000' </proc/device-tree/model)"
echo "@MARKER@ slot=$(/bin/busybox cat /slot-id) model=$model cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
INIT
  sed -i "s/@MARKER@/$MARKER/" "$dir/init"
  chmod 0755 "$dir/init"
  (cd "$dir" && find . | cpio --quiet -o -H newc | gzip -1) >"$WORK/initrd-$1.cpio.gz"
}

make_slot() { # SLOT
  local root="$WORK/slot-$1"
  rm -rf "${root:?}"
  mkdir -p "$root/boot"
  cp "$KERNEL_IMAGE" "$root/boot/Image"
  make_initrd "$1"
  cp "$WORK/initrd-$1.cpio.gz" "$root/boot/initrd"
  mksquashfs "$root" "$WORK/in/rootfs-$1.squashfs" -comp zstd -Xcompression-level 3 -noappend -quiet >/dev/null
}

# boot.scr and uboot-env.bin exactly as ci/check-image.sh (check_uboot) makes them.
make_boot_files() { # BOOT_CMD
  mkimage -A arm64 -O linux -T script -C none -n moment-boot -d "$1" "$WORK/in/boot.scr" >/dev/null
  mkenvimage -r -s 0x4000 -o "$WORK/in/uboot-env.bin" board/zero2w/uboot-env.txt
  cp "$OUT/u-boot.bin" "$OUT/bcm2837-rpi-3-b.dtb" "$WORK/in/"
}

# The project's genimage.cfg (or CFG, made from it) with slot A's squashfs in both slots; slot
# B's, when there is one, is written over p3 after (genimage.cfg names one image for both).
# QEMU's SD card wants a power-of-two size.
make_card() { # OUTPUT [CFG SIZE]
  local cfg="${2:-}" size="${3:-16G}"
  if [[ -z "$cfg" ]]; then
    cfg="$WORK/genimage.cfg"
    sed 's|@BOOT_FILES@|"u-boot.bin", "boot.scr", "bcm2837-rpi-3-b.dtb"|' board/zero2w/genimage.cfg >"$cfg"
    cp "$WORK/in/rootfs-A.squashfs" "$WORK/in/rootfs.squashfs"
  fi
  rm -rf "${WORK:?}/genimage-tmp" "$WORK/genimage-out"
  mkdir -p "$WORK/genimage-root"
  genimage --loglevel 0 --config "$cfg" --rootpath "$WORK/genimage-root" \
    --tmppath "$WORK/genimage-tmp" --inputpath "$WORK/in" --outputpath "$WORK/genimage-out" ||
    die "genimage failed"
  if [[ -z "${2:-}" ]]; then
    dd if="$WORK/in/rootfs-B.squashfs" of="$WORK/genimage-out/sdcard.img" bs=1M seek=584 conv=notrunc,sparse status=none
  fi
  truncate -s "$size" "$WORK/genimage-out/sdcard.img"
  mv "$WORK/genimage-out/sdcard.img" "$1"
}

build_card() { # BOOT_CMD OUTPUT
  mkdir -p "$WORK/in"
  [[ -n "${KERNEL_IMAGE:-}" ]] || fetch_parts
  check_kernel_fits || die "uboot-env.txt's addresses do not fit this kernel"
  [[ -s "$WORK/in/rootfs-A.squashfs" ]] || make_slot A
  [[ -s "$WORK/in/rootfs-B.squashfs" ]] || make_slot B
  make_boot_files "$1"
  make_card "$2"
}
