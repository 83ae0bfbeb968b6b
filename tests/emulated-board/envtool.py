#!/usr/bin/env python3
"""The card's redundant U-Boot environment seen from the host, for tests/emulated-board.sh:
each copy's CRC checked on its own (fw_printenv reads only the one it trusts), a copy
overwritten with garbage, and a power cut made exact from QEMU's trace of SD block writes.
A copy (board/zero2w/uboot.fragment, 16 KiB at 0x400000 and 0x410000) is crc32 of the data
(4 bytes, little-endian), a flags byte, then the data. Python's standard library only."""

import argparse
import random
import re
import sys
import zlib

COPIES = (0x400000, 0x410000)
SIZE = 0x4000
BLOCK = 512
WRITE = re.compile(r"sdcard_write_block addr (0x[0-9a-fA-F]+)")


def read_copy(card, offset):
    with open(card, "rb") as image:
        image.seek(offset)
        return image.read(SIZE)


def check(args):
    """Prints each copy's state; fails unless every copy checks."""
    bad = 0
    for offset in COPIES:
        copy = read_copy(args.card, offset)
        crc_ok = zlib.crc32(copy[5:]) == int.from_bytes(copy[:4], "little")
        bad += not crc_ok
        print(f"copy at {offset:#x}: {'crc ok' if crc_ok else 'BAD crc'}, flags {copy[4]}")
    return 1 if bad else 0


def corrupt(args):
    """Overwrites the copy at OFFSET with reproducible garbage."""
    garbage = random.Random(args.offset).randbytes(SIZE)
    with open(args.card, "r+b") as image:
        image.seek(args.offset)
        image.write(garbage)
    return 0


def cut(args):
    """QEMU died some writes after the k-th (the trace reaches the test late): every block
    written after the k-th gets back its content from before the boot, so the card is exactly
    what a power cut right after the k-th write leaves. Each block of a save is written once."""
    with open(args.trace, encoding="utf-8", errors="replace") as trace:
        writes = [int(m.group(1), 16) for m in map(WRITE.search, trace) if m]
    if len(writes) < args.k:
        print(f"only {len(writes)} SD block writes traced, the cut was to follow write {args.k}")
        return 1
    later = writes[args.k:]
    if set(later) & set(writes[:args.k]):
        print("a block was written twice: the cut cannot be made exact")
        return 1
    with open(args.before, "rb") as before, open(args.card, "r+b") as card:
        for addr in later:
            before.seek(addr)
            card.seek(addr)
            card.write(before.read(BLOCK))
    print(f"cut after write {args.k} (of the save's blocks {writes[0]:#x}..{writes[-1]:#x});"
          f" QEMU had written {len(writes)}, {len(later)} undone")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check")
    check_parser.add_argument("card")
    corrupt_parser = commands.add_parser("corrupt")
    corrupt_parser.add_argument("card")
    corrupt_parser.add_argument("offset", type=lambda value: int(value, 0))
    cut_parser = commands.add_parser("cut")
    cut_parser.add_argument("card")
    cut_parser.add_argument("before")
    cut_parser.add_argument("trace")
    cut_parser.add_argument("k", type=int)
    args = parser.parse_args()
    sys.exit({"check": check, "corrupt": corrupt, "cut": cut}[args.command](args))


if __name__ == "__main__":
    main()
