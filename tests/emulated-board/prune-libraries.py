#!/usr/bin/env python3
"""prune-libraries.py ROOT LIBDIR: removes the shared libraries directly in LIBDIR (a path inside
ROOT) that no ELF file of ROOT outside LIBDIR needs, directly or through other libraries
(DT_NEEDED), except glibc's own, loaded by name at run time (NSS modules, the dynamic loader).
The emulated board's full roots use it (full-boot.sh strip_root): Debian's packages bring
libraries no program of a camera's root loads, the bad update's root without its camera program
would otherwise still carry the 160 MiB only ffmpeg links, and every MiB of a slot or a bundle
is seconds of emulated SD card. Prints what it freed. Python's standard library and binutils' readelf."""

import os
import subprocess
import sys

# Loaded by name (dlopen, or the kernel's ELF interpreter), never as DT_NEEDED of a program.
ALWAYS_KEPT = ("libnss_", "ld-linux", "libc.so", "libresolv", "libthread_db")
# A bound on the files read, so a wrong ROOT cannot keep this busy for long.
MAX_FILES = 200_000


def needed(path):
    """The DT_NEEDED names of an ELF file, or [] for anything else."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return []
    except OSError:
        return []
    out = subprocess.run(["readelf", "-dW", path], capture_output=True, text=True, check=False).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def main(root, libdir):
    lib_abs = os.path.realpath(os.path.join(root, libdir.lstrip("/")))
    libs = {name: os.path.join(lib_abs, name) for name in os.listdir(lib_abs)
            if ".so" in name and not os.path.isdir(os.path.join(lib_abs, name))}
    wanted, todo, seen = set(), [], 0
    for dirpath, _, filenames in os.walk(root):
        if os.path.realpath(dirpath) == lib_abs:
            continue
        for name in filenames:
            seen += 1
            if seen > MAX_FILES:
                sys.exit(f"prune-libraries: more than {MAX_FILES} files under {root}")
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                todo.extend(needed(path))
    while todo:
        soname = todo.pop()
        if soname in wanted:
            continue
        wanted.add(soname)
        if soname in libs:
            todo.extend(needed(os.path.realpath(libs[soname])))
    keep = set()
    for soname in wanted & libs.keys():
        keep.add(soname)
        keep.add(os.path.basename(os.path.realpath(libs[soname])))
    freed = 0
    for name, path in sorted(libs.items()):
        if name in keep or name.startswith(ALWAYS_KEPT):
            continue
        if not os.path.islink(path):
            freed += os.path.getsize(path)
        os.unlink(path)
    print(f"prune-libraries: {freed >> 20} MiB of libraries nothing links removed from {libdir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
