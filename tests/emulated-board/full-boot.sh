#!/usr/bin/env bash
# The emulated board's full_boot scenario (issue 20; sourced by tests/emulated-board.sh when
# MOMENT_EMULATED_FULL=1): the card's whole path on the raspi3b, not only the boot loader.
# Slot A holds a real root (the arm64 Debian base, the recorder, overlay/, post-build.sh, as
# tests/root-tree.sh assembles it for tests/qemu-boot.sh) with /boot/Image and an initramfs that
# loads the SD, squashfs, ext4 and vfat modules and switches to the read-only squashfs root.
# Asserted from outside: U-Boot takes slot A and saves BOOT_A_LEFT=2 on the card, systemd reaches
# the recorder's READY, the recorder marks the slot good through RAUC (BOOT_A_LEFT back to 3 on
# the card, read with fw_printenv), and p5 holds a ring. Needs OUT, WORK, ART, CACHE, HERE, die,
# log, and card.sh's and scenarios.sh's functions.
# Environment: MOMENT_EMULATED_BASE (an arm64 base tarball; default: made with mmdebstrap and
# kept in the cache, ~9 min under load), MOMENT_RECORDER_BIN (the aarch64 recorder; default
# ci/cross-check.sh's build).

# shellcheck source=tests/root-tree.sh
source tests/root-tree.sh

readonly FULL_PACKAGES=systemd,systemd-sysv,udev,dbus,util-linux,fdisk,e2fsprogs,rauc,rauc-service,libubootenv-tool,ffmpeg
readonly FULL_BOOT_TIMEOUT_S=900
# systemd's status lines with unit names (the marks below), not cut to the console's width; no
# getty on the console, which would silence them (test only: the image keeps its getty).
readonly FULL_CMDLINE="systemd.status_unit_format=name systemd.mask=serial-getty@ttyS1.service"
# The SD host (sdhost; sdhci-iproc for the other controller), the root's squashfs, /data's
# ext4, /boot's vfat, loop for RAUC. Not bcm2835_wdt: QEMU's raspi3b resets once systemd arms
# it (README.md, Known limits).
readonly FULL_MODULES=(bcm2835 sdhci-iproc squashfs ext4 vfat nls_cp437 nls_ascii loop)

full_base_tar() {
  if [[ -n "${MOMENT_EMULATED_BASE:-}" ]]; then
    echo "$MOMENT_EMULATED_BASE"
  else
    # shellcheck disable=SC2153 # CACHE comes from tests/emulated-board.sh
    debian_base_tar "$CACHE" arm64 "$FULL_PACKAGES"
  fi
}

# What ffmpeg's package pulls in and the recorder never loads: Mesa's drivers and LLVM (only
# they link it), documentation.
strip_root() { # ROOT
  rm -rf "$1"/usr/lib/aarch64-linux-gnu/dri "$1"/usr/lib/aarch64-linux-gnu/libLLVM* \
    "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale "$1"/var/cache/apt "$1"/var/lib/apt/lists
}

build_full_slot() {
  local root="$WORK/full-root" kver recorder base
  recorder="${MOMENT_RECORDER_BIN:-${CARGO_TARGET_DIR:-target}/cross/aarch64-unknown-linux-gnu/release/moment-recorder}"
  [[ -x "$recorder" ]] || die "no aarch64 recorder at $recorder (ci/cross-check.sh builds it)"
  kver="$(basename "$WORK"/kernel/lib/modules/*)"
  depmod -b "$WORK/kernel" "$kver"
  module_initramfs "$WORK/full-initrd.cpio.gz" "$WORK/kernel" "$kver" "$WORK/busybox/bin/busybox" "${FULL_MODULES[@]}"
  rm -rf "${root:?}"
  base="$(full_base_tar)" || die "no arm64 Debian base (mmdebstrap failed)"
  root_from_base "$root" "$base" "$recorder"
  strip_root "$root"
  ci/rauc-dev-keys.sh "$WORK/keys" >/dev/null
  finish_root "$root" emulated-test "$WORK/keys/dev.cert.pem"
  python3 tests/qemu-boot/guest.py merge-config overlay/etc/moment-recorder/config.toml \
    tests/qemu-boot/config-overrides.toml "$WORK/config-qemu.toml"
  python3 tests/qemu-boot/guest.py merge-config "$WORK/config-qemu.toml" "$HERE/config-overrides.toml" \
    "$root/etc/moment-recorder/config.toml"
  install -D -m 0644 "$KERNEL_IMAGE" "$root/boot/Image"
  install -m 0644 "$WORK/full-initrd.cpio.gz" "$root/boot/initrd"
  mksquashfs "$root" "$WORK/in/rootfs.squashfs" -comp zstd -Xcompression-level 3 -noappend -quiet >/dev/null
  log "full slot: squashfs $(($(stat -c %s "$WORK/in/rootfs.squashfs") / 1048576)) MiB, initrd $(($(stat -c %s "$WORK/full-initrd.cpio.gz") / 1024)) KiB"
}

# The small layout of tests/qemu-boot.sh (64 MiB ring, data grown from 64 MiB at first boot) on
# a 2 GiB card: first-boot mkfs of a 14 GiB /data would write a 64 MiB journal at the emulated
# card's speed. The full slot in both slots.
build_full_card() {
  local started=$SECONDS
  build_full_slot
  small_card_cfg 64M 1162M 64M '"u-boot.bin", "boot.scr", "bcm2837-rpi-3-b.dtb"' >"$WORK/full-genimage.cfg"
  make_card "$WORK/full-card.img" "$WORK/full-genimage.cfg" 2G
  log "full card built in $((SECONDS - started)) s"
}

# p5 holds a ring with segments: the recorder's own inspection (the aarch64 binary under
# qemu-user) of a copy of the partition.
ring_on_p5() { # CARD
  local start size recorder newest
  recorder="${MOMENT_RECORDER_BIN:-${CARGO_TARGET_DIR:-target}/cross/aarch64-unknown-linux-gnu/release/moment-recorder}"
  read -r start size < <(sfdisk --dump "$WORK/$1.img" |
    awk -v n="$WORK/$1.img5" '$1 == n { gsub(/[^0-9]/, "", $4); gsub(/[^0-9]/, "", $6); print $4, $6 }')
  dd if="$WORK/$1.img" of="$WORK/$1-p5.img" bs=512 skip="$start" count="$size" status=none
  newest="$("$recorder" ring inspect "$WORK/$1-p5.img" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["stats"]["newest_seq"])')"
  rm -f "$WORK/$1-p5.img"
  [[ "$newest" =~ ^[0-9]+$ ]] || { echo "no segment in p5's ring: newest_seq=$newest"; return 1; }
  echo "p5's ring holds segments up to $newest"
}

seen() { # MARK WHAT: the console showed the mark's text
  local at
  at="$(full_mark "$1")"
  [[ "$at" != - ]] || { echo "not on the console: the text of mark '$1'"; return 1; }
  echo "$2, at $at s"
}

full_mark() { # NAME: a --mark's time
  python3 -c 'import json, sys; v = json.loads(sys.argv[1])["marks"][sys.argv[2]]; print("-" if v is None else v)' \
    "$RESULT" "$1"
}

# full_power_on NAME [--mark NAME=TEXT...]: one boot of the card f to mark-good. Polled from
# the host every 2 s once systemd reports the recorder READY: the counter on the card, until it
# is back at 3 (every value seen goes to $WORK/NAME.seen).
full_power_on() {
  local name="$1" cfg="$WORK/f.fw_env.config" poll
  shift
  : >"$WORK/$name.seen"
  poll="v=\$(fw_printenv -c '$cfg' -n BOOT_A_LEFT 2>/dev/null); echo \" \$v\" >>'$WORK/$name.seen'; [ \"\$v\" = 3 ]"
  RESULT="$(python3 "$HERE/boot.py" --card "$WORK/f.img" --uboot "$OUT/u-boot.bin" \
    --dtb "$OUT/bcm2837-rpi-3-b.dtb" --log "$ART/$name.log" --timeout "$FULL_BOOT_TIMEOUT_S" \
    --append "$(firmware_cmdline) $FULL_CMDLINE" \
    --mark "slot=moment: booting slot A" --mark "systemd=Welcome to moment-recorder emulated-test!" \
    --mark "ring=Finished moment-ring-format.service" --mark "data=Finished moment-data-init.service" \
    --mark "recorder=Started moment-recorder.service" --mark "multi-user=Reached target multi-user.target" \
    "$@" --poll-after recorder --until-command "$poll")"
  sed -i 's/^ //' "$WORK/$name.seen"
  printf 'emulated-board: time %-24s U-Boot %s s, Starting kernel %s s, systemd %s s, data-init %s s, ring-format %s s, recorder READY %s s, multi-user %s s, mark-good seen %s s (ended: %s)\n' \
    "$name" "$(result banners)" "$(result starting_kernel)" "$(full_mark systemd)" "$(full_mark data)" \
    "$(full_mark ring)" "$(full_mark recorder)" "$(full_mark multi-user)" "$(result until_command)" "$(result ended)"
}

# BOOT_A_LEFT as polled during the boot NAME was 2 at READY (U-Boot's save), then 3 (mark-good).
counter_path() { # NAME
  local seen
  seen=" $(tr '\n' ' ' <"$WORK/$1.seen")"
  [[ "$seen" == " 2 "* && "$seen" == *" 3 " ]] || { echo "BOOT_A_LEFT seen: $seen"; return 1; }
  echo "BOOT_A_LEFT seen from READY on: $(uniq <"$WORK/$1.seen" | tr '\n' ' ')"
}

scenario_full_boot() {
  local started=$SECONDS machine_id
  cp --sparse=always "$WORK/full-card.img" "$WORK/f.img"
  printf '%s 0x400000 0x4000\n%s 0x410000 0x4000\n' "$WORK/f.img" "$WORK/f.img" >"$WORK/f.fw_env.config"
  check f-counter-before env_is f BOOT_A_LEFT 3
  full_power_on f-first-boot
  check f-slot-a console_says f-first-boot "moment: booting slot A"
  # The squashfs (read-only by its nature) of this build: post-build.sh's os-release.
  check f-root-slot-a seen systemd "systemd started from slot A's root"
  check f-recorder-ready seen recorder "systemd: Started moment-recorder.service (Type=notify: READY=1)"
  check f-counter-path counter_path f-first-boot
  check f-marked-good env_is f BOOT_A_LEFT 3
  check f-ring-on-p5 ring_on_p5 f
  # moment-machine-id.service stored the first boot's ID; the next boot passes it to systemd.
  machine_id="$(env_get f machine_id || true)"
  check f-machine-id-stored test_machine_id "$machine_id"
  full_power_on f-second-boot --mark "machine-id=systemd.machine_id=$machine_id"
  check f-second-machine-id seen machine-id "the kernel command line carries systemd.machine_id=$machine_id"
  check f-second-recorder-ready seen recorder "systemd: Started moment-recorder.service"
  check f-second-counter-path counter_path f-second-boot
  log "full_boot scenario took $((SECONDS - started)) s"
  return "$FAILED"
}

test_machine_id() { # ID
  [[ "$1" =~ ^[0-9a-f]{32}$ ]] || { echo "machine_id on the card: '$1'"; return 1; }
  echo "machine_id=$1 on the card"
}
