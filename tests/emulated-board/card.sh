#!/usr/bin/env bash
# The emulated board's SD card, made the way the image makes it (sourced by
# tests/emulated-board.sh): boot.scr and the redundant environment from board/zero2w/, the FAT
# and the partitions by genimage from board/zero2w/genimage.cfg, and in each slot a zstd
# squashfs with /boot/Image (Debian's arm64 kernel) and /boot/initrd (busybox, whose /init
# prints one marker line and powers off); slot A also with the slot's DTB as post-build.sh
# installs it (/boot/board.dtb, /boot/overlays/, /boot/overlays.env), slot B without, as a slot
# older than that. The DTBs carry markers the initramfs reports. Needs OUT, WORK, CACHE and die
# from the caller.

readonly MARKER=MOMENT-EMULATED-MARKER
# The sensor the camera scenario's firmware DTB names in /__symbols__/cam_node, as
# camera_auto_detect leaves it.
readonly TEST_SENSOR=testcam
# The DTB a slot may carry must end, with booti's padding, below the initrd (boot.cmd).
FDT_ROOM=$(($(sed -n 's/^ramdisk_addr_r=//p' board/zero2w/uboot-env.txt) - $(sed -n 's/^fdt_addr_r=//p' board/zero2w/uboot-env.txt) - 0x3000))
readonly FDT_ROOM

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

# The marker line tells the test which slot's initrd ran, the DTB's model, which DTB the kernel
# got (/moment-test/dtb: "firmware" or "slot-X") and which test overlays were applied to it (each
# adds /moment-test/overlay-NAME), and the command line.
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
dtb="$(/bin/busybox tr -d '\000' 2>/dev/null </proc/device-tree/moment-test/dtb)" || dtb=none
overlays="$(cd /proc/device-tree/moment-test 2>/dev/null && /bin/busybox ls -d overlay-* 2>/dev/null |
  /bin/busybox sed 's/^overlay-//' | /bin/busybox tr '\n' ',' | /bin/busybox sed 's/,$//')"
echo "@MARKER@ slot=$(/bin/busybox cat /slot-id) model=$model dtb=$dtb overlays=${overlays:--} cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
INIT
  sed -i "s/@MARKER@/$MARKER/" "$dir/init"
  chmod 0755 "$dir/init"
  (cd "$dir" && find . | cpio --quiet -o -H newc | gzip -1) >"$WORK/initrd-$1.cpio.gz"
}

# A DTB marked with /moment-test/dtb = NAME, from U-Boot's DTB of the Pi 3 B.
marked_dtb() { # NAME OUTPUT
  cp "$OUT/bcm2837-rpi-3-b.dtb" "$2"
  fdtput -c "$2" /moment-test
  fdtput -t s "$2" /moment-test dtb "$1"
}

# A test overlay that adds /moment-test/overlay-NAME; with a second fragment, whose target does
# not exist, fdt apply fails after merging the first (libfdt then leaves the base DTB damaged).
test_overlay() { # NAME OUTPUT [broken]
  {
    printf '/dts-v1/;\n/plugin/;\n/ {\n'
    printf '\tfragment@0 { target-path = "/moment-test"; __overlay__ { overlay-%s = "applied"; }; };\n' "$1"
    [[ "${3:-}" != broken ]] || printf '\tfragment@1 { target-path = "/no-such-node"; __overlay__ { x = "y"; }; };\n'
    printf '};\n'
  } | dtc -@ -q -I dts -O dtb -o "$2" -
}

# What the firmware would hand U-Boot: firmware.dtb, and firmware-camera.dtb with the symbol
# camera_auto_detect's overlay leaves (its sensor node is labelled cam_node).
make_firmware_dtbs() {
  marked_dtb firmware "$WORK/firmware.dtb"
  cp "$WORK/firmware.dtb" "$WORK/firmware-camera.dtb"
  fdtput -p -t s "$WORK/firmware-camera.dtb" /__symbols__ cam_node "/soc/i2c0mux/i2c@1/$TEST_SENSOR@1a"
}

# A slot's root: KIND "old" has no DTB of its own; "current" has /boot/board.dtb (marked
# slot-SLOT), the overlays moment-test and the camera's, and overlays.env naming moment-test;
# "faults" adds to overlays.env an overlay the slot lacks and one that fails to apply;
# "oversize" has a board.dtb too big for the room below the initrd.
make_slot() { # SLOT KIND OUTPUT
  local root="$WORK/slot-$1-$2" list=moment-test
  rm -rf "${root:?}"
  mkdir -p "$root/boot"
  cp "$KERNEL_IMAGE" "$root/boot/Image"
  [[ -s "$WORK/initrd-$1.cpio.gz" ]] || make_initrd "$1"
  cp "$WORK/initrd-$1.cpio.gz" "$root/boot/initrd"
  if [[ "$2" != old ]]; then
    mkdir -p "$root/boot/overlays"
    marked_dtb "slot-$1" "$root/boot/board.dtb"
    test_overlay moment-test "$root/boot/overlays/moment-test.dtbo"
    test_overlay "$TEST_SENSOR" "$root/boot/overlays/$TEST_SENSOR.dtbo"
  fi
  if [[ "$2" == faults ]]; then
    test_overlay moment-broken "$root/boot/overlays/moment-broken.dtbo" broken
    list="moment-test moment-missing moment-broken"
  fi
  if [[ "$2" == oversize ]]; then
    head -c "$FDT_ROOM" /dev/zero >"$WORK/padding.bin"
    { dtc -q -I dtb -O dts "$root/boot/board.dtb"
      printf '/ { moment-padding { data = /incbin/("%s"); }; };\n' "$(realpath "$WORK/padding.bin")"; } >"$WORK/oversize.dts"
    dtc -q -I dts -O dtb -o "$root/boot/board.dtb" "$WORK/oversize.dts" || die "dtc made no oversize DTB"
    (($(stat -c %s "$root/boot/board.dtb") > FDT_ROOM)) || die "the oversize DTB fits"
  fi
  [[ "$2" == old ]] || printf '# test slot %s\nslot_overlays=%s\n' "$1" "$list" >"$root/boot/overlays.env"
  mksquashfs "$root" "$3" -comp zstd -Xcompression-level 3 -noappend -quiet >/dev/null
}

# A slot's squashfs written over p2 (A) or p3 (B) of a card (genimage.cfg's offsets).
write_slot() { # CARD SLOT SQUASHFS
  local seek=72
  [[ "$2" == B ]] && seek=584
  dd if="$3" of="$1" bs=1M seek="$seek" conv=notrunc,sparse status=none
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
    write_slot "$WORK/genimage-out/sdcard.img" B "$WORK/in/rootfs-B.squashfs"
  fi
  truncate -s "$size" "$WORK/genimage-out/sdcard.img"
  mv "$WORK/genimage-out/sdcard.img" "$1"
}

build_card() { # BOOT_CMD OUTPUT
  mkdir -p "$WORK/in"
  [[ -n "${KERNEL_IMAGE:-}" ]] || fetch_parts
  check_kernel_fits || die "uboot-env.txt's addresses do not fit this kernel"
  [[ -s "$WORK/in/rootfs-A.squashfs" ]] || make_slot A current "$WORK/in/rootfs-A.squashfs"
  [[ -s "$WORK/in/rootfs-B.squashfs" ]] || make_slot B old "$WORK/in/rootfs-B.squashfs"
  make_firmware_dtbs
  make_boot_files "$1"
  make_card "$2"
}
