#!/usr/bin/env bash
# The emulated board's full_boot scenario (issue 20; sourced by tests/emulated-board.sh): the
# card's whole path on the raspi3b, not only the boot loader, through an update and a rollback.
# Both slots hold a real root (the arm64 Debian base, the cross-built recorder, overlay/,
# post-build.sh, as tests/root-tree.sh assembles it for tests/qemu-boot.sh) with /boot/Image and
# an initramfs that loads the SD, squashfs, ext4, vfat, loop, dm-verity and watchdog modules and
# switches to the read-only squashfs root. Asserted from outside (the console, fw_printenv on
# the card file, the test probe: a root shell on the PL011, test image only):
#   boot 1   first boot: U-Boot takes slot A (BOOT_A_LEFT 3 -> 2 on the card), systemd starts
#            the recorder on the squashfs root, it marks the slot good (back to 3), p5 holds a
#            ring, the machine ID is stored in the environment
#   host     two signed bundles are put on /data (the card file, between power-ons)
#   boot 2   the good bundle uploaded to the web app (curl in the guest) installs into slot B;
#            the web app's reboot resets the board; U-Boot boots B, whose recorder confirms it;
#            the machine ID is the same
#   boot 3   the bad bundle (its recorder binary is damaged) installs into slot A; after the
#            reboot A never gets healthy (its recorder crash-loops) and update-deadline.sh
#            reboots it, three times; U-Boot falls back to B by itself, RAUC reports A bad, the
#            recorder says it rolled back
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
readonly FULL_CMDLINE="systemd.status_unit_format=name systemd.mask=serial-getty@ttyS1.service"
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

# What ffmpeg's package pulls in and the recorder never loads: Mesa's drivers and LLVM (only
# they link it), documentation.
strip_root() { # ROOT
  rm -rf "$1"/usr/lib/aarch64-linux-gnu/dri "$1"/usr/lib/aarch64-linux-gnu/libLLVM* \
    "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale "$1"/var/cache/apt "$1"/var/lib/apt/lists
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

# The small layout of tests/qemu-boot.sh (64 MiB ring, data grown from 64 MiB at first boot) on
# a 4 GiB card (room on /data for two bundles and an upload): first-boot mkfs of a 14 GiB
# /data would write a 64 MiB journal at the emulated card's speed. The pre-seed file on p1
# sets the admin password (README.md, "Pre-seed"). The firmware's DTB without the Bluetooth
# chip on the PL011, which the probe uses (the emulated board has no radio).
build_full_card() {
  local started=$SECONDS
  cp "$OUT/bcm2837-rpi-3-b.dtb" "$WORK/full-firmware.dtb"
  fdtput -r "$WORK/full-firmware.dtb" /soc/serial@7e201000/bluetooth
  build_full_slots
  printf '[admin]\npassword = "%s"\n' "$FULL_ADMIN_PASSWORD" >"$WORK/in/moment.toml"
  small_card_cfg 64M 1162M 64M '"u-boot.bin", "boot.scr", "bcm2837-rpi-3-b.dtb", "moment.toml"' \
    >"$WORK/full-genimage.cfg"
  make_card "$WORK/full-card.img" "$WORK/full-genimage.cfg" 4G
  log "full card built in $((SECONDS - started)) s"
}

# --- the board ------------------------------------------------------------------------------

# One power-on of the card f: the console (mini UART) to a file, the probe (PL011) on a socket.
# Reboots inside the guest reset the board and stay in the same QEMU process.
board_on() { # NAME
  BOARD_LOG="$ART/$1.log"
  BOARD_STARTED=$SECONDS
  rm -f "$WORK/probe.sock"
  # Its own process group (setsid), so that a power cut reaches QEMU, not only timeout(1).
  setsid timeout -s KILL 3000 qemu-system-aarch64 -M raspi3b -accel tcg -kernel "$OUT/u-boot.bin" \
    -dtb "$WORK/full-firmware.dtb" -drive if=sd,format=raw,file="$WORK/f.img" -display none \
    -monitor none -serial unix:"$WORK/probe.sock",server=on,wait=off -serial file:"$BOARD_LOG" \
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

probe() { python3 tests/qemu-boot/guest.py probe "$WORK/probe.sock" 60 "$@"; }
board_api() { python3 tests/qemu-boot/guest.py probe-api "$WORK/probe.sock" "$WORK/cookies" "$@"; }

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
  python3 tests/qemu-boot/guest.py wait-probe "$WORK/probe.sock" "$FULL_BOOT_S" || return 1
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
    value="$(env_get f "$1" || true)"
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

test_machine_id() { # ID
  [[ "$1" =~ ^[0-9a-f]{32}$ ]] || { echo "machine_id on the card: '$1'"; return 1; }
  echo "machine_id=$1 on the card"
}

# p5 holds a ring with segments: the recorder's own inspection (the aarch64 binary under
# qemu-user) of a copy of the partition.
ring_on_p5() {
  local start size newest
  read -r start size < <(card_partition "$WORK/f.img" 5)
  dd if="$WORK/f.img" of="$WORK/f-p5.img" bs=512 skip="$start" count="$size" status=none
  newest="$("$(full_recorder)" ring inspect "$WORK/f-p5.img" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["stats"]["newest_seq"])')"
  rm -f "$WORK/f-p5.img"
  [[ "$newest" =~ ^[0-9]+$ ]] || { echo "no segment in p5's ring: newest_seq=$newest"; return 1; }
  echo "p5's ring holds segments up to $newest"
}

# The bundles on /data (p6, made at the first boot), as if uploaded earlier: the emulated board
# has no network the host reaches, and the probe's serial line is too slow for 100s of MiB.
bundles_on_data() {
  local start size mnt="$WORK/data-mnt"
  read -r start size < <(card_partition "$WORK/f.img" 6)
  mkdir -p "$mnt"
  mount -o loop,offset=$((start * 512)),sizelimit=$((size * 512)) "$WORK/f.img" "$mnt" || return 1
  mkdir -p "$mnt/test-bundles"
  # Unmounted whatever the copy does, so a failure leaves no mount behind.
  if ! cp "$WORK/update.raucb" "$WORK/bad.raucb" "$mnt/test-bundles/"; then
    umount "$mnt"
    return 1
  fi
  umount "$mnt"
  echo "update.raucb and bad.raucb in /data/test-bundles"
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

first_full_boot() {
  board_on f-boot1
  check f-uboot wait_console "U-Boot 2023.01" 1 60
  need f-slot-a wait_console "moment: booting slot A (A left 2" 1 "$FULL_BOOT_S" || return 1
  check f-kernel wait_console "Starting kernel" 1 "$FULL_BOOT_S"
  need f-recorder-ready wait_recorder || return 1
  check f-root-slot-a root_is 2 "$FULL_VERSION"
  check f-slot-dtb on_slot_dtb
  check f-marked-good wait_env BOOT_A_LEFT 3 120
  MACHINE_ID_FIRST="$(probe cat /etc/machine-id)"
  check f-machine-id-stored test_machine_id "$(env_get f machine_id || true)"
  need f-login board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  board_off
  check f-ring-on-p5 ring_on_p5
  need f-bundles-on-data bundles_on_data || return 1
}

good_update() {
  board_on f-boot2
  need f-slot-a-again wait_console "moment: booting slot A (A left 2" 1 "$FULL_BOOT_S" || return 1
  need f-recorder-ready-again wait_recorder || return 1
  need f-login-again board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  need f-update-install board_api update-install /data/test-bundles/update.raucb "$FULL_INSTALL_S" B || return 1
  check f-order-b-a env_is f BOOT_ORDER "B A"
  check f-reboot board_api reboot
  need f-slot-b wait_console "moment: booting slot B (A left 3, B left 2)" 1 "$FULL_BOOT_S" || return 1
  need f-recorder-ready-b wait_recorder || return 1
  check f-root-slot-b root_is 3 "$UPDATE_VERSION"
  check f-slot-b-dtb on_slot_dtb
  check f-machine-id-slot-b same_machine_id
  need f-login-slot-b board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  check f-update-confirmed board_api update-confirmed "$UPDATE_VERSION" "$FULL_BOOT_S"
  check f-b-marked-good wait_env BOOT_B_LEFT 3 120
}

bad_update() {
  need f-bad-install board_api update-install /data/test-bundles/bad.raucb "$FULL_INSTALL_S" A || return 1
  check f-reboot-into-bad board_api reboot
  # Boots 1 and 2 showed slot A once each with 2 left; the bad slot shows 2, 1, 0 left.
  need f-bad-tries wait_console "moment: booting slot A (A left 0" 1 "$FULL_ROLLBACK_S" || return 1
  need f-fallback-b wait_console "moment: booting slot B (A left 0, B left 2)" 1 "$FULL_BOOT_S" || return 1
  need f-recorder-ready-fallback wait_recorder || return 1
  check f-root-fallback root_is 3 "$UPDATE_VERSION"
  need f-login-fallback board_api login "$FULL_ADMIN_PASSWORD" 120 || return 1
  check f-rolled-back board_api update-rolled-back "$BAD_VERSION" "$FULL_BOOT_S"
  check f-rauc-a-bad rauc_says_bad rootfs.0
  check f-fallback-marked-good wait_env BOOT_B_LEFT 3 120
  check f-machine-id-fallback same_machine_id
}

scenario_full_boot() {
  local started=$SECONDS step
  cp --sparse=always "$WORK/full-card.img" "$WORK/f.img"
  card_env_config f
  rm -f "$WORK/cookies"
  trap board_off EXIT
  for step in first_full_boot good_update bad_update; do
    "$step" || { FAILED=$((FAILED + 1)); break; }
    log "full_boot: $step done at $((SECONDS - started)) s"
    ((FAILED == 0)) || break
  done
  board_off
  log "full_boot scenario took $((SECONDS - started)) s"
  return "$FAILED"
}
