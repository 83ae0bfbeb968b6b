#!/bin/bash
# First boot (and every boot, as a no-op afterwards): grow the extended partition p4 and the
# data partition p6 to the end of the card, then make p6 an ext4 filesystem or grow the one
# there. The ring p5 and the root slots are never touched. MOMENT_DISK lets a test use a loop
# device.
set -euo pipefail

readonly DISK="${MOMENT_DISK:-/dev/mmcblk0}"
readonly DATA_NR=6
readonly EXTENDED_NR=4
readonly SECTOR=512

part() { # DISK N -> the partition's node (mmcblk0p6, loop0p6, sda6)
  case "$1" in
    *[0-9]) printf '%sp%s\n' "$1" "$2" ;;
    *) printf '%s%s\n' "$1" "$2" ;;
  esac
}

disk_sectors() {
  echo $(($(blockdev --getsize64 "$DISK") / SECTOR))
}

partition_end() { # N -> first sector after partition N
  sfdisk --dump "$DISK" | awk -v node="$(part "$DISK" "$1")" '
    $1 == node { gsub(/[^0-9]/, "", $4); gsub(/[^0-9]/, "", $6); print $4 + $6 }'
}

grow_partitions() {
  local end total
  end="$(partition_end "$DATA_NR")"
  total="$(disk_sectors)"
  [[ -n "$end" ]] || { echo "data-init: no partition $DATA_NR on $DISK" >&2; exit 1; }
  # Already at the end (within the 1 MiB alignment sfdisk keeps): nothing to do.
  if ((total - end < 2048)); then
    return 0
  fi
  echo "data-init: growing $(part "$DISK" "$DATA_NR") to the end of $DISK"
  echo ',+' | sfdisk --no-reread --no-tell-kernel --quiet -N "$EXTENDED_NR" "$DISK"
  echo ',+' | sfdisk --no-reread --no-tell-kernel --quiet -N "$DATA_NR" "$DISK"
  # The root is in use, so the whole table cannot be re-read: update p6 alone.
  partx --update --nr "$DATA_NR" "$DISK"
}

filesystem_bytes() { # NODE
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '
    $1 == "Block count" { count = $2 } $1 == "Block size" { size = $2 } END { printf "%d\n", count * size }'
}

# Only when the partition is larger than the filesystem (the first boot, a larger card): resize2fs
# refuses any filesystem mounted since its last full check, which after the first boot is every
# one, so calling it on every boot kept /data from mounting (seen in tests/qemu-boot.sh).
grow_filesystem() { # NODE
  local spare
  spare=$(($(blockdev --getsize64 "$1") - $(filesystem_bytes "$1")))
  ((spare >= 1048576)) || return 0
  echo "data-init: growing the filesystem on $1"
  e2fsck -f -p "$1" || (($? < 4))
  resize2fs "$1"
}

make_or_grow_filesystem() {
  local node fstype
  node="$(part "$DISK" "$DATA_NR")"
  fstype="$(blkid --probe --match-tag TYPE --output value "$node" || true)"
  case "$fstype" in
    "")
      echo "data-init: formatting $node (ext4, label data)"
      mkfs.ext4 -q -F -L data -m 1 "$node"
      ;;
    ext4)
      e2fsck -p "$node" || (($? < 4))
      grow_filesystem "$node"
      ;;
    *)
      echo "data-init: $node holds $fstype, not ext4; leaving it alone" >&2
      exit 1
      ;;
  esac
}

main() {
  grow_partitions
  make_or_grow_filesystem
}

main "$@"
