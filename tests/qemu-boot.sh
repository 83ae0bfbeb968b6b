#!/usr/bin/env bash
# The whole system boots (issue 10): the firmware's root filesystem, units and first-boot journey
# working together the way the image puts them together, in QEMU (x86_64 under TCG). Each part has
# its own tests; this one proves the assembly:
#   build    a Debian bookworm base with systemd (mmdebstrap) stands in for Buildroot's packages;
#            the recorder (this workspace), ffmpeg and rclone are added, then overlay/ is copied
#            and post-build/post-build.sh runs on the tree, as Buildroot does; squashfs
#   card     genimage with board/zero2w/genimage.cfg, only the ring and data partitions sized
#            down, on an emulated SD card (sdhci-pci) so /dev/mmcblk0pN hold unchanged
#   boot 1   systemd starts the recorder (READY) on the read-only root; /data grown and formatted
#            at first boot; the web answers; the ring fills; a save becomes an MP4 on /data
#   cut      the QEMU process is killed (SIGKILL: a power cut) while recording
#   boot 2   the ring recovers, the memory is still there, the upload queue resumes against an
#            `rclone serve webdav` on the host (10.0.2.2 from the guest); a signed RAUC bundle
#            uploaded to the web app installs into slot B, and the web app reboots
#   boot 3   slot B, as boot.cmd chooses it from the U-Boot environment RAUC wrote, records and
#            is confirmed (marked good) by the recorder; a USB stick (FAT32) hot-plugged on
#            QEMU's xHCI is noticed through the kernel's uevents, gets the memory, is unmounted
#            and powered off, and holds the memory byte for byte when read on the host
# Kernel: Debian's linux-image-amd64 with a small busybox initramfs (tests/qemu-boot/init).
# Environment:
#   MOMENT_QEMU_CACHE     keep downloads (kernel, busybox, the base root tree) here between runs
#                         (default target/qemu-guest-cache, shared with tests/radio.sh)
#   MOMENT_RECORDER_BIN   use this recorder binary instead of building one
#   MOMENT_QEMU_KEEP=1    keep the work directory (image, logs) even when every check passes
# Needs root (the root tree's owners), qemu-system-x86, mmdebstrap, genimage, squashfs-tools,
# dosfstools, mtools, fdisk, u-boot-tools, kmod, ffmpeg, rclone, rauc, openssl, python3
# (ci/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly HERE=tests/qemu-boot
readonly TEST_NAME=qemu-boot
# shellcheck source=tests/apt-fetch.sh
source tests/apt-fetch.sh
# shellcheck source=tests/root-tree.sh
source tests/root-tree.sh
# shellcheck source=tests/x86-guest.sh
source tests/x86-guest.sh
readonly UPDATE_VERSION=qemu-test-update
# The card: the board's layout with a 64 MiB ring and a 64 MiB data partition, on a card of a
# power-of-two size (QEMU's SD card needs one); data-init.sh grows p6 to its end.
readonly RING_SIZE=64M
readonly DATA_OFFSET=1162M
readonly DATA_SIZE=64M
readonly CARD_SIZE=2G
readonly ADMIN_PASSWORD=qemu-boot-test
readonly BOOT_TIMEOUT_S=300

WORK="$(mktemp -d /tmp/moment-qemu.XXXXXX)"
readonly WORK
readonly ART="$WORK/artifacts"
CACHE="${MOMENT_QEMU_CACHE:-target/qemu-guest-cache}"
readonly CACHE
QEMU_PID=""
WEBDAV_PID=""
WEB_PORT=""
STARTED=$SECONDS
trap cleanup EXIT

# known_issue NAME WHAT COMMAND...: a check of something the image is known to get wrong (WHAT
# says where it is described): reported, not counted, and reported as fixed once it passes.
known_issue() {
  local name="$1" what="$2" output
  shift 2
  if output="$("$@" 2>&1)"; then
    printf 'qemu-boot: PASS %-18s %s (known issue fixed? %s)\n' "$name" "${output//$'\n'/; }" "$what"
  else
    printf 'qemu-boot: KNOWN %-17s %s (%s)\n' "$name" "${output//$'\n'/; }" "$what"
  fi
}

api() { guest api "http://127.0.0.1:$WEB_PORT" "$WORK/cookies" "$@"; }
probe() { guest probe "$WORK/probe.sock" 60 "$@"; }

# --- downloads ------------------------------------------------------------------------------

# --- the root filesystem ---------------------------------------------------------------------

# Buildroot's order: packages in the target tree, overlay/ copied over it, post-build.sh on it.
# What only the test's image has (tests/x86-guest.sh, guest_root): the recorder configuration for
# a guest without camera, GPIO and radio, and the probe on ttyS1.
make_rootfs() {
  local root="$WORK/rootfs"
  ci/rauc-dev-keys.sh "$WORK/keys" >/dev/null
  guest_root "$root" qemu-test "$WORK/keys/dev.cert.pem" "$HERE/config-overrides.toml"
  squash_root "$root" "$WORK/in/rootfs.squashfs"
}

# The update: the same tree as another version, in a verity bundle signed with the key whose CA
# the image carries (as post-image.sh makes the release's).
make_bundle() {
  local root="$WORK/rootfs" dir="$WORK/bundle"
  MOMENT_VERSION="$UPDATE_VERSION" MOMENT_RAUC_CERT="$WORK/keys/dev.cert.pem" post-build/post-build.sh "$root"
  mkdir -p "$dir"
  squash_root "$root" "$dir/rootfs.squashfs"
  signed_bundle "$dir/rootfs.squashfs" "$UPDATE_VERSION" "$WORK/keys" "$WORK/update.raucb" "$ART/rauc-bundle.log"
}

make_initramfs() {
  apt_fetch "$CACHE" busybox-static "$WORK/busybox" || die "no busybox"
  # The SD host and card, the root's squashfs, /data's ext4, /boot's vfat, the network card.
  # RAUC mounts bundles through loop and dm-verity. A USB stick: the xHCI host, usb-storage,
  # SCSI disks, and the stick's filesystems with UTF-8 names (built in on the Pi, linux.fragment).
  module_initramfs "$WORK/initramfs.cpio.gz" "$WORK/kernel" "$KVER" "$WORK/busybox/bin/busybox" \
    squashfs sdhci-pci mmc_block ext4 vfat nls_cp437 nls_ascii virtio_net virtio_pci loop dm_verity \
    xhci_pci usb_storage sd_mod nls_utf8 exfat
}

# --- the card -------------------------------------------------------------------------------

# The pre-seed file on the boot partition (README, "Pre-seed"): the admin password and the
# upload target, the host's WebDAV server as the guest sees it.
write_preseed() {
  cat >"$WORK/in/moment.toml" <<TOML
[admin]
password = "$ADMIN_PASSWORD"

[upload]
kind = "webdav"
path = "moment"
policy = "immediate"
fields = { url = "http://10.0.2.2:$WEBDAV_PORT", vendor = "other", user = "moment", pass = "qemu-boot" }
TOML
}

make_card() {
  mkenvimage -r -s 0x4000 -o "$WORK/in/uboot-env.bin" board/zero2w/uboot-env.txt
  write_preseed
  small_card_cfg "$RING_SIZE" "$DATA_OFFSET" "$DATA_SIZE" '"moment.toml"' >"$WORK/genimage.cfg"
  genimage --loglevel 0 --config "$WORK/genimage.cfg" --rootpath "$WORK/empty" \
    --tmppath "$WORK/genimage-tmp" --inputpath "$WORK/in" --outputpath "$WORK/out"
  CARD="$WORK/out/sdcard.img"
  truncate -s "$CARD_SIZE" "$CARD"
  # The image's fw_env.config with the card file in place of /dev/mmcblk0, for fw_printenv here.
  sed "s|^/dev/mmcblk0 |$CARD |" overlay/etc/fw_env.config >"$WORK/fw_env.config"
}

build() {
  mkdir -p "$WORK/in" "$WORK/empty" "$ART"
  WEBDAV_PORT="$(free_port)"
  timed kernel fetch_kernel
  timed base-rootfs fetch_base
  timed recorder recorder_binary
  timed rootfs make_rootfs
  timed bundle make_bundle
  timed initramfs make_initramfs
  timed card make_card
}

# --- the guest ------------------------------------------------------------------------------

# The card's U-Boot environment variable NAME, read here as the boot loader reads it (empty when
# unset).
card_env() { # NAME
  fw_printenv -c "$WORK/fw_env.config" -n "$1" 2>/dev/null || true
}

kernel_cmdline() { # SLOT
  local machine_id
  # The board's cmdline.txt on a PC, and what boot.cmd adds for the slot and, once the
  # environment holds one, the machine ID.
  board_cmdline
  printf ' root=/dev/mmcblk0p%s rauc.slot=%s' "$([[ "$1" == A ]] && echo 2 || echo 3)" "$1"
  machine_id="$(card_env machine_id)"
  [[ "$machine_id" =~ ^[0-9a-f]{32}$ ]] && printf ' systemd.machine_id=%s' "$machine_id"
  printf ' net.ifnames=0 panic=-1 systemd.show_status=1'
}

# A 64 MiB stick as a person's would be: an MBR with one FAT32 partition from 1 MiB.
make_stick() {
  STICK="$WORK/stick.img"
  truncate -s 64M "$STICK"
  printf 'label: dos\n1MiB,,c\n' | sfdisk -q "$STICK" >/dev/null
  truncate -s 63M "$WORK/stick-part.img"
  mkfs.vfat -F 32 -n STICK "$WORK/stick-part.img" >/dev/null
  dd if="$WORK/stick-part.img" of="$STICK" bs=1M seek=1 conv=notrunc status=none
  rm -f "$WORK/stick-part.img"
}

# Plugs the stick into the running guest, as a person does while it records.
plug_stick() {
  guest monitor "$WORK/monitor.sock" "drive_add 0 if=none,id=stick,format=raw,file=$STICK"
  guest monitor "$WORK/monitor.sock" "device_add usb-storage,drive=stick,removable=on,id=stick0"
}

# The stick holds the memory under MOMENTS/ byte for byte and nothing unfinished (read with
# mtools on the host: this kernel cannot mount FAT).
check_stick_contents() {
  local name listing
  name="$(basename "$MEMORY")"
  listing="$(mdir -i "$STICK@@1M" -b ::MOMENTS)"
  [[ "$listing" == "::/MOMENTS/$name" ]] || { echo "MOMENTS/ holds: $listing"; return 1; }
  mcopy -i "$STICK@@1M" "::MOMENTS/$name" "$WORK/from-stick.mp4"
  cmp "$MEMORY" "$WORK/from-stick.mp4" || return 1
  echo "MOMENTS/$name on the stick is the memory, $(stat -c %s "$MEMORY") bytes"
}

# Powered off: the recorder deleted the disk from the SCSI layer and removed the USB device.
check_stick_powered_off() {
  local disks
  disks="$(probe "lsblk -dn -o NAME,TRAN | awk '\$2 == \"usb\"'" || true)"
  [[ -z "$disks" ]] || { echo "still present: $disks"; return 1; }
  echo "no USB disk left in the guest"
}

start_qemu() { # BOOT_NAME [SLOT] [QEMU ARGS...]
  WEB_PORT="$(free_port)"
  rm -f "$WORK/monitor.sock" "$WORK/cookies"
  x86_qemu "$ART/console-$1.log" "$ART/qemu-$1.log" "$(kernel_cmdline "${2:-A}")" \
    -netdev user,id=net0,hostfwd=tcp:127.0.0.1:"$WEB_PORT"-:80 -device virtio-net-pci,netdev=net0 \
    -monitor unix:"$WORK/monitor.sock",server=on,wait=off "${@:3}"
  log "boot $1: slot ${2:-A}, qemu pid $QEMU_PID, web on 127.0.0.1:$WEB_PORT, console $ART/console-$1.log"
}

# Bounded: systemd reports the recorder active only after its READY=1 (Type=notify).
wait_ready() {
  local deadline=$((SECONDS + BOOT_TIMEOUT_S)) state=""
  guest wait-probe "$WORK/probe.sock" "$BOOT_TIMEOUT_S"
  while ((SECONDS < deadline)); do
    kill -0 "$QEMU_PID" 2>/dev/null || { echo "qemu exited"; return 1; }
    state="$(probe systemctl is-active moment-recorder.service || true)"
    [[ "$state" == active ]] && break
    # Not active and no job left for it once the boot is over: it will not start by itself.
    if [[ "$state" == inactive || "$state" == failed ]] &&
      [[ "$(probe systemctl is-system-running || true)" =~ ^(running|degraded)$ ]]; then
      probe systemctl --failed --no-pager --plain --no-legend || true
      return 1
    fi
    # Restart=always never gives up: a recorder that keeps failing fails the test at once.
    if (($(probe systemctl show -p NRestarts --value moment-recorder.service || echo 0) >= 3)); then
      echo "moment-recorder.service restarted 3 times:"
      probe journalctl -b -o cat -n 8 -u moment-recorder.service || true
      return 1
    fi
    sleep 2
  done
  [[ "$state" == active ]] || { echo "moment-recorder.service is '$state'"; return 1; }
  echo "moment-recorder.service active (READY=1) $((SECONDS - BOOT_STARTED)) s after power-on;" \
    "$(probe systemctl show -p NRestarts --value moment-recorder.service) restarts"
}

dump_journal() { # BOOT_NAME
  probe journalctl -b --no-pager -o short-monotonic >"$ART/journal-$1.log" 2>&1 || true
}

# --- checks inside the guest (through the probe) and on the card ------------------------------

# Only /data (with its bind mounts), /boot (the pre-seed import rewrites it) and kernel or
# memory filesystems are writable; the root is the read-only squashfs.
check_read_only() {
  local root writable
  root="$(probe findmnt -n -o SOURCE,FSTYPE,OPTIONS /)"
  [[ "$root" =~ ^/dev/mmcblk0p2\ +squashfs\ +ro, ]] || { echo "root: $root"; return 1; }
  writable="$(probe "findmnt -rn -o TARGET,SOURCE,FSTYPE,OPTIONS | awk '\$4 ~ /^rw/ && \$2 ~ /^\\/dev\\// { print \$1, \$2, \$3 }'")"
  if grep -Ev '^(/data|/etc/moment-recorder|/var/lib/systemd/timesync|/boot) ' <<<"$writable"; then
    echo "writable outside /data, /boot and tmpfs: $writable"
    return 1
  fi
  echo "root ${root%%,*}; writable devices: $(tr '\n' ',' <<<"$writable")"
}

check_first_boot_data() {
  local journal p6 disk
  journal="$(probe journalctl -b -o cat -u moment-data-init.service)"
  grep -q 'data-init: growing /dev/mmcblk0p6' <<<"$journal" || { echo "no grow: $journal"; return 1; }
  grep -q 'data-init: formatting /dev/mmcblk0p6' <<<"$journal" || { echo "no format: $journal"; return 1; }
  probe findmnt -n -o SOURCE,FSTYPE /data | grep -Eq '^/dev/mmcblk0p6 +ext4' || { echo "/data is not p6's ext4"; return 1; }
  p6="$(probe blockdev --getsize64 /dev/mmcblk0p6)"
  disk="$(probe blockdev --getsize64 /dev/mmcblk0)"
  ((disk - p6 < 1200 * 1024 * 1024)) || { echo "p6 is $p6 bytes of a $disk byte card"; return 1; }
  probe test -s /data/etc/moment-recorder/config.toml || { echo "data-seed did not copy the config"; return 1; }
  echo "p6 grown from $DATA_SIZE to $((p6 / 1048576)) MiB and formatted ext4 at first boot; data-seed ran"
}

# First boot: moment-machine-id.service stores the ID systemd made into the U-Boot environment
# (through the guest's fw_setenv and the image's fw_env.config), within a bound.
check_machine_id_stored() {
  local waited state stored
  for ((waited = 0; waited < 60; waited++)); do
    state="$(probe systemctl show -p ActiveState --value moment-machine-id.service || true)"
    [[ "$state" == active || "$state" == failed ]] && break
    sleep 1
  done
  [[ "$state" == active ]] || { echo "moment-machine-id.service is '$state':"; probe journalctl -b -o cat -u moment-machine-id.service; return 1; }
  stored="$(probe fw_printenv -n machine_id)"
  [[ "$FIRST_MACHINE_ID" =~ ^[0-9a-f]{32}$ && "$stored" == "$FIRST_MACHINE_ID" ]] ||
    { echo "/etc/machine-id is '$FIRST_MACHINE_ID', the environment holds '$stored'"; return 1; }
  echo "machine ID $stored stored in the U-Boot environment"
}

# From outside, as the power cut left the card: the ID the boot loader will pass.
check_machine_id_on_card() {
  local stored
  stored="$(card_env machine_id)"
  [[ "$stored" == "$FIRST_MACHINE_ID" ]] || { echo "the card's environment holds machine_id='$stored'"; return 1; }
  echo "the card's U-Boot environment holds machine_id=$stored"
}

# Every later boot (boot.cmd's part: systemd.machine_id= on the kernel command line) has the
# first boot's ID, also after RAUC rewrote the environment for the update.
check_machine_id_kept() {
  local now
  now="$(probe cat /etc/machine-id)"
  [[ -n "$FIRST_MACHINE_ID" && "$now" == "$FIRST_MACHINE_ID" ]] ||
    { echo "first boot $FIRST_MACHINE_ID, now $now; $(probe cat /proc/cmdline)"; return 1; }
  echo "machine ID $now kept from the first boot"
}

# DHCP's DNS servers reach the other units: udhcpc's script writes /etc/resolv.conf from the
# recorder's process tree, whose /tmp is its own (PrivateTmp=). A line written there, inside the
# recorder's mount namespace, must be what a fresh unit with its own private /tmp reads.
check_resolv_conf_shared() {
  local pid line seen
  pid="$(probe systemctl show -p MainPID --value moment-recorder.service)"
  ((pid > 0)) || { echo "the recorder has no main process"; return 1; }
  line="nameserver 10.0.2.3 # qemu-boot $RANDOM"
  # Kept outside /tmp to restore it (the recorder's /tmp is its own); a missing file restores empty.
  probe "nsenter -t $pid -m sh -c 'cat /etc/resolv.conf >/run/moment-test-resolv.conf 2>/dev/null; echo \"$line\" >>/etc/resolv.conf'" ||
    { echo "cannot write /etc/resolv.conf as the recorder"; return 1; }
  seen="$(probe systemd-run --quiet --wait --pipe -p PrivateTmp=yes cat /etc/resolv.conf || true)"
  probe "nsenter -t $pid -m sh -c 'cat /run/moment-test-resolv.conf >/etc/resolv.conf; rm -f /run/moment-test-resolv.conf'" || true
  grep -qxF "$line" <<<"$seen" ||
    { echo "written as the recorder, not seen by another unit ($(probe readlink /etc/resolv.conf)): '$seen'"; return 1; }
  echo "/etc/resolv.conf -> $(probe readlink /etc/resolv.conf): written in the recorder's namespace, read by another unit"
}

check_data_kept() {
  local journal
  journal="$(probe journalctl -b -o cat -u moment-data-init.service)"
  if grep -Eq 'growing|formatting' <<<"$journal"; then
    echo "data-init changed /data again: $journal"
    return 1
  fi
  echo "data-init was a no-op on the second boot"
}

# From outside, as the power cut left it: p5 holds the raw ring with every segment the recorder
# called durable, and every segment's CRC checks (the host's recorder, read-only).
check_ring_on_p5() {
  local offset size inspection newest
  read -r offset size < <(card_partition "$CARD" 5)
  dd if="$CARD" of="$WORK/ring-p5.img" bs=512 skip="$offset" count="$size" status=none
  inspection="$("$RECORDER" ring inspect "$WORK/ring-p5.img" --json)"
  newest="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["stats"]["newest_seq"])' <<<"$inspection")"
  ((newest >= LAST_SEQ)) || { echo "p5's newest segment is $newest, $LAST_SEQ was durable"; return 1; }
  # At most the segment in flight to the card may be lost.
  ((LAST_SENT - newest <= 1)) || { echo "p5 ends at $newest, $LAST_SENT was handed to the ring"; return 1; }
  "$RECORDER" ring fsck "$WORK/ring-p5.img" >"$ART/ring-fsck.log" 2>&1 || { cat "$ART/ring-fsck.log"; return 1; }
  rm -f "$WORK/ring-p5.img"
  echo "p5 holds the ring up to segment $newest (durable before the cut: $LAST_SEQ, handed to the" \
    "ring: $LAST_SENT, so $((LAST_SENT > newest ? LAST_SENT - newest : 0)) lost), fsck clean"
}

# From outside: the recorder imported the pre-seed file on /boot and kept it without secrets.
check_boot_partition() {
  local files
  files="$(mdir -b -i "$CARD@@8M" ::/)"
  grep -qx '::/moment-imported.toml' <<<"$files" || { echo "no moment-imported.toml: $files"; return 1; }
  if grep -qx '::/moment.toml' <<<"$files"; then echo "moment.toml is still there"; return 1; fi
  if mtype -i "$CARD@@8M" ::/moment-imported.toml | grep -Eq "$ADMIN_PASSWORD|qemu-boot\""; then
    echo "moment-imported.toml still holds a password"
    return 1
  fi
  echo "/boot: moment.toml imported and kept as moment-imported.toml without its passwords"
}

# slot_holds PARTITION_NUMBER IMAGE: the card's partition starts with exactly IMAGE.
slot_holds() {
  local offset size
  read -r offset size < <(card_partition "$CARD" "$1")
  cmp -s -n "$(stat -c %s "$2")" "$2" <(dd if="$CARD" bs=512 skip="$offset" count="$size" status=none)
}

# From outside, after the guest is gone: slot A holds exactly the squashfs genimage wrote, slot B
# the bundle's, and boot.cmd would now boot B.
check_card_after_update() {
  local slot
  slot_holds 2 "$WORK/in/rootfs.squashfs" || { echo "slot A (p2) changed"; return 1; }
  slot_holds 3 "$WORK/bundle/rootfs.squashfs" || { echo "slot B (p3) does not hold the bundle's image"; return 1; }
  slot="$(guest boot-slot "$CARD")"
  [[ "$slot" == B ]] || { echo "boot.cmd would boot slot $slot"; return 1; }
  echo "slot A unchanged, slot B holds the bundle's root, the U-Boot environment boots B"
}

check_updated_root() {
  local version
  version="$(probe grep '^VERSION=' /etc/os-release)"
  [[ "$version" == "VERSION=\"$UPDATE_VERSION\"" ]] || { echo "running $version"; return 1; }
  probe findmnt -n -o SOURCE,OPTIONS / | grep -Eq '^/dev/mmcblk0p3 +ro,' || { echo "/ is not slot B read-only"; return 1; }
  echo "running $UPDATE_VERSION from /dev/mmcblk0p3, read-only"
}

# wait_powered_off: the guest's reboot ends QEMU (-no-reboot), within a bound.
wait_powered_off() {
  local waited
  for ((waited = 0; waited < 120; waited++)); do
    if ! kill -0 "$QEMU_PID" 2>/dev/null; then
      wait "$QEMU_PID" 2>/dev/null || true
      QEMU_PID=""
      echo "the guest rebooted after ${waited} s"
      return 0
    fi
    sleep 1
  done
  echo "still running after 120 s"
  return 1
}

start_webdav() {
  mkdir -p "$WORK/webdav"
  rclone serve webdav "$WORK/webdav" --addr "127.0.0.1:$WEBDAV_PORT" --user moment --pass qemu-boot \
    >"$ART/webdav.log" 2>&1 &
  WEBDAV_PID=$!
}

# --- the journey ----------------------------------------------------------------------------

first_boot() {
  start_qemu first
  check ready wait_ready || return 1
  check read-only-root check_read_only
  check data-first-boot check_first_boot_data
  FIRST_MACHINE_ID="$(probe cat /etc/machine-id)"
  check machine-id-stored check_machine_id_stored
  check resolv-conf-shared check_resolv_conf_shared
  check web-login api login "$ADMIN_PASSWORD" 120 || return 1
  check setup-mode api setup-mode
  check ring-fills api recording 10
  check save-memory api save "$ART" 8 || return 1
  MEMORY="$(find "$ART" -maxdepth 1 -name '*.mp4' | head -n 1)"
  check mp4-valid guest mp4 "$MEMORY" 4
  check upload-pending api upload-pending "$(basename "$MEMORY")"
  ((FAILED == 0))
}

power_cut() {
  dump_journal first
  sleep 3
  read -r LAST_SEQ LAST_SENT < <(api newest-seq)
  stop_qemu
  log "power cut (SIGKILL to qemu) with segment $LAST_SEQ durable, $LAST_SENT handed to the ring"
  check ring-on-p5 check_ring_on_p5
  check boot-partition check_boot_partition
  check machine-id-on-card check_machine_id_on_card
}

second_boot() {
  start_webdav
  start_qemu second
  check ready-again wait_ready || return 1
  check web-login-again api login "$ADMIN_PASSWORD" 120 || return 1
  check ring-recovered api recovered "$LAST_SEQ"
  check memory-kept api memory-kept "$MEMORY"
  check data-kept check_data_kept
  check machine-id-kept check_machine_id_kept
  check upload-resumed api uploaded "$MEMORY" "$WORK/webdav" 120
  check update-install api update-install "$WORK/update.raucb" 300 || return 1
  dump_journal second
  check reboot api reboot
  check powered-off wait_powered_off || return 1
  check slots-after-update check_card_after_update
  ((FAILED == 0))
}

updated_boot() {
  make_stick
  start_qemu third "$(guest boot-slot "$CARD")" -device qemu-xhci
  check ready-slot-b wait_ready || return 1
  check updated-root check_updated_root
  check machine-id-slot-b check_machine_id_kept
  check web-login-slot-b api login "$ADMIN_PASSWORD" 120 || return 1
  check update-confirmed api update-confirmed "$UPDATE_VERSION" 180
  check usb-plugged plug_stick || return 1
  check usb-export api usb-export 120
  check usb-powered-off check_stick_powered_off
  dump_journal third
  stop_qemu
  check stick-contents check_stick_contents
  ((FAILED == 0))
}

cleanup() {
  local status=$? started=$SECONDS
  stop_qemu
  if [[ -n "$WEBDAV_PID" ]]; then
    local waited
    kill "$WEBDAV_PID" 2>/dev/null || true
    for ((waited = 0; waited < 50; waited++)); do
      kill -0 "$WEBDAV_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$WEBDAV_PID" 2>/dev/null || true
    wait "$WEBDAV_PID" 2>/dev/null || true
  fi
  if ((status != 0 || FAILED != 0)) || [[ "${MOMENT_QEMU_KEEP:-}" == 1 ]]; then
    log "kept: $WORK (serial consoles and journals in $ART)"
  else
    rm -rf "$WORK"
  fi
  log "cleaned up in $((SECONDS - started)) s"
}

main() {
  build
  if first_boot; then
    power_cut
    if second_boot; then
      updated_boot || dump_journal third
    else
      dump_journal second
    fi
  else
    dump_journal first
  fi
  stop_qemu
  if ((FAILED != 0)); then
    dump_artifacts_hint
    die "the boot test failed after $((SECONDS - STARTED)) s"
  fi
  log "PASS: every check passed in $((SECONDS - STARTED)) s"
}

dump_artifacts_hint() {
  log "serial consoles and journals: $ART"
}

main "$@"
