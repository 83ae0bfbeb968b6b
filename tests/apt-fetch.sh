#!/usr/bin/env bash
# apt_fetch, shared by the whole-system boot tests (tests/qemu-boot.sh, tests/emulated-board.sh):
# one Debian package downloaded once into a cache directory and unpacked. Sourced, not run.

# apt_fetch CACHE PACKAGE[:ARCH] DIR: the package's files unpacked into DIR (the .deb kept in
# CACHE, so a MOMENT_QEMU_CACHE directory makes later runs offline for it).
apt_fetch() {
  local cache="$1" package="$2" dir="$3" deb
  mkdir -p "$cache" "$dir"
  deb="$(cached_deb "$cache" "$package")"
  if [[ -z "$deb" ]]; then
    # As root, apt warns that it downloads without its sandbox user: expected here. A failed
    # download is reported below, by the missing file.
    (cd "$cache" && apt-get download -qq "$package" 2>&1 | { grep -v 'unsandboxed' || true; } >&2) || true
    deb="$(cached_deb "$cache" "$package")"
  fi
  [[ -n "$deb" ]] || { printf 'apt_fetch: apt-get download %s failed\n' "$package" >&2; return 1; }
  dpkg-deb -x "$deb" "$dir"
}

# cached_deb CACHE PACKAGE[:ARCH]: the cached .deb of that package and architecture (one cache
# may hold busybox-static for amd64 and arm64), or nothing.
cached_deb() {
  local name="${2%%:*}" arch
  arch="$(dpkg --print-architecture)"
  [[ "$2" == *:* ]] && arch="${2#*:}"
  find "$1" -maxdepth 1 \( -name "${name}_*_${arch}.deb" -o -name "${name}_*_all.deb" \) | head -n 1
}
