#!/usr/bin/env bash
# Builds the firmware on a machine with internet (Debian/Ubuntu with Buildroot's host
# dependencies): downloads the pinned Buildroot release, verifies it, builds
# moment_zero2w_defconfig with this repository's external tree, and leaves sdcard.img.xz,
# sdcard.img.bmap and the .raucb bundle in OUT/dist.
#   ci/build-image.sh [OUT]            (default OUT: ./output-image, ignored by git)
#   MOMENT_RAUC_KEY, MOMENT_RAUC_CERT  release signing key and CA certificate; without them a
#                                      development pair is made by ci/rauc-dev-keys.sh
# Downloads are cached in OUT/dl (BR2_DL_DIR); with it in place the build runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BR_VERSION="2025.02.16"
# sha256 of buildroot-$BR_VERSION.tar.xz. Pin it from the release's signed announcement
# (https://buildroot.org/downloads/buildroot-$BR_VERSION.tar.xz.sign, checked with
# `gpg --verify` against the Buildroot release key); the build refuses to run until it is set.
readonly BR_SHA256="PLACEHOLDER-pin-from-buildroot-2025.02.16.tar.xz.sign"
readonly BR_URL="https://buildroot.org/downloads/buildroot-${BR_VERSION}.tar.xz"
REPO="$(pwd)"
readonly REPO
OUT="$(realpath -m "${1:-output-image}")"
readonly OUT

fetch_buildroot() {
  local tarball="$OUT/dl/buildroot-$BR_VERSION.tar.xz"
  if [[ "$BR_SHA256" == PLACEHOLDER* ]]; then
    echo "build-image: pin BR_SHA256 in ci/build-image.sh first (see the comment above it)" >&2
    exit 1
  fi
  mkdir -p "$OUT/dl"
  [[ -s "$tarball" ]] || curl --fail --location --proto '=https' -o "$tarball.part" "$BR_URL"
  [[ -s "$tarball" ]] || mv "$tarball.part" "$tarball"
  echo "$BR_SHA256  $tarball" | sha256sum --check --quiet -
  if [[ ! -d "$OUT/buildroot-$BR_VERSION" ]]; then
    tar -C "$OUT" -xf "$tarball"
  fi
}

check_pins() {
  if grep -q PLACEHOLDER buildroot-external/package/*/*.hash; then
    echo "build-image: a package hash is still a placeholder:" >&2
    grep -l PLACEHOLDER buildroot-external/package/*/*.hash >&2
    echo "build-image: each .hash file says how to produce it" >&2
    exit 1
  fi
}

signing_keys() {
  if [[ -z "${MOMENT_RAUC_KEY:-}" || -z "${MOMENT_RAUC_CERT:-}" ]]; then
    echo "build-image: no MOMENT_RAUC_KEY/MOMENT_RAUC_CERT: signing with a development key" >&2
    eval "$(ci/rauc-dev-keys.sh)"
  fi
  export MOMENT_RAUC_KEY MOMENT_RAUC_CERT
}

build() {
  local make=(make -C "$OUT/buildroot-$BR_VERSION" O="$OUT/build"
    BR2_EXTERNAL="$REPO/buildroot-external" BR2_DL_DIR="$OUT/dl")
  "${make[@]}" moment_zero2w_defconfig
  "${make[@]}"
}

collect() {
  local images="$OUT/build/images"
  mkdir -p "$OUT/dist"
  cp "$images/sdcard.img.xz" "$images/sdcard.img.bmap" "$images"/*.raucb "$OUT/dist/"
  (cd "$OUT/dist" && sha256sum -- * >SHA256SUMS)
  echo "build-image: $OUT/dist"
  ls -l "$OUT/dist"
}

main() {
  check_pins
  fetch_buildroot
  signing_keys
  build
  collect
}

main "$@"
