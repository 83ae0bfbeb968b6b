#!/usr/bin/env bash
# Builds the firmware on a machine with internet (Debian/Ubuntu with Buildroot's host
# dependencies): downloads the pinned Buildroot release, verifies it, builds
# moment_zero2w_defconfig with this repository's external tree, and leaves sdcard.img.xz,
# sdcard.img.bmap and the .raucb bundle in OUT/dist.
#   ci/build-image.sh [OUT]            (default OUT: ./output-image, ignored by git)
#   ci/build-image.sh --pin-rclone [OUT]
#                                      once per rclone version bump: downloads and vendors
#                                      rclone, writes its hashes into rclone.hash (review and
#                                      commit them), and stops
#   MOMENT_RAUC_KEY, MOMENT_RAUC_CERT  release signing key and CA certificate; without them a
#                                      development pair is made by ci/rauc-dev-keys.sh
# Downloads are cached in OUT/dl (BR2_DL_DIR); with it in place the build runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BR_VERSION="2025.02.16"
# sha256 of buildroot-$BR_VERSION.tar.xz as the release's signed statement
# (buildroot-$BR_VERSION.tar.xz.sign) gives it. It could not be downloaded where this tree was
# written; the value is the one two independent public build trees record for this release, one
# of them after checking the statement's signature. fetch_buildroot also requires the statement
# it downloads to name this same hash, and checks its signature when gpg has the key.
readonly BR_SHA256="15305e3d366eeaf4a5ecaf2ed42f685fd6af7fe5dbf1f62e1de5f46ee83225e2"
readonly BR_URL="https://buildroot.org/downloads/buildroot-${BR_VERSION}.tar.xz"
readonly RCLONE_HASH_FILE="buildroot-external/package/rclone/rclone.hash"
REPO="$(pwd)"
readonly REPO
PIN_RCLONE=false
if [[ "${1:-}" == "--pin-rclone" ]]; then
  PIN_RCLONE=true
  shift
fi
readonly PIN_RCLONE
OUT="$(realpath -m "${1:-output-image}")"
readonly OUT

download() {
  local url="$1" file="$2"
  [[ -s "$file" ]] && return 0
  curl --fail --location --proto '=https' -o "$file.part" "$url"
  mv "$file.part" "$file"
}

# The signed statement must name the pinned hash; its signature is checked when the release
# key is in the keyring (gpg --recv-keys the key of the statement's signer once).
check_statement() {
  local statement="$1"
  if ! grep -qi "SHA256: *$BR_SHA256 *buildroot-$BR_VERSION.tar.xz" "$statement"; then
    echo "build-image: $statement does not name the pinned sha256; refusing" >&2
    exit 1
  fi
  if command -v gpg >/dev/null && gpg --verify "$statement" 2>/dev/null; then
    echo "build-image: Buildroot's signed statement verified by gpg"
  else
    echo "build-image: note: signature of $statement not verified (no gpg or no key)" >&2
  fi
}

fetch_buildroot() {
  local tarball="$OUT/dl/buildroot-$BR_VERSION.tar.xz"
  mkdir -p "$OUT/dl"
  download "$BR_URL" "$tarball"
  download "$BR_URL.sign" "$tarball.sign"
  check_statement "$tarball.sign"
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

# Trust on first use, once per version bump: Buildroot vendors rclone's Go modules into a
# tarball of its own, so no upstream hash exists for it. Download with the hash file set aside,
# then write the tarball's and the licence file's hashes for review and commit.
pin_rclone() {
  local pending="$RCLONE_HASH_FILE.pending"
  mv "$RCLONE_HASH_FILE" "$pending"
  trap 'mv "$pending" "$RCLONE_HASH_FILE"' EXIT
  local make=(make -C "$OUT/buildroot-$BR_VERSION" O="$OUT/build"
    BR2_EXTERNAL="$REPO/buildroot-external" BR2_DL_DIR="$OUT/dl")
  "${make[@]}" moment_zero2w_defconfig
  "${make[@]}" rclone-source
  trap - EXIT
  mv "$pending" "$RCLONE_HASH_FILE"
  write_rclone_hashes "$OUT/dl/rclone"
}

write_rclone_hashes() {
  local dir="$1" tarball name copying
  tarball="$(find "$dir" -maxdepth 1 -name 'rclone-*-go2.tar.gz' -print -quit)"
  [[ -n "$tarball" ]] || { echo "build-image: no vendored rclone tarball in $dir" >&2; exit 1; }
  name="$(basename "$tarball")"
  copying="$(tar -xOzf "$tarball" --wildcards '*/COPYING' | sha256sum | cut -d' ' -f1)"
  sed -i -E \
    -e "s|^sha256 +[^ ]+ +$name\$|sha256  $(sha256sum "$tarball" | cut -d' ' -f1)  $name|" \
    -e "s|^sha256 +[^ ]+ +COPYING\$|sha256  $copying  COPYING|" \
    "$RCLONE_HASH_FILE"
  grep -q PLACEHOLDER "$RCLONE_HASH_FILE" && { echo "build-image: $name not in $RCLONE_HASH_FILE" >&2; exit 1; }
  echo "build-image: pinned $name; review and commit $RCLONE_HASH_FILE"
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
  if "$PIN_RCLONE"; then
    fetch_buildroot
    pin_rclone
    return
  fi
  check_pins
  fetch_buildroot
  signing_keys
  build
  collect
}

main
