#!/usr/bin/env bash
# The firmware tree's checks that run without a Buildroot download (issue 7; ci/test.sh runs
# them before the Rust tests, in well under a minute):
#   shell    shellcheck on every script of the tree
#   units    systemd-analyze verify on every unit and drop-in of overlay/
#   kconfig  BR2_ symbols, legacy symbols, upstream and external packages (ci/image_checks.py)
#   uboot    the boot script compiles (mkimage), the redundant environment builds (mkenvimage)
#   layout   genimage builds the real card from board/zero2w/genimage.cfg with stand-in
#            payloads; sfdisk reads it back and ci/image_checks.py asserts every partition
#   rootfs   post-build.sh (and data-seed.sh) on a busybox root tree, and what they leave there
#   data-init  the first-boot grow and format of /data on the genimage card as a loop device
#            (needs root and loop devices, as the ring's tests do)
# Needs: shellcheck, systemd, genimage, u-boot-tools, squashfs-tools, dosfstools, mtools, fdisk,
# busybox, python3, e2fsprogs (ci/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BR_LISTS="${MOMENT_BR_LISTS:-ci/buildroot-2025.02.16}"
readonly UNIT_DIR="usr/lib/systemd/system"
SCRATCH="$(mktemp -d)"
readonly SCRATCH
LOOPS=()
trap release_loops EXIT

step() { printf 'check-image: %s\n' "$*"; }
fail() { printf 'check-image: FAIL %s\n' "$*" >&2; exit 1; }

check_shell() {
  local scripts=()
  mapfile -t scripts < <(find ci post-build overlay board buildroot-external -name '*.sh' | sort)
  shellcheck "${scripts[@]}"
  step "shell: ${#scripts[@]} scripts clean"
}

# Exec*= programs of the given unit files, without systemd's prefixes (-@:+!).
unit_programs() {
  sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$@" | sort -u
}

# systemd-analyze verify checks that every Exec program exists and is executable, and loads
# every unit named in a dependency. This machine has neither the recorder nor RAUC nor avahi,
# and its root is not the image's, so the units are verified in a scratch root: this machine's
# own units (the targets and the upstream units they name), the overlay on top, a stub base
# unit for each upstream unit the overlay changes with a drop-in but this machine lacks, and a
# stub executable for each program the units run that the scratch root lacks.
check_units() {
  local root="$SCRATCH/units" units=() dropin base program output
  mkdir -p "$root/usr/lib/systemd" "$root/etc"
  cp -a "/$UNIT_DIR" "$root/usr/lib/systemd/"
  cp -a overlay/. "$root/"
  for dropin in overlay/etc/systemd/system/*.d; do
    base="$(basename "$dropin" .d)"
    [[ -e "$root/$UNIT_DIR/$base" ]] || printf '[Unit]\nDescription=stub of upstream %s\n\n[Service]\nExecStart=/usr/bin/%s\n' \
      "$base" "${base%.service}" >"$root/$UNIT_DIR/$base"
    units+=("$root/$UNIT_DIR/$base")
  done
  for program in $(unit_programs "overlay/$UNIT_DIR"/* "${units[@]}" overlay/etc/systemd/system/*.d/*.conf); do
    [[ -x "$root$program" ]] && continue
    mkdir -p "$root$(dirname "$program")"
    printf '#!/bin/sh\nexit 0\n' >"$root$program"
    chmod 755 "$root$program"
  done
  # Our units, and the upstream ones the overlay's drop-ins change (verified with them).
  for unit in "overlay/$UNIT_DIR"/*; do
    units+=("$root/$UNIT_DIR/$(basename "$unit")")
  done
  output="$(systemd-analyze verify --root="$root" --man=no "${units[@]}" 2>&1)" ||
    fail "units: systemd-analyze verify failed: $output"
  [[ -z "$output" ]] || fail "units: systemd-analyze verify warned: $output"
  step "units: ${#units[@]} units verified (with drop-ins)"
}

check_kconfig() {
  [[ -d "$BR_LISTS" ]] || fail "kconfig: Buildroot's symbol lists are not at $BR_LISTS (MOMENT_BR_LISTS)"
  python3 ci/image_checks.py kconfig "$BR_LISTS"
}

check_uboot() {
  local out="$SCRATCH/uboot"
  mkdir -p "$out"
  mkimage -A arm64 -O linux -T script -C none -n moment-boot -d board/zero2w/boot.cmd "$out/boot.scr" >/dev/null
  mkenvimage -r -s 0x4000 -o "$out/uboot-env.bin" board/zero2w/uboot-env.txt
  [[ "$(stat -c %s "$out/uboot-env.bin")" == 16384 ]] || fail "uboot: the environment image is not 16 KiB"
  grep -q 'BOOT_ORDER=A B' <(tr '\0' '\n' <"$out/uboot-env.bin") || fail "uboot: BOOT_ORDER missing from the environment"
  step "uboot: boot.scr compiled, redundant environment built"
}

# Stand-in payloads: a boot file set like post-image.sh's, a squashfs root, the environment.
check_layout() {
  local dir="$SCRATCH/layout"
  mkdir -p "$dir/in/rpi-firmware/overlays" "$dir/root" "$dir/rootfs"
  for file in bootcode.bin start.elf fixup.dat config.txt cmdline.txt; do
    echo "stand-in $file" >"$dir/in/rpi-firmware/$file"
  done
  echo overlay >"$dir/in/rpi-firmware/overlays/vc4-kms-v3d.dtbo"
  echo dtb >"$dir/in/bcm2710-rpi-zero-2-w.dtb"
  echo u-boot >"$dir/in/u-boot.bin"
  cp "$SCRATCH/uboot/boot.scr" "$SCRATCH/uboot/uboot-env.bin" "$dir/in/"
  echo root >"$dir/rootfs/stand-in"
  mksquashfs "$dir/rootfs" "$dir/in/rootfs.squashfs" -quiet -noappend >/dev/null
  sed 's|@BOOT_FILES@|"rpi-firmware/bootcode.bin", "rpi-firmware/start.elf", "rpi-firmware/fixup.dat", "rpi-firmware/config.txt", "rpi-firmware/cmdline.txt", "rpi-firmware/overlays", "bcm2710-rpi-zero-2-w.dtb", "u-boot.bin", "boot.scr"|' \
    board/zero2w/genimage.cfg >"$dir/genimage.cfg"
  genimage --loglevel 0 --config "$dir/genimage.cfg" --rootpath "$dir/root" --tmppath "$dir/tmp" \
    --inputpath "$dir/in" --outputpath "$dir/out" || fail "layout: genimage failed"
  python3 ci/image_checks.py layout "$dir/out/sdcard.img"
  # The payloads landed where the table says: the environment at 4 MiB, the FAT at p1.
  cmp -s -n 16384 "$dir/in/uboot-env.bin" <(dd if="$dir/out/sdcard.img" bs=1M skip=4 count=1 status=none) ||
    fail "layout: the environment is not at 4 MiB"
  mdir -i "$dir/out/sdcard.img@@8M" ::/boot.scr >/dev/null || fail "layout: boot.scr is not on p1"
}

# A root tree as Buildroot leaves it before post-build.sh: busybox, its skeleton's fstab and
# resolv.conf link, the upstream units of the Wi-Fi tools enabled the way their packages do,
# then the overlay.
make_rootfs() { # ROOT
  local root="$1" unit
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib,etc,dev,proc,sys,tmp,run,var,root}
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in sh ls mount cat; do ln -s busybox "$root/bin/$applet"; done
  printf '/dev/root\t/\text2\trw,noauto\t0\t1\nproc\t/proc\tproc\tdefaults\t0\t0\n' >"$root/etc/fstab"
  # Buildroot's system/skeleton links resolv.conf into /tmp; post-build.sh must move it.
  ln -s ../tmp/resolv.conf "$root/etc/resolv.conf"
  mkdir -p "$root/$UNIT_DIR/multi-user.target.wants" "$root/etc/systemd/system/multi-user.target.wants"
  for unit in hostapd.service dnsmasq.service wpa_supplicant.service; do
    printf '[Service]\nExecStart=/usr/sbin/%s\n[Install]\nWantedBy=multi-user.target\n' "${unit%.service}" >"$root/$UNIT_DIR/$unit"
    ln -s "../$unit" "$root/$UNIT_DIR/multi-user.target.wants/$unit"
    ln -s "/$UNIT_DIR/$unit" "$root/etc/systemd/system/multi-user.target.wants/$unit"
  done
  mkdir -p "$root/etc/avahi/services"
  echo "stand-in" >"$root/etc/avahi/services/ssh.service"
  cp -a overlay/. "$root/"
}

check_rootfs() {
  local root="$SCRATCH/rootfs/target"
  make_rootfs "$root"
  echo "stand-in CA" >"$SCRATCH/rootfs/ca.pem"
  MOMENT_VERSION=check-1 MOMENT_RAUC_CERT="$SCRATCH/rootfs/ca.pem" post-build/post-build.sh "$root"
  # What data-seed.sh does at first boot, on the same tree (its /data stands for the mount).
  MOMENT_ROOT="$root" overlay/usr/libexec/moment/data-seed.sh
  python3 ci/image_checks.py rootfs "$root"
}

# data-init.sh on the card genimage made, as a loop device of a 15 GiB card: p4 and p6 grow to
# its end, p6 becomes ext4, the ring keeps its place and size; a second run changes nothing, and
# nor does one on a filesystem mounted since (as at every boot after the first).
check_data_init() {
  local card="$SCRATCH/card.img" loop sectors end
  cp --sparse=always "$SCRATCH/layout/out/sdcard.img" "$card"
  truncate -s 15G "$card"
  loop="$(losetup --find --show "$card")"
  LOOPS+=("$loop")
  partx --add "$loop"
  MOMENT_DISK="$loop" overlay/usr/libexec/moment/data-init.sh >/dev/null
  MOMENT_DISK="$loop" overlay/usr/libexec/moment/data-init.sh >/dev/null 2>&1
  # Every later boot finds /data mounted since its last full check (resize2fs refuses those).
  debugfs -w -R 'ssv mtime 20300101' "${loop}p6" >/dev/null 2>&1
  MOMENT_DISK="$loop" overlay/usr/libexec/moment/data-init.sh >/dev/null 2>&1 ||
    fail "data-init: fails on a /data that was mounted since its last check"
  sectors=$(($(blockdev --getsize64 "$loop") / 512))
  end="$(sfdisk --dump "$loop" | awk -v node="${loop}p6" '$1 == node { gsub(/[^0-9]/, "", $4); gsub(/[^0-9]/, "", $6); print $4 + $6 }')"
  [[ "$end" == "$sectors" ]] || fail "data-init: p6 ends at sector $end, the card at $sectors"
  [[ "$(blkid --probe --match-tag TYPE --output value "${loop}p6")" == ext4 ]] || fail "data-init: p6 is not ext4"
  [[ "$(blockdev --getsize64 "${loop}p5")" == 8589934592 ]] || fail "data-init: the ring changed size"
  step "data-init: p6 grown to the end of a 15 GiB card and formatted; later runs are no-ops"
}

release_loops() {
  local loop
  for loop in "${LOOPS[@]}"; do
    partx --delete "$loop" 2>/dev/null || true
    losetup --detach "$loop" || true
  done
  rm -rf "$SCRATCH"
}

main() {
  local started=$SECONDS
  check_shell
  check_units
  check_kconfig
  check_uboot
  check_layout
  check_rootfs
  check_data_init
  step "all checks passed in $((SECONDS - started)) s"
}

main "$@"
