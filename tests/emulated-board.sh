#!/usr/bin/env bash
# The boot chain on an emulated board: the image's U-Boot (board/zero2w/uboot.fragment, the
# default environment from uboot-env.txt), boot.scr from board/zero2w/boot.cmd and a card made
# with board/zero2w/genimage.cfg boot in QEMU raspi3b (TCG) into a kernel and initramfs loaded
# from the slot's zstd squashfs. Scenarios (tests/emulated-board/scenarios.sh, README.md there):
# first boot, slot choice and counting, a stale saved fdt_addr, damaged environments, power
# cuts during saveenv, the kernel on the slot's DTB and overlays, and the whole system on the
# card through an update and a roll-back.
# Prints PASS/FAIL per check and fails if any check fails.
#   --console   build the cards and boot the full one (both slots: the whole system) with the
#               console on this terminal, root without a password (Ctrl-A X quits)
#   --base      only make the full boot's arm64 Debian base (mmdebstrap) into the cache, so CI
#               can make it while other checks run
# Environment: MOMENT_QEMU_CACHE (keep downloads), MOMENT_SHARED (U-Boot's source),
# MOMENT_EMULATED_SEEDS (power cut seeds, default "1 2 3"), MOMENT_EMULATED_ONLY (the
# scenarios to run, e.g. "full_update full_rollback": a real root through an update and a
# roll-back, tests/emulated-board/full-boot.sh), and full-boot.sh's own.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly HERE=tests/emulated-board
readonly OUT=target/emulated-board
readonly WORK="$OUT/work"
readonly ART="$OUT/artifacts"
readonly CACHE="${MOMENT_QEMU_CACHE:-$OUT/cache}"
# Longest first, so that the two at a time finish together.
SCENARIOS=(full_rollback full_update slot_choice first_boot damaged_env slot_dtb stale_fdt_addr power_cut)
[[ -n "${MOMENT_EMULATED_ONLY:-}" ]] && read -r -a SCENARIOS <<<"$MOMENT_EMULATED_ONLY"
readonly SCENARIOS
# Two QEMUs share the two cores: one TCG thread each (raspi3b has four vCPUs, which multi-threaded
# TCG would run as four threads fighting over two cores).
readonly BOARD_ACCEL="tcg,thread=single"
STARTED=$SECONDS

log() { printf 'emulated-board: %s\n' "$*"; }
die() { printf 'emulated-board: FAIL %s\n' "$*" >&2; exit 1; }

# shellcheck source=tests/apt-fetch.sh
source tests/apt-fetch.sh
# shellcheck source=tests/emulated-board/card.sh
source "$HERE/card.sh"
# shellcheck source=tests/emulated-board/scenarios.sh
source "$HERE/scenarios.sh"
# shellcheck source=tests/emulated-board/full-boot.sh
source "$HERE/full-boot.sh"

build() {
  rm -rf "${WORK:?}" "${ART:?}"
  mkdir -p "$WORK" "$ART"
  "$HERE/build-uboot.sh"
  build_card board/zero2w/boot.cmd "$WORK/card.img"
  if [[ " ${SCENARIOS[*]} " == *" full_"* ]]; then build_full_card; fi
  log "card built in $((SECONDS - STARTED)) s"
}

# The full card when it was built (the default): systemd, the recorder and a root login on the
# console; otherwise the boot loader's card, whose initramfs prints its marker and stops.
console() {
  local card="$WORK/card.img" dtb="$OUT/bcm2837-rpi-3-b.dtb"
  if [[ -s "$WORK/full-card.img" ]]; then
    card="$WORK/console-card.img" dtb="$WORK/full-firmware.dtb"
    cp --sparse=always "$WORK/full-card.img" "$card"
  fi
  exec timeout 3600 qemu-system-aarch64 -M raspi3b -accel tcg -kernel "$OUT/u-boot.bin" \
    -dtb "$dtb" -drive if=sd,format=raw,file="$card" -nographic \
    -serial null -serial mon:stdio -append "$(firmware_cmdline)"
}

# Two scenarios at a time (two cores; one QEMU each), each in its own subshell and log.
run_scenarios() {
  local name running=0 failed=0
  for name in "${SCENARIOS[@]}"; do
    if ((running == 2)); then
      wait -n || failed=$((failed + 1))
      running=$((running - 1))
    fi
    ("scenario_$name") >"$ART/scenario-$name.out" 2>&1 &
    running=$((running + 1))
  done
  for ((; running > 0; running--)); do
    wait -n || failed=$((failed + 1))
  done
  for name in "${SCENARIOS[@]}"; do cat "$ART/scenario-$name.out"; done
  return "$failed"
}

main() {
  if [[ "${1:-}" == --base ]]; then
    full_base_tar >/dev/null || die "no arm64 Debian base (mmdebstrap failed)"
    log "arm64 base ready in $((SECONDS - STARTED)) s"
    return 0
  fi
  build
  [[ "${1:-}" == --console ]] && console
  if ! run_scenarios; then
    die "scenarios failed after $((SECONDS - STARTED)) s; consoles in $ART"
  fi
  log "PASS: every scenario passed in $((SECONDS - STARTED)) s"
}

main "$@"
