#!/usr/bin/env bash
# The firmware tree judged by the real Buildroot 2025.02.16 (issue 19), offline, from the release
# tarball in ../shared/upstream. A symbol list cannot see what Kconfig drops for an unmet
# dependency or what a package decides from the resolved configuration; Buildroot can:
#   defconfig      every line of moment_zero2w_defconfig survives `make moment_zero2w_defconfig`,
#                  and `make savedefconfig` gives back the same set of lines
#   check-package  Buildroot's own linter on every file of the tree; the only warnings allowed
#                  are the hashes pinned on the first online build (named below)
#   vendoring      the recorder's crates are vendored in its extract step with host-rustc
#                  ordered before it, also with per-package directories (make -j safe)
#   resolved       ci/buildroot_checks.py: boot files, camera, squashfs readers (U-Boot's merged
#                  config from tests/emulated-board/build-uboot.sh), module compression, one
#                  fw_printenv, the pinned U-Boot and a hash for every download
# Needs: make, gcc, rsync, python3-magic and flake8 (check-package; Debian's python), about a
# minute. MOMENT_SHARED names the shared folder (default: ../shared beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BR_VERSION="2025.02.16"
readonly BR_SHA256="2d9b55d32b4e5df5253f9fb01b88b74bc0a57a338b9d1d4ac37d145c0697ade2"
readonly SHARED="${MOMENT_SHARED:-../shared}"
readonly DEFCONFIG="buildroot-external/configs/moment_zero2w_defconfig"
# check-package's warnings that only the first online build can clear (ci/build-image.sh --pin).
readonly ALLOWED_WARNINGS=(
  "buildroot-external/package/rclone/rclone.hash:7: hash size does not match type"
  "buildroot-external/package/rclone/rclone.hash:9: hash size does not match type"
  "buildroot-external/patches/linux/linux.hash:6: hash size does not match type"
)
SCRATCH="$(mktemp -d)"
readonly SCRATCH
trap 'rm -rf "${SCRATCH:?}"' EXIT
readonly BR="$SCRATCH/buildroot-$BR_VERSION"
readonly OUT="$SCRATCH/out"

step() { printf 'check-buildroot: %s\n' "$*"; }
fail() { printf 'check-buildroot: FAIL %s\n' "$*" >&2; exit 1; }
br_make() { make -s -C "$BR" O="$OUT" BR2_EXTERNAL="$PWD/buildroot-external" "$@"; }
# The set of configuration lines of a defconfig or .config, sorted.
config_set() { grep -E '^(BR2_\w+=|# BR2_\w+ is not set)' "$1" | sort; }

unpack() {
  local tarball="$SHARED/upstream/buildroot-$BR_VERSION.tar.xz"
  [[ -f "$tarball" ]] || fail "no $tarball (MOMENT_SHARED)"
  echo "$BR_SHA256  $tarball" | sha256sum --check --quiet - || fail "$tarball: sha256 differs"
  tar -C "$SCRATCH" -xf "$tarball"
}

check_defconfig() {
  local dropped
  br_make moment_zero2w_defconfig >/dev/null
  dropped="$(comm -23 <(config_set "$DEFCONFIG") <(config_set "$OUT/.config"))"
  [[ -z "$dropped" ]] || fail "defconfig: Kconfig dropped or changed: ${dropped//$'\n'/; }"
  br_make savedefconfig BR2_DEFCONFIG="$SCRATCH/saved_defconfig" >/dev/null
  diff <(config_set "$DEFCONFIG") <(config_set "$SCRATCH/saved_defconfig") >&2 ||
    fail "defconfig: savedefconfig differs from $DEFCONFIG (left: committed, right: saved)"
  step "defconfig: $(config_set "$DEFCONFIG" | wc -l) lines kept by Kconfig; savedefconfig gives them back"
}

check_package() {
  local files=() output warnings allowed
  mapfile -t files < <(find buildroot-external board post-build overlay -type f | sort)
  # Debian's python, which has python3-magic and flake8 (not a pyenv one first on PATH).
  output="$(/usr/bin/python3 "$BR/utils/check-package" --br2-external "${files[@]}" 2>&1)" || true
  warnings="$(grep -vE '^[0-9]+ (lines processed|warnings generated)$' <<<"$output" | sed 's| (https://[^)]*)$||' || true)"
  allowed="$(printf '%s\n' "${ALLOWED_WARNINGS[@]}")"
  [[ "$warnings" == "$allowed" ]] ||
    fail "check-package: expected only the first-online-build placeholders, got: $output"
  step "check-package: ${#files[@]} files; only the ${#ALLOWED_WARNINGS[@]} placeholder hashes warn"
}

# Our hooks into Buildroot's steps. The rsync (a local package's extract step) must have
# host-rustc before it, also with per-package directories, and the vendoring hook must lock the
# shared cargo home.
check_hooks() {
  local rule hook uboot_hooks
  cp "$OUT/.config" "$SCRATCH/config.plain"
  echo 'BR2_PER_PACKAGE_DIRECTORIES=y' >>"$OUT/.config"
  br_make olddefconfig >/dev/null 2>&1
  rule="$(br_make -p printvars VARS=MOMENT_RECORDER_VERSION 2>/dev/null |
    grep -E '^[^ ]*/moment-recorder-local/\.stamp_rsynced: \|' || true)"
  hook="$(br_make printvars VARS=MOMENT_RECORDER_VENDOR_CRATES RAW_VARS=YES)"
  uboot_hooks="$(br_make printvars VARS=UBOOT_POST_EXTRACT_HOOKS)"
  cp "$SCRATCH/config.plain" "$OUT/.config"
  [[ "$rule" == *" host-rustc"* ]] || fail "vendoring: the rsync step is not ordered after host-rustc: $rule"
  [[ "$hook" == *"prepare-per-package-directory,host-rustc"* && "$hook" == *flock* ]] ||
    fail "vendoring: the hook neither fills its per-package host directory nor locks CARGO_HOME"
  # U-Boot's compiled-in environment is uboot-env.txt only if this hook copies it in.
  [[ "$uboot_hooks" == *MOMENT_UBOOT_DEFAULT_ENV* ]] ||
    fail "uboot: external.mk's hook that installs the default environment is not in effect"
  step "vendoring: host-rustc before the rsync, per-package host directory filled, cargo home locked;" \
    "U-Boot's default environment hook in effect"
}

# U-Boot's merged configuration is the emulated board's build (done once, reused there).
check_resolved() {
  tests/emulated-board/build-uboot.sh >/dev/null
  /usr/bin/python3 ci/buildroot_checks.py "$BR" "$OUT" target/emulated-board/u-boot-2023.01/.config
}

main() {
  local started=$SECONDS
  unpack
  check_defconfig
  check_package
  check_hooks
  check_resolved
  step "all checks passed in $((SECONDS - started)) s"
}

main "$@"
