#!/usr/bin/env bash
# The emulated board's full-system scenarios (issue 20; sourced by tests/emulated-board.sh): the
# card's whole path on the raspi3b, not only the boot loader, through an update and a roll-back.
# Both slots hold a real root (the arm64 Debian base, the cross-built recorder, overlay/,
# post-build.sh, as tests/root-tree.sh assembles it for tests/qemu-boot.sh) with /boot/Image and
# an initramfs that loads the SD, squashfs, ext4, vfat, loop, dm-verity and watchdog modules and
# switches to the read-only squashfs root. /data already holds two signed bundles. Asserted from
# outside (the console, fw_printenv on the card file, the test probe: a root shell on the
# PL011, test image only). Two scenarios, each on its own copy of the card, run side by side:
#   full_update    boot 1: U-Boot takes slot A (BOOT_A_LEFT 3 -> 2 on the card), systemd starts
#                  the recorder on the squashfs root, it marks the slot good (back to 3), the
#                  machine ID is stored in the environment; the good bundle uploaded to the web
#                  app (curl in the guest) installs into slot B; the web app's reboot resets the
#                  board; U-Boot boots B, whose recorder confirms it with the same machine ID;
#                  after a power cut p5 holds a ring
#   full_rollback  boot 1 as above; the bad bundle (its recorder binary is damaged) installs
#                  into slot B; B never gets healthy (its recorder crash-loops) and
#                  update-deadline.sh reboots it, three times; U-Boot falls back to A by itself,
#                  RAUC reports B bad, the recorder says it rolled back
# Needs OUT, WORK, ART, CACHE, HERE, die, log, check, and card.sh's and scenarios.sh's functions.
# Environment: MOMENT_EMULATED_BASE (an arm64 base tarball; default: made with mmdebstrap and
# kept in the cache), MOMENT_RECORDER_BIN (the aarch64 recorder; default ci/cross-check.sh's).

# shellcheck source=tests/root-tree.sh
source tests/root-tree.sh

readonly FULL_PACKAGES=systemd,systemd-sysv,udev,dbus,util-linux,fdisk,e2fsprogs,rauc,rauc-service,libubootenv-tool,ffmpeg,curl
readonly FULL_ADMIN_PASSWORD=emulated-board-test
readonly FULL_VERSION=emulated-test
readonly UPDATE_VERSION=emulated-update
readonly BAD_VERSION=emulated-bad
# Seconds a slot on trial gets before update-deadline.sh reboots it (600 as shipped): enough for
# a good slot to be confirmed under TCG (~100 s after systemd starts). The bad slot's recorder
# crash-loops, which the script reboots after 5 restarts (as shipped), ~20 s.
readonly FULL_DEADLINE_S=300
# Bounds, each wait its own: one boot to the recorder's mark-good takes ~80 s under TCG.
readonly FULL_BOOT_S=300
readonly FULL_INSTALL_S=900
readonly FULL_ROLLBACK_S=900
# systemd's status lines with unit names, not cut to the console's width; no getty on the
# console, which would silence them (test only: the image keeps its getty).
# Debian's kernel credits the hardware RNG's output with no entropy unless told its quality (the
# Pi's kernel has the driver built in and trusted): without it the crng waited for interrupts
# under TCG beside another QEMU.
readonly FULL_CMDLINE="systemd.status_unit_format=name systemd.mask=serial-getty@ttyS1.service rng_core.default_quality=1000"
# The SD host (sdhost; sdhci-iproc for the other controller), the root's squashfs, /data's
# ext4, /boot's vfat, loop and dm-verity for RAUC's bundles, the watchdog, whose restart
# handler is how this board reboots, and the SoC's random number generator (built into the Pi's
# kernel): without it the kernel's entropy took up to 115 s under TCG, systemd-udevd waited for
# it, and systemd gave up on the SD card's devices after their 90 s.
readonly FULL_MODULES=(bcm2835 sdhci-iproc squashfs ext4 vfat nls_cp437 nls_ascii loop dm_verity bcm2835_wdt bcm2835-rng)
BOARD_PID=""

full_base_tar() {
  if [[ -n "${MOMENT_EMULATED_BASE:-}" ]]; then
    echo "$MOMENT_EMULATED_BASE"
  else
    # shellcheck disable=SC2153 # CACHE comes from tests/emulated-board.sh
    debian_base_tar "$CACHE" arm64 "$FULL_PACKAGES"
  fi
}

full_recorder() {
  echo "${MOMENT_RECORDER_BIN:-${CARGO_TARGET_DIR:-target}/cross/aarch64-unknown-linux-gnu/release/moment-recorder}"
}

# What a camera's root never carries and Debian's packages bring: Mesa's drivers and LLVM (only
# they link it), perl (debconf's), gconv's charsets, udev's hardware database, MIME data, the
# package manager's state, documentation. Every MiB is seconds of the emulated card: the slot
# is read at boot, a bundle read and written twice at ~4 MiB/s.
strip_root() { # ROOT
  local lib="$1/usr/lib/aarch64-linux-gnu"
  rm -rf "$lib"/dri "$lib"/libLLVM* "$lib"/perl* "$lib"/gconv "$1"/usr/bin/perl* "$1"/usr/share/perl* \
    "$1"/usr/lib/udev/hwdb.d "$1"/usr/lib/udev/hwdb.bin "$1"/etc/udev/hwdb.bin "$1"/usr/share/mime \
    "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale "$1"/usr/share/i18n \
    "$1"/var/cache/apt "$1"/var/lib/apt/lists "$1"/var/cache/debconf
  python3 "$HERE/prune-libraries.py" "$1" /usr/lib/aarch64-linux-gnu >/dev/null
}

# What only the test's root has: the recorder's configuration for a board without camera, GPIO
# and radio; the probe on the PL011 (ttyAMA0; the console is the mini UART); systemd's
# hardware watchdog off (QEMU's raspi3b resets the moment it is armed, README.md "Known
# limits"; the driver stays loaded for reboots); root without a password; systemd's 90 s for a device or a start job
# raised to the boot's bound (udev's coldplug alone took 80 s under TCG beside other QEMUs);
# a short update deadline.
add_full_test_parts() { # ROOT
  local root="$1" units="$1/etc/systemd/system"
  python3 tests/qemu-boot/guest.py merge-config overlay/etc/moment-recorder/config.toml \
    tests/qemu-boot/config-overrides.toml "$WORK/config-qemu.toml"
  python3 tests/qemu-boot/guest.py merge-config "$WORK/config-qemu.toml" "$HERE/config-overrides.toml" \
    "$root/etc/moment-recorder/config.toml"
  install -D -m 0755 tests/qemu-boot/probe.sh "$root/usr/libexec/moment-test/probe.sh"
  install -D -m 0644 tests/qemu-boot/moment-test-probe.service "$units/moment-test-probe.service"
  mkdir -p "$units/sysinit.target.wants" "$units/moment-test-probe.service.d" \
    "$units/moment-update-deadline.service.d" "$root/etc/systemd/system.conf.d"
  ln -sfn ../moment-test-probe.service "$units/sysinit.target.wants/moment-test-probe.service"
  printf '[Service]\nExecStart=\nExecStart=/usr/libexec/moment-test/probe.sh /dev/ttyAMA0\n' \
    >"$units/moment-test-probe.service.d/emulated-board.conf"
  # Root logs in on the console without a password (bash tests/emulated-board.sh --console).
  sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
  printf '[Service]\nEnvironment=MOMENT_UPDATE_DEADLINE_S=%s\n' "$FULL_DEADLINE_S" \
    >"$units/moment-update-deadline.service.d/emulated-board.conf"
  printf '[Manager]\nRuntimeWatchdogSec=off\nRebootWatchdogSec=off\nDefaultTimeoutStartSec=%s\n' \
    "$FULL_BOOT_S" >"$root/etc/systemd/system.conf.d/zz-emulated-board.conf"
}

# The slot's image, then from the same tree the good update (another version) and the bad one
# (its recorder binary cut short: it never starts, so the slot never gets healthy).
build_full_slots() {
  local root="$WORK/full-root" kver base recorder
  recorder="$(full_recorder)"
  [[ -x "$recorder" ]] || die "no aarch64 recorder at $recorder (ci/cross-check.sh builds it)"
  kver="$(basename "$WORK"/kernel/lib/modules/*)"
  depmod -b "$WORK/kernel" "$kver"
  module_initramfs "$WORK/full-initrd.cpio.gz" "$WORK/kernel" "$kver" "$WORK/busybox/bin/busybox" "${FULL_MODULES[@]}"
  rm -rf "${root:?}"
  base="$(full_base_tar)" || die "no arm64 Debian base (mmdebstrap failed)"
  root_from_base "$root" "$base" "$recorder"
  strip_root "$root"
  ci/rauc-dev-keys.sh "$WORK/keys" >/dev/null
  finish_root "$root" "$FULL_VERSION" "$WORK/keys/dev.cert.pem"
  add_full_test_parts "$root"
  install -D -m 0644 "$KERNEL_IMAGE" "$root/boot/Image"
  install -m 0644 "$WORK/full-initrd.cpio.gz" "$root/boot/initrd"
  # The slot's own DTB (post-build.sh installs the kernel's when Buildroot runs it): the
  # emulated board's, marked so the guest can tell it from the firmware's.
  cp "$WORK/full-firmware.dtb" "$root/boot/board.dtb"
  fdtput -c "$root/boot/board.dtb" /moment-test
  fdtput -t s "$root/boot/board.dtb" /moment-test dtb full-slot
  squash_root "$root" "$WORK/in/rootfs.squashfs"
  MOMENT_VERSION="$UPDATE_VERSION" MOMENT_RAUC_CERT="$WORK/keys/dev.cert.pem" post-build/post-build.sh "$root"
  squash_root "$root" "$WORK/update.squashfs"
  signed_bundle "$WORK/update.squashfs" "$UPDATE_VERSION" "$WORK/keys" "$WORK/update.raucb" "$ART/rauc-bundle-update.log"
  MOMENT_VERSION="$BAD_VERSION" MOMENT_RAUC_CERT="$WORK/keys/dev.cert.pem" post-build/post-build.sh "$root"
  truncate -s 64K "$root/usr/bin/moment-recorder"
  # Without a recorder nothing runs ffmpeg: its program and the libraries only it links are left
  # out, which halves the bundle (every MiB is seconds of the emulated card).
  rm -f "$root"/usr/bin/ffmpeg "$root"/usr/bin/ffprobe "$root"/usr/bin/ffplay
  python3 "$HERE/prune-libraries.py" "$root" /usr/lib/aarch64-linux-gnu >/dev/null
  squash_root "$root" "$WORK/bad.squashfs"
  signed_bundle "$WORK/bad.squashfs" "$BAD_VERSION" "$WORK/keys" "$WORK/bad.raucb" "$ART/rauc-bundle-bad.log"
  rm -f "$WORK/update.squashfs" "$WORK/bad.squashfs"
  log "full slot: squashfs $(($(stat -c %s "$WORK/in/rootfs.squashfs") / 1048576)) MiB, bundles $(($(stat -c %s "$WORK/update.raucb") / 1048576)) and $(($(stat -c %s "$WORK/bad.raucb") / 1048576)) MiB, initrd $(($(stat -c %s "$WORK/full-initrd.cpio.gz") / 1024)) KiB"
}

# /data as data-init.sh leaves it after a first boot (ext4, label data, filling the card), made
# here with the two signed bundles in /data/test-bundles, as if uploaded earlier: the emulated
# board has no network the host reaches, the probe's serial line is too slow for 100s of MiB,
# and making /data at the first boot and copying between power-ons cost a boot. The x86 test
# (tests/qemu-boot.sh) proves the first boot's growing and formatting.
full_data_image() { # OUTPUT SIZE
  local dir="$WORK/full-data"
  rm -rf "${dir:?}" "$1"
  mkdir -p "$dir/test-bundles"
  cp "$WORK/update.raucb" "$WORK/bad.raucb" "$dir/test-bundles/"
  truncate -s "$2" "$1"
  mkfs.ext4 -q -F -L data -m 1 -d "$dir" "$1"
  rm -rf "${dir:?}"
}

# The small layout of tests/qemu-boot.sh (64 MiB ring) on a 2 GiB card whose data partition
# reaches its end, holding full_data_image. The pre-seed file on p1 sets the admin password
# (README.md, "Pre-seed"). The firmware's DTB without the Bluetooth chip on the PL011, which the
# probe uses (the emulated board has no radio).
build_full_card() {
  local started=$SECONDS start size
  cp "$OUT/bcm2837-rpi-3-b.dtb" "$WORK/full-firmware.dtb"
  fdtput -r "$WORK/full-firmware.dtb" /soc/serial@7e201000/bluetooth
  build_full_slots
  printf '[admin]\npassword = "%s"\n' "$FULL_ADMIN_PASSWORD" >"$WORK/in/moment.toml"
  small_card_cfg 64M 1162M 886M '"u-boot.bin", "boot.scr", "bcm2837-rpi-3-b.dtb", "moment.toml"' \
    >"$WORK/full-genimage.cfg"
  make_card "$WORK/full-card.img" "$WORK/full-genimage.cfg" 2G
  read -r start size < <(card_partition "$WORK/full-card.img" 6)
  full_data_image "$WORK/full-data.img" $((size / 2))K
  dd if="$WORK/full-data.img" of="$WORK/full-card.img" bs=1M oflag=seek_bytes seek=$((start * 512)) \
    conv=notrunc,sparse status=none
  rm -f "$WORK/full-data.img" "$WORK/update.raucb" "$WORK/bad.raucb"
  log "full card built in $((SECONDS - started)) s"
}

# --- the board ------------------------------------------------------------------------------

# One power-on of the scenario's card (FULL_CARD names it, its probe socket and its cookies):
# the console (mini UART) to a file, the probe (PL011) on a socket. Reboots inside the guest
# reset the board and stay in the same QEMU process.
board_on() { # NAME
  BOARD_LOG="$ART/$1.log"
  BOARD_STARTED=$SECONDS
  rm -f "$WORK/$FULL_CARD.sock"
  # Its own process group (setsid), so that a power cut reaches QEMU, not only timeout(1).
  setsid timeout -s KILL 3000 qemu-system-aarch64 -M raspi3b -accel "$BOARD_ACCEL" -kernel "$OUT/u-boot.bin" \
    -dtb "$WORK/full-firmware.dtb" -drive if=sd,format=raw,file="$WORK/$FULL_CARD.img" -display none \
    -monitor none -serial unix:"$WORK/$FULL_CARD.sock",server=on,wait=off -serial file:"$BOARD_LOG" \
    -append "$(firmware_cmdline) $FULL_CMDLINE" </dev/null >"$ART/$1.qemu.log" 2>&1 &
  BOARD_PID=$!
}

# A power cut (SIGKILL), after the guest wrote back what it had.
board_off() {
  [[ -n "$BOARD_PID" ]] || return 0
  probe sync >/dev/null 2>&1 || true
  kill -KILL -- -"$BOARD_PID" 2>/dev/null || true
  wait "$BOARD_PID" 2>/dev/null || true
  BOARD_PID=""
}

probe() { python3 tests/qemu-boot/guest.py probe "$WORK/$FULL_CARD.sock" 60 "$@"; }
board_api() { python3 tests/qemu-boot/guest.py probe-api "$WORK/$FULL_CARD.sock" "$WORK/$FULL_CARD.cookies" "$@"; }

# wait_console TEXT COUNT SECONDS: the console has shown TEXT COUNT times (a reboot shows
# U-Boot's lines again); prints the seconds since power-on.
wait_console() {
  local text="$1" count="$2" deadline=$((SECONDS + $3)) seen
  while ((SECONDS < deadline)); do
    seen="$(tr -d '\r' 2>/dev/null <"$BOARD_LOG" | grep -cF -- "$text" || true)"
    if ((seen >= count)); then
      echo "'$text' (${count}x) at $((SECONDS - BOARD_STARTED)) s"
      return 0
    fi
    kill -0 "$BOARD_PID" 2>/dev/null || { echo "QEMU exited"; return 1; }
    sleep 1
  done
  echo "'$text' seen ${seen:-0} of $count times in $3 s"
  return 1
}

# Bounded: systemd reports the recorder active only after its READY=1 (Type=notify).
wait_recorder() {
  local deadline=$((SECONDS + FULL_BOOT_S)) state=""
  python3 tests/qemu-boot/guest.py wait-probe "$WORK/$FULL_CARD.sock" "$FULL_BOOT_S" || return 1
  while ((SECONDS < deadline)); do
    state="$(probe systemctl is-active moment-recorder.service || true)"
    if [[ "$state" == active ]]; then
      echo "moment-recorder.service active (READY) at $((SECONDS - BOARD_STARTED)) s"
      return 0
    fi
    sleep 2
  done
  echo "moment-recorder.service is '$state' after $FULL_BOOT_S s"
  return 1
}

# wait_env VAR VALUE SECONDS: the card's environment (fw_printenv on the image file) holds it.
wait_env() {
  local deadline=$((SECONDS + $3)) value=""
  while ((SECONDS < deadline)); do
    value="$(env_get "$FULL_CARD" "$1" || true)"
    if [[ "$value" == "$2" ]]; then
      echo "$1=$2 on the card at $((SECONDS - BOARD_STARTED)) s"
      return 0
    fi
    sleep 2
  done
  echo "$1 is '$value', not '$2', after $3 s"
  return 1
}

root_is() { # PARTITION VERSION: / is that slot's squashfs, read-only, running that version
  local mount version
  mount="$(probe findmnt -n -o SOURCE,FSTYPE,OPTIONS /)"
  version="$(probe sed -n 's/^VERSION=//p' /etc/os-release)"
  [[ "$mount" =~ ^/dev/mmcblk0p$1\ +squashfs\ +ro, ]] || { echo "/ is $mount"; return 1; }
  [[ "$version" == "\"$2\"" ]] || { echo "running $version, not $2"; return 1; }
  echo "/ is /dev/mmcblk0p$1 (squashfs, read-only), version $2"
}

on_slot_dtb() { # the running kernel got the slot's DTB, not the firmware's
  local dtb
  dtb="$(probe "tr -d '\\000' </proc/device-tree/moment-test/dtb" || true)"
  [[ "$dtb" == full-slot ]] || { echo "/proc/device-tree/moment-test/dtb is '$dtb'"; return 1; }
  echo "the kernel runs on the slot's /boot/board.dtb"
}

same_machine_id() {
  local id
  id="$(probe cat /etc/machine-id)"
  [[ "$id" == "$MACHINE_ID_FIRST" ]] || { echo "machine ID $id, first boot had $MACHINE_ID_FIRST"; return 1; }
  echo "machine ID $id as at the first boot"
}

# p5 holds a ring with segments: the recorder's own inspection (the aarch64 binary under
# qemu-user) of a copy of the partition.
ring_on_p5() {
  local start size newest
  read -r start size < <(card_partition "$WORK/$FULL_CARD.img" 5)
  dd if="$WORK/$FULL_CARD.img" of="$WORK/$FULL_CARD-p5.img" bs=512 skip="$start" count="$size" status=none
  newest="$("$(full_recorder)" ring inspect "$WORK/$FULL_CARD-p5.img" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["stats"]["newest_seq"])')"
  rm -f "$WORK/$FULL_CARD-p5.img"
  [[ "$newest" =~ ^[0-9]+$ ]] || { echo "no segment in p5's ring: newest_seq=$newest"; return 1; }
  echo "p5's ring holds segments up to $newest"
}

rauc_says_bad() { # SLOT_NAME (rootfs.0 is A)
  local status
  status="$(probe rauc status --detailed --output-format=json)"
  python3 - "$1" "$status" <<'PY'
import json, sys
slots = {}
for entry in json.loads(sys.argv[2])["slots"]:
    slots.update(entry)
state = slots[sys.argv[1]]["boot_status"]
if state != "bad":
    sys.exit(f"RAUC reports {sys.argv[1]} {state}")
print(f"RAUC reports {sys.argv[1]} bad")
PY
}

# --- the journey ----------------------------------------------------------------------------

# need NAME COMMAND...: check, and fail the step at once when it fails (what follows needs it).
need() {
  local before=$FAILED
  check "$@"
  ((FAILED == before))
}

# Boot 1 of a fresh card, both scenarios: U-Boot takes A, the recorder on A's squashfs is
# READY and marks A good; the web app's login works. The first-boot checks are full_update's.
first_full_boot() { # FIRST_BOOT_CHECKS (yes or no)
  board_on "$FULL_CARD-boot1"
  if [[ "$1" == yes ]]; then check f-uboot wait_console "U-Boot 2023.01" 1 60; fi
  need "$FULL_CARD-slot-a" wait_console "moment: booting slot A (A left 2" 1 "$FULL_BOOT_S" || return 1
  need "$FULL_CARD-recorder-ready" wait_recorder || return 1
  MACHINE_ID_FIRST="$(probe cat /etc/machine-id)"
  if [[ "$1" == yes ]]; then
    check f-kernel console_says "$FULL_CARD-boot1" "Starting kernel"
    check f-root-slot-a root_is 2 "$FULL_VERSION"
    check f-slot-dtb on_slot_dtb
    check f-machine-id-stored wait_env machine_id "$MACHINE_ID_FIRST" 120
  fi
  need "$FULL_CARD-marked-good" wait_env BOOT_A_LEFT 3 120 || return 1
  need "$FULL_CARD-login" board_api login "$FULL_ADMIN_PASSWORD" 120
}

# The good bundle uploaded to the web app installs into B; the web app's reboot; U-Boot boots
# B, whose recorder confirms the update and marks B good, with the first boot's machine ID.
good_update() {
  need f-update-install board_api update-install /data/test-bundles/update.raucb "$FULL_INSTALL_S" B || return 1
  check f-order-b-a env_is "$FULL_CARD" BOOT_ORDER "B A"
  check f-reboot board_api reboot
  need f-slot-b wait_console "moment: booting slot B (A left 3, B left 2)" 1 "$FULL_BOOT_S" || return 1
  need f-recorder-ready-b wait_recorder || return 1
  check f-root-slot-b root_is 3 "$UPDATE_VERSION"
  check f-slot-b-dtb on_slot_dtb
  check f-machine-id-slot-b same_machine_id
  need f-login-slot-b board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  check f-update-confirmed board_api update-confirmed "$UPDATE_VERSION" "$FULL_BOOT_S"
  check f-b-marked-good wait_env BOOT_B_LEFT 3 120
  board_off
  check f-ring-on-p5 ring_on_p5
}

# The bad bundle (its recorder binary is damaged) installs into B; after the reboot B never gets
# healthy (its recorder crash-loops) and update-deadline.sh reboots it, three times; U-Boot falls
# back to A by itself, RAUC reports B bad, the recorder says it rolled back.
bad_update() {
  need r-bad-install board_api update-install /data/test-bundles/bad.raucb "$FULL_INSTALL_S" B || return 1
  check r-order-b-a env_is "$FULL_CARD" BOOT_ORDER "B A"
  check r-reboot-into-bad board_api reboot
  need r-bad-tries wait_console "moment: booting slot B (A left 3, B left 0)" 1 "$FULL_ROLLBACK_S" || return 1
  need r-fallback-a wait_console "moment: booting slot A (A left 2, B left 0)" 1 "$FULL_BOOT_S" || return 1
  need r-recorder-ready-fallback wait_recorder || return 1
  check r-root-fallback root_is 2 "$FULL_VERSION"
  need r-login-fallback board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  check r-rolled-back board_api update-rolled-back "$BAD_VERSION" "$FULL_BOOT_S"
  check r-rauc-b-bad rauc_says_bad rootfs.1
  check r-fallback-marked-good wait_env BOOT_A_LEFT 3 120
  check r-machine-id-fallback same_machine_id
}

# full_journey CARD STEP...: a fresh copy of the full card through the steps, each failing fast.
full_journey() {
  local started=$SECONDS step
  FULL_CARD="$1"
  shift
  cp --sparse=always "$WORK/full-card.img" "$WORK/$FULL_CARD.img"
  card_env_config "$FULL_CARD"
  rm -f "$WORK/$FULL_CARD.cookies"
  trap board_off EXIT
  for step in "$@"; do
    "$step" || { FAILED=$((FAILED + 1)); break; }
    log "$FULL_CARD: $step done at $((SECONDS - started)) s"
    ((FAILED == 0)) || break
  done
  board_off
  log "$FULL_CARD scenario took $((SECONDS - started)) s"
  return "$FAILED"
}

# The two halves run side by side on their own cards (two cores, one QEMU each).
first_boot_checked() { first_full_boot yes; }
first_boot_plain() { first_full_boot no; }
scenario_full_update() { full_journey full_update first_boot_checked good_update; }
scenario_full_rollback() { full_journey full_rollback first_boot_plain bad_update; }
