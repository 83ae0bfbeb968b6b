#!/usr/bin/env bash
# Builds the firmware on a machine with internet (Debian/Ubuntu with Buildroot's host
# dependencies): downloads the pinned Buildroot release, verifies it, builds
# moment_zero2w_defconfig with this repository's external tree, and leaves sdcard.img.xz,
# sdcard.img.bmap and the .raucb bundle in OUT/dist.
#   ci/build-image.sh [OUT]            (default OUT: ./output-image, ignored by git)
#   ci/build-image.sh --pin [OUT]     once per version bump of rclone or the kernel: downloads
#                                      the files no upstream hash exists for (rclone vendored by
#                                      Buildroot, GitHub's kernel tarball), writes their hashes
#                                      over the placeholders (review and commit them), and stops
#   MOMENT_RAUC_KEY, MOMENT_RAUC_CERT  release signing key and CA certificate; without them a
#                                      development pair is made by ci/rauc-dev-keys.sh
# Downloads are cached in OUT/dl (BR2_DL_DIR); with it in place the build runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BR_VERSION="2025.02.16"
# sha256 of buildroot-$BR_VERSION.tar.xz: the release tarball in ../shared/upstream, which
# ci/check-buildroot.sh checks the tree against (the same value there). fetch_buildroot also
# requires the release's signed statement to name this same hash, and checks its signature
# when gpg has the key.
readonly BR_SHA256="2d9b55d32b4e5df5253f9fb01b88b74bc0a57a338b9d1d4ac37d145c0697ade2"
readonly BR_URL="https://buildroot.org/downloads/buildroot-${BR_VERSION}.tar.xz"
# Hash files with lines that only a first online download can fill (PLACEHOLDER), and the
# Buildroot package whose download each one covers.
readonly PINNED=("buildroot-external/package/rclone/rclone.hash:rclone"
  "buildroot-external/patches/linux/linux.hash:linux")
REPO="$(pwd)"
readonly REPO
PIN=false
if [[ "${1:-}" == "--pin" ]]; then
  PIN=true
  shift
fi
readonly PIN
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
  if grep -q PLACEHOLDER "${PINNED[@]%%:*}"; then
    echo "build-image: a download's hash is still a placeholder:" >&2
    grep -l PLACEHOLDER "${PINNED[@]%%:*}" >&2
    echo "build-image: run 'bash ci/build-image.sh --pin' once on a machine with internet" >&2
    exit 1
  fi
}

restore_pinned() {
  local entry
  for entry in "${PINNED[@]}"; do
    mv "${entry%%:*}.pending" "${entry%%:*}"
  done
}

# Trust on first use, once per version bump: no upstream hash exists for these downloads.
# Download them with the placeholder files set aside and hash checks not forced, then write
# each placeholder line's hash (a download, or a file inside it) for review and commit.
pin_downloads() {
  local entry file packages=()
  for entry in "${PINNED[@]}"; do
    file="${entry%%:*}"
    packages+=("${entry##*:}-source")
    mv "$file" "$file.pending"
  done
  trap restore_pinned EXIT
  local make=(make -C "$OUT/buildroot-$BR_VERSION" O="$OUT/build"
    BR2_EXTERNAL="$REPO/buildroot-external" BR2_DL_DIR="$OUT/dl")
  "${make[@]}" moment_zero2w_defconfig
  "${make[@]}" BR2_DOWNLOAD_FORCE_CHECK_HASHES= "${packages[@]}"
  restore_pinned
  trap - EXIT
  for entry in "${PINNED[@]}"; do
    write_pinned_hashes "${entry%%:*}" "$OUT/dl/${entry##*:}"
  done
  echo "build-image: pinned; review and commit ${PINNED[*]%%:*}"
}

# The sha256 of NAME: the downloaded file itself, or the file of that name in the download.
pinned_hash() { # DL_DIR NAME
  local dir="$1" name="$2" tarball
  if [[ -f "$dir/$name" ]]; then
    sha256sum "$dir/$name" | cut -d' ' -f1
    return
  fi
  tarball="$(find "$dir" -maxdepth 1 -name '*.tar.*' -print -quit)"
  [[ -n "$tarball" ]] || { echo "build-image: nothing downloaded in $dir" >&2; exit 1; }
  tar -xOf "$tarball" --wildcards "*/$name" | sha256sum | cut -d' ' -f1
}

write_pinned_hashes() { # HASH_FILE DL_DIR
  local file="$1" dir="$2" name hash
  while read -r name; do
    hash="$(pinned_hash "$dir" "$name")"
    sed -i -E "s|^sha256 +PLACEHOLDER[^ ]* +$name\$|sha256  $hash  $name|" "$file"
  done < <(awk '$1 == "sha256" && $2 ~ /^PLACEHOLDER/ { print $3 }' "$file")
  if grep -q PLACEHOLDER "$file"; then
    echo "build-image: $file still has a placeholder" >&2
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
  if "$PIN"; then
    fetch_buildroot
    pin_downloads
    return
  fi
  check_pins
  fetch_buildroot
  signing_keys
  build
  collect
}

main
