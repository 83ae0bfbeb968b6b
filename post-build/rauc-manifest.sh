#!/usr/bin/env bash
# Prints the RAUC manifest of an update bundle holding one root image (rootfs.squashfs), for
# VERSION: what post-image.sh signs for a release and the boot tests sign for theirs, so both
# are the same kind of bundle. The compatible string is the one the image's RAUC accepts
# (overlay/etc/rauc/system.conf); verity is the only format the image takes.
set -euo pipefail

readonly VERSION="${1:?usage: rauc-manifest.sh VERSION}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
COMPATIBLE="$(sed -n 's/^compatible=//p' "$REPO/overlay/etc/rauc/system.conf")"
readonly COMPATIBLE
[[ -n "$COMPATIBLE" ]] || { echo "rauc-manifest: no compatible= in overlay/etc/rauc/system.conf" >&2; exit 1; }

cat <<MANIFEST
[update]
compatible=$COMPATIBLE
version=$VERSION

[bundle]
format=verity

[image.rootfs]
filename=rootfs.squashfs
MANIFEST
