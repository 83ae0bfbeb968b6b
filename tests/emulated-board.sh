#!/usr/bin/env bash
# The boot chain on an emulated board: the image's U-Boot (board/zero2w/uboot.fragment, the
# default environment from uboot-env.txt), boot.scr from board/zero2w/boot.cmd and a card made
# with board/zero2w/genimage.cfg boot in QEMU raspi3b (TCG) into a kernel and initramfs loaded
# from the slot's zstd squashfs. Scenarios (tests/emulated-board/scenarios.sh, README.md there):
# first boot, slot choice and counting, a stale saved fdt_addr, damaged environments, power
# cuts during saveenv. Prints PASS/FAIL per check and fails if any check fails.
#   --console   build the card and boot it with the console on this terminal (Ctrl-A X quits)
# Environment: MOMENT_QEMU_CACHE (keep downloads), MOMENT_SHARED (U-Boot's source),
# MOMENT_EMULATED_SEEDS (power cut seeds, default "1 2 3"), MOMENT_EMULATED_FULL=1 (also the
# full_boot scenario: a real root to the recorder's mark-good, tests/emulated-board/full-boot.sh;
# MOMENT_EMULATED_ONLY=full_boot runs it alone).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly HERE=tests/emulated-board
readonly OUT=target/emulated-board
readonly WORK="$OUT/work"
readonly ART="$OUT/artifacts"
readonly CACHE="${MOMENT_QEMU_CACHE:-$OUT/cache}"
# Longest first, so that the two at a time finish together.
SCENARIOS=(slot_choice first_boot damaged_env stale_fdt_addr power_cut)
[[ "${MOMENT_EMULATED_FULL:-}" == 1 ]] && SCENARIOS=(full_boot "${SCENARIOS[@]}")
[[ -n "${MOMENT_EMULATED_ONLY:-}" ]] && read -r -a SCENARIOS <<<"$MOMENT_EMULATED_ONLY"
readonly SCENARIOS
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
  if [[ " ${SCENARIOS[*]} " == *" full_boot "* ]]; then build_full_card; fi
  log "card built in $((SECONDS - STARTED)) s"
}

console() {
  exec timeout 3600 qemu-system-aarch64 -M raspi3b -accel tcg -kernel "$OUT/u-boot.bin" \
    -dtb "$OUT/bcm2837-rpi-3-b.dtb" -drive if=sd,format=raw,file="$WORK/card.img" -nographic \
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
  build
  [[ "${1:-}" == --console ]] && console
  if ! run_scenarios; then
    die "scenarios failed after $((SECONDS - STARTED)) s; consoles in $ART"
  fi
  log "PASS: every scenario passed in $((SECONDS - STARTED)) s"
}

main "$@"
