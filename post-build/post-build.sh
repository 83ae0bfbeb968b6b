#!/usr/bin/env bash
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): runs on the target tree after the
# overlay is copied, before the squashfs is made. Called with the target directory as $1.
#   MOMENT_VERSION   the version for os-release (default: git describe of this repository)
#   MOMENT_RAUC_CERT the CA certificate that signs update bundles (installed as the keyring)
#   BINARIES_DIR     set by Buildroot: the kernel's DTB and rpi-firmware's overlays, put into
#                    the slot's /boot for boot.scr; unset (the tests' roots): the slot gets none
set -euo pipefail

readonly TARGET="${1:?usage: post-build.sh TARGET_DIR}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly UNIT_DIR="usr/lib/systemd/system"
# The recorder runs these itself (network.backend = "linux"); their units must never start.
readonly UPSTREAM_MASKED=(hostapd.service dnsmasq.service wpa_supplicant.service
  wpa_supplicant@.service)
# The kernel's DTB of the Zero 2 W (BR2_LINUX_KERNEL_INTREE_DTS_NAME), the same post-image.sh
# puts on p1 for the firmware.
readonly KERNEL_DTB="bcm2710-rpi-zero-2-w.dtb"

image_version() {
  if [[ -n "${MOMENT_VERSION:-}" ]]; then
    printf '%s\n' "$MOMENT_VERSION"
  else
    git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo dev
  fi
}

write_os_release() { # VERSION
  local file="$TARGET/usr/lib/os-release"
  mkdir -p "$(dirname "$file")"
  cat >"$file" <<OS
NAME="moment-recorder"
ID=moment
PRETTY_NAME="moment-recorder $1"
VERSION="$1"
VERSION_ID="$1"
HOME_URL="https://github.com/moment-recorder/moment-recorder"
OS
  ln -sfn ../usr/lib/os-release "$TARGET/etc/os-release"
}

# The root is a read-only squashfs; /var is a tmpfs (Buildroot moves its content to
# /usr/share/factory when the root is not remounted read-write).
write_fstab() {
  cat >"$TARGET/etc/fstab" <<'FSTAB'
# <file system> <mount pt> <type>    <options>            <dump> <pass>
/dev/root       /          squashfs  ro,noatime           0      0
tmpfs           /tmp       tmpfs     mode=1777,nosuid,nodev 0    0
tmpfs           /var       tmpfs     mode=0755,nosuid,nodev 0    0
# /boot (p1) and /data (p6) are systemd mount units: boot.mount, data.mount.
FSTAB
}

make_mount_points() {
  install -d -m 0755 "$TARGET/data" "$TARGET/boot" "$TARGET/etc/moment-recorder"
  # Empty: systemd mounts the ID over it, the one the boot loader passes on the kernel command
  # line (systemd.machine_id=, kept in the U-Boot environment by moment-machine-id.service).
  : >"$TARGET/etc/machine-id"
  # Buildroot's skeleton links resolv.conf to /tmp, but udhcpc's default script writes it from
  # the recorder's process tree, whose /tmp is private (PrivateTmp=): no other unit, and so not
  # systemd-timesyncd, would see DHCP's DNS servers. /run is shared (tmpfiles makes the file).
  ln -sfn ../run/resolv.conf "$TARGET/etc/resolv.conf"
  # avahi's services directory is fixed at build time: point it at the recorder's.
  rm -rf "$TARGET/etc/avahi/services"
  mkdir -p "$TARGET/etc/avahi"
  ln -s /run/moment-recorder/avahi "$TARGET/etc/avahi/services"
}

# The targets named by a unit's WantedBy= and RequiredBy= lines, as "wants TARGET" pairs.
install_targets() { # UNIT_FILE
  awk -F= '
    /^\[/ { section = $0 }
    section == "[Install]" && ($1 == "WantedBy" || $1 == "RequiredBy") {
      kind = ($1 == "WantedBy") ? "wants" : "requires"
      n = split($2, targets, " ")
      for (i = 1; i <= n; i++) print kind, targets[i]
    }' "$1"
}

enable_unit() { # UNIT_FILE
  local unit kind target
  unit="$(basename "$1")"
  while read -r kind target; do
    mkdir -p "$TARGET/etc/systemd/system/$target.$kind"
    ln -sfn "/$UNIT_DIR/$unit" "$TARGET/etc/systemd/system/$target.$kind/$unit"
  done < <(install_targets "$1")
}

enable_our_units() {
  local unit
  for unit in "$REPO/overlay/$UNIT_DIR"/*; do
    enable_unit "$TARGET/$UNIT_DIR/$(basename "$unit")"
  done
}

mask_upstream_units() {
  local unit
  for unit in "${UPSTREAM_MASKED[@]}"; do
    find "$TARGET/etc/systemd/system" "$TARGET/$UNIT_DIR" -path "*.wants/$unit" -delete
    ln -sfn /dev/null "$TARGET/etc/systemd/system/$unit"
  done
}

install_keyring() {
  local cert="${MOMENT_RAUC_CERT:?MOMENT_RAUC_CERT: the bundle-signing CA certificate (ci/rauc-dev-keys.sh makes one)}"
  install -D -m 0644 "$cert" "$TARGET/etc/rauc/keyring.pem"
}

# The Pi has no real-time clock: until NTP or the owner's phone sets it, systemd starts the
# clock at the newest of its own build time and /usr/lib/clock-epoch's mtime. Stamped with this
# build (SOURCE_DATE_EPOCH when Buildroot builds reproducibly), so an offline camera's clock is
# never older than its firmware, and the update bundles' signing certificates, made before the
# build, are already valid (RAUC checks them against the clock).
stamp_clock_epoch() {
  local file="$TARGET/usr/lib/clock-epoch"
  mkdir -p "$(dirname "$file")"
  : >"$file"
  if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
    touch -d "@$SOURCE_DATE_EPOCH" "$file"
  fi
}

# The slot's own DTB and overlays, which boot.scr gives the kernel (board/zero2w/boot.cmd), so
# that an update brings the DTB of its kernel: /boot/board.dtb (one fixed name, whatever the
# kernel calls it), every overlay of rpi-firmware in /boot/overlays/ (camera_auto_detect may
# find any camera module, and boot.scr applies the overlay named after its sensor) and
# /boot/overlays.env, which names the others. Only U-Boot sees them: it reads the squashfs, while
# Linux mounts p1 on /boot.
install_slot_dtb() {
  local boot="$TARGET/boot" dtb overlay name names=()
  if [[ -z "${BINARIES_DIR:-}" ]]; then
    echo "post-build: no BINARIES_DIR (not run by Buildroot): no /boot/board.dtb in this root;" \
      "U-Boot boots it on the firmware's DTB"
    return 0
  fi
  # The kernel installs its DTB next to /boot/Image (BR2_LINUX_KERNEL_INSTALL_TARGET) and in
  # BINARIES_DIR; the target's copy is renamed, so a second run finds only BINARIES_DIR's.
  dtb="$boot/$KERNEL_DTB"
  [[ -f "$dtb" ]] || dtb="$BINARIES_DIR/$KERNEL_DTB"
  [[ -f "$dtb" ]] || { echo "post-build: no $KERNEL_DTB in $boot or $BINARIES_DIR" >&2; exit 1; }
  install -D -m 0644 "$dtb" "$boot/board.dtb"
  rm -f "$boot/$KERNEL_DTB"
  rm -rf "${boot:?}/overlays"
  install -d -m 0755 "$boot/overlays"
  for overlay in "$BINARIES_DIR"/rpi-firmware/overlays/*.dtbo; do
    [[ -f "$overlay" ]] || { echo "post-build: no overlays in $BINARIES_DIR/rpi-firmware/overlays" >&2; exit 1; }
    install -m 0644 "$overlay" "$boot/overlays/"
  done
  install -m 0644 "$REPO/board/zero2w/overlays.env" "$boot/overlays.env"
  read -r -a names <<<"$(sed -n 's/^slot_overlays=//p' "$REPO/board/zero2w/overlays.env")"
  for name in "${names[@]}"; do
    [[ -f "$boot/overlays/$name.dtbo" ]] ||
      { echo "post-build: overlays.env names $name, which rpi-firmware does not install" >&2; exit 1; }
  done
}

main() {
  write_os_release "$(image_version)"
  write_fstab
  make_mount_points
  enable_our_units
  mask_upstream_units
  install_keyring
  stamp_clock_epoch
  install_slot_dtb
}

main "$@"
