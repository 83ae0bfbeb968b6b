#!/usr/bin/env bash
# The emulated board's scenarios (sourced by tests/emulated-board.sh). Each one copies the
# card genimage made, changes its environment from the host (fw_setenv, or damage), powers
# the board on in QEMU and asserts from outside: the initramfs marker line (slot, root, the
# DTB's model, which DTB the kernel got and the overlays applied to it, the command line) and the
# environment U-Boot left on the card. Each runs in its own subshell and returns the number of
# failed checks. Needs OUT, WORK, ART, HERE, MARKER, TEST_SENSOR and make_slot (card.sh).

readonly BOOT_TIMEOUT_S=150
readonly MODEL="Raspberry Pi 3 Model B"
readonly MACHINE_ID=4d6f6d656e742d7265636f7264657221
readonly STALE_FDT_ADDR=0x1f000000
# What the saved environment may hold: uboot-env.txt's variables, the counters, machine_id.
OWN_VARS="$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' board/zero2w/uboot-env.txt | tr '\n' ' ')machine_id"
readonly OWN_VARS
FAILED=0
# What the marker shows of the kernel's DTB when each slot boots (card.sh make_slot): slot A
# carries its own DTB and overlays.env names moment-test; slot B is older, without a DTB, and
# boots on the firmware's (the marker then shows no overlay: the firmware applied none of ours).
# A scenario's own slots set theirs (each scenario runs in a subshell).
declare -A SLOT_DTB=([A]="dtb=slot-A overlays=moment-test " [B]="dtb=firmware overlays=- ")

check() { # NAME COMMAND...
  local name="$1" output
  shift
  if output="$("$@" 2>&1)"; then
    printf 'emulated-board: PASS %-24s %s\n' "$name" "${output//$'\n'/; }"
  else
    printf 'emulated-board: FAIL %-24s %s\n' "$name" "${output//$'\n'/; }"
    FAILED=$((FAILED + 1))
  fi
}

# The Pi firmware merges cmdline.txt into the DTB's /chosen/bootargs; QEMU does the same with
# -append. The board's line, with the emulator's console (the mini UART, QEMU's second serial
# port, is ttyS1 here) and the RAM of a Zero 2 W.
firmware_cmdline() {
  sed -e 's/console=serial0,115200/console=ttyS1,115200/' -e 's/ console=tty1//' -e 's/ quiet//' \
    board/zero2w/cmdline.txt | tr -d '\n'
  printf ' mem=512M'
}

# card_env_config NAME: the image's own fw_env.config (overlay/), with the card file NAME.img in
# place of /dev/mmcblk0, so fw_printenv and fw_setenv here read the offsets the camera's do.
card_env_config() {
  sed "s|^/dev/mmcblk0 |$WORK/$1.img |" overlay/etc/fw_env.config >"$WORK/$1.fw_env.config"
  grep -q "^$WORK/$1.img " "$WORK/$1.fw_env.config" || die "overlay/etc/fw_env.config names no /dev/mmcblk0"
}

new_card() { # NAME: a fresh copy of the card
  cp --sparse=always "$WORK/card.img" "$WORK/$1.img"
  card_env_config "$1"
}

env_get() { fw_printenv -c "$WORK/$1.fw_env.config" -n "$2" 2>/dev/null; }
env_set() { fw_setenv -c "$WORK/$1.fw_env.config" "${@:2}"; }

# power_on CARD BOOT_NAME [boot.py options]: one boot; its JSON result in RESULT, timings shown.
# The DTB QEMU hands U-Boot, as the firmware would: FIRMWARE_DTB (default card.sh's firmware.dtb).
power_on() {
  local card="$1" name="$2"
  shift 2
  RESULT="$(python3 "$HERE/boot.py" --accel "$BOARD_ACCEL" --card "$WORK/$card.img" --uboot "$OUT/u-boot.bin" \
    --dtb "${FIRMWARE_DTB:-$WORK/firmware.dtb}" --append "$(firmware_cmdline)" --log "$ART/$name.log" \
    --timeout "$BOOT_TIMEOUT_S" "$@")"
  printf 'emulated-board: time %-24s U-Boot %s s, Starting kernel %s s, marker %s s (ended: %s)\n' \
    "$name" "$(result banners)" "$(result starting_kernel)" "$(result marker)" "$(result ended)"
}

result() { # KEY: a field of the last boot's result
  python3 -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print("-" if v is None else v)' \
    "$RESULT" "$1"
}

# The marker shows the slot's own initrd, the DTB's model, which DTB the kernel got and the
# overlays applied to it (SLOT_DTB), the firmware's bootargs (cmdline.txt's line) followed by the
# slot's root and RAUC's slot name, and whatever else the command line must carry.
marker_shows() { # SLOT PART [TEXT...]
  local line text
  line="$(result marker_line)"
  for text in "slot=$1 " "model=$MODEL " "${SLOT_DTB[$1]}" \
    "cmdline=$(firmware_cmdline) root=/dev/mmcblk0p$2 rauc.slot=$1" "${@:3}"; do
    [[ "$line" == *"$text"* ]] || { echo "no '$text' in: $line"; return 1; }
  done
  echo "slot $1 from /dev/mmcblk0p$2, ${SLOT_DTB[$1]% }, firmware bootargs kept, in $(result marker) s"
}

env_is() { # CARD VAR VALUE
  local value
  value="$(env_get "$1" "$2")"
  [[ "$value" == "$3" ]] || { echo "$2 is '$value', expected '$3'"; return 1; }
  echo "$2=$3"
}

# The saved environment holds nothing the firmware or U-Boot found at the boot.
only_own_vars() { # CARD
  local name foreign=()
  for name in $(fw_printenv -c "$WORK/$1.fw_env.config" | sed -n 's/^\([^=]*\)=.*/\1/p'); do
    [[ " $OWN_VARS " == *" $name "* ]] || foreign+=("$name")
  done
  ((${#foreign[@]} == 0)) || { echo "saved: ${foreign[*]}"; return 1; }
  echo "saved variables are all the board's own"
}

# A cut inside the save leaves exactly the copy being written with a bad CRC.
torn_copy() { # CARD
  local state
  state="$(python3 "$HERE/envtool.py" check "$WORK/$1.img")" && { echo "both copies valid: $state"; return 1; }
  [[ "$(grep -c 'BAD crc' <<<"$state")" == 1 ]] || { echo "$state"; return 1; }
  echo "$state"
}

copies_valid() { python3 "$HERE/envtool.py" check "$WORK/$1.img"; }
console_says() { grep -qF "$2" "$ART/$1.log" || { echo "no '$2' on the console"; return 1; }; echo "'$2'"; }

scenario_first_boot() {
  new_card a
  power_on a a-first-boot
  check a-marker marker_shows A 2
  check a-slot-dtb console_says a-first-boot "moment: DTB from slot A, overlays: moment-test"
  check a-counter env_is a BOOT_A_LEFT 2
  check a-no-firmware-vars only_own_vars a
  env_set a machine_id "$MACHINE_ID"
  power_on a a-machine-id
  check a-machine-id marker_shows A 2 "systemd.machine_id=$MACHINE_ID"
  check a-machine-id-kept env_is a machine_id "$MACHINE_ID"
  return "$FAILED"
}

scenario_slot_choice() {
  new_card b
  env_set b BOOT_ORDER "B A"
  power_on b b-order-b-a
  check b-order-b-a marker_shows B 3
  check b-no-slot-dtb console_says b-order-b-a "moment: slot B has no /boot/board.dtb"
  check b-firmware-dtb console_says b-order-b-a "moment: DTB from the firmware"
  check b-counter-b env_is b BOOT_B_LEFT 2
  env_set b BOOT_B_LEFT 0
  power_on b b-b-spent
  check b-b-spent-falls-to-a marker_shows A 2
  check b-counter-a env_is b BOOT_A_LEFT 2
  env_set b BOOT_A_LEFT 0
  power_on b b-both-spent
  check b-both-spent-reset console_says b-both-spent "no slot has attempts left"
  check b-both-spent-boots marker_shows B 3
  check b-both-spent-counters env_is b BOOT_A_LEFT 3
  return "$FAILED"
}

scenario_stale_fdt_addr() {
  new_card c
  # As the old script left a card: a saved fdt_addr, and no ramdisk_addr_r (added since).
  env_set c fdt_addr "$STALE_FDT_ADDR"
  env_set c ramdisk_addr_r
  power_on c c-stale-fdt-addr
  check c-stale-fdt-addr-boots marker_shows A 2
  check c-stale-fdt-addr-gone only_own_vars c
  check c-defaults-filled-in env_is c ramdisk_addr_r 0x02700000
  return "$FAILED"
}

# Which DTB the kernel gets, beyond the plain cases of the other scenarios.
# Slot A lists in overlays.env an overlay it lacks and one that fails half-applied, and the
# firmware's DTB names a camera: the kernel still runs on slot A's DTB, with moment-test and the
# camera's overlay and nothing of the failed one. Slot B's DTB is larger than the room below the
# initrd: B boots on the firmware's DTB.
scenario_slot_dtb() {
  make_slot A faults "$WORK/rootfs-A-faults.squashfs"
  make_slot B oversize "$WORK/rootfs-B-oversize.squashfs"
  new_card c2
  write_slot "$WORK/c2.img" A "$WORK/rootfs-A-faults.squashfs"
  write_slot "$WORK/c2.img" B "$WORK/rootfs-B-oversize.squashfs"
  SLOT_DTB[A]="dtb=slot-A overlays=moment-test,$TEST_SENSOR "
  FIRMWARE_DTB="$WORK/firmware-camera.dtb" power_on c2 c-slot-dtb-faults
  check c-dtb-overlays-camera marker_shows A 2
  check c-dtb-summary console_says c-slot-dtb-faults "moment: DTB from slot A, overlays: moment-test $TEST_SENSOR"
  check c-dtb-missing-overlay console_says c-slot-dtb-faults "moment: slot A has no /boot/overlays/moment-missing.dtbo; booting without it"
  check c-dtb-failed-overlay console_says c-slot-dtb-faults "moment: overlay moment-broken of slot A did not apply; booting without it"
  env_set c2 BOOT_ORDER "B A"
  power_on c2 c-oversize-dtb
  check c-oversize-dtb-boots marker_shows B 3
  check c-oversize-dtb-refused console_says c-oversize-dtb "moment: /boot/board.dtb of slot B needs"
  return "$FAILED"
}

scenario_damaged_env() {
  new_card d1
  python3 "$HERE/envtool.py" corrupt "$WORK/d1.img" 0x400000
  power_on d1 d-one-copy-bad
  check d-one-copy-bad-boots marker_shows A 2
  check d-both-copies-valid copies_valid d1
  new_card d2
  python3 "$HERE/envtool.py" corrupt "$WORK/d2.img" 0x400000
  python3 "$HERE/envtool.py" corrupt "$WORK/d2.img" 0x410000
  power_on d2 d-both-copies-bad
  check d-default-env console_says d-both-copies-bad "using default environment"
  check d-both-bad-boots marker_shows A 2
  return "$FAILED"
}

# A power cut after the k-th of the save's 32 block writes; the next boot takes a slot and
# saves (stopped there: the kernel's load is the other scenarios' and the slowest part).
scenario_power_cut() {
  local seed k left
  for seed in ${MOMENT_EMULATED_SEEDS:-1 2 3}; do
    k="$(python3 -c 'import random, sys; print(random.Random(int(sys.argv[1])).randint(1, 32))' "$seed")"
    printf 'emulated-board: power cut seed %s: after SD block write %s of the save (replay: MOMENT_EMULATED_SEEDS=%s)\n' "$seed" "$k" "$seed"
    new_card "e$seed"
    cp --sparse=always "$WORK/e$seed.img" "$WORK/e$seed-before.img"
    power_on "e$seed" "e-cut-seed-$seed" --trace "$WORK/e$seed.trace" --cut-after "$k"
    check "e-cut-$seed" python3 "$HERE/envtool.py" cut "$WORK/e$seed.img" "$WORK/e$seed-before.img" "$WORK/e$seed.trace" "$k"
    rm -f "$WORK/e$seed-before.img"
    ((k == 32)) || check "e-cut-$seed-torn" torn_copy "e$seed"
    power_on "e$seed" "e-after-cut-seed-$seed" --until "moment: booting slot"
    check "e-after-cut-$seed-boots" console_says "e-after-cut-seed-$seed" "moment: booting slot A"
    check "e-after-cut-$seed-valid" copies_valid "e$seed"
    # Cut within the save, the old copy holds (3, this boot takes 1); after its last block,
    # the new copy does (2, this boot takes another).
    left=$((k < 32 ? 2 : 1))
    check "e-after-cut-$seed-saved" env_is "e$seed" BOOT_A_LEFT "$left"
  done
  return "$FAILED"
}
