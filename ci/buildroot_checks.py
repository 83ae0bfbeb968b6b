#!/usr/bin/env python3
"""Checks of the firmware tree against the real Buildroot, for ci/check-buildroot.sh.

A list of symbols cannot see what Kconfig drops for an unmet dependency, nor what a package's
.mk decides from the resolved configuration; Buildroot itself can. Every check here reads what
Buildroot 2025.02.16 resolved (O/.config, `make printvars`, `make show-info`) and names the
defect it guards against (issue 19).

  buildroot_checks.py BR_DIR O_DIR UBOOT_CONFIG

Exits 1 with one line per problem.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "buildroot-external"
DEFCONFIG = EXTERNAL / "configs" / "moment_zero2w_defconfig"
LINUX_FRAGMENT = ROOT / "board" / "zero2w" / "linux.fragment"
POST_IMAGE = ROOT / "post-build" / "post-image.sh"
CONFIG_TXT = ROOT / "board" / "zero2w" / "config.txt"

# The U-Boot version the emulated board builds from ../shared/upstream and boots.
UBOOT_VERSION = "2023.01"
UBOOT_SITE = "https://ftp.denx.de/pub/u-boot"

# Downloads whose hash can only be taken on the first online build (ci/build-image.sh --pin):
# GitHub makes the kernel's tarball on request, and Buildroot vendors rclone's Go modules into
# a tarball of its own. Each may be a placeholder; any other missing hash is a defect.
PIN_ON_FIRST_ONLINE_BUILD = {
    "linux": "linux-ac69f097e1fba94502cbd36278db204120a37943.tar.gz",
    "rclone": "rclone-1.69.1-go2.tar.gz",
}

# squashfs compressor (BR2_TARGET_ROOTFS_SQUASHFS4_*) -> (U-Boot's reader, the kernel's reader)
SQUASHFS_READERS = {
    "GZIP": ("CONFIG_ZLIB", "CONFIG_SQUASHFS_ZLIB"),
    "LZO": ("CONFIG_LZO", "CONFIG_SQUASHFS_LZO"),
    "ZSTD": ("CONFIG_ZSTD", "CONFIG_SQUASHFS_ZSTD"),
    "XZ": (None, "CONFIG_SQUASHFS_XZ"),
    "LZ4": (None, "CONFIG_SQUASHFS_LZ4"),
    "LZMA": (None, None),
}

# Kernel module compression -> the Buildroot package kmod needs to read such modules.
MODULE_COMPRESSION_NEEDS = {
    "CONFIG_MODULE_COMPRESS_GZIP": "BR2_PACKAGE_ZLIB",
    "CONFIG_MODULE_COMPRESS_XZ": "BR2_PACKAGE_XZ",
    "CONFIG_MODULE_COMPRESS_ZSTD": "BR2_PACKAGE_ZSTD",
}

problems = []


def problem(text):
    problems.append(text)


def config_lines(path):
    """The `SYMBOL=value` and `# SYMBOL is not set` lines of a Kconfig file, as a set."""
    wanted = re.compile(r"^((BR2_|CONFIG_)\w+=.*|# (BR2_|CONFIG_)\w+ is not set)$")
    return {line for line in Path(path).read_text().splitlines() if wanted.match(line)}


def config_values(path):
    """{SYMBOL: value} of a Kconfig file; `is not set` reads as 'n'."""
    values = {}
    for line in config_lines(path):
        if line.startswith("# "):
            values[line.split()[1]] = "n"
        else:
            name, value = line.split("=", 1)
            values[name] = value.strip('"')
    return values


def printvars(br_dir, out_dir, names):
    """{NAME: value} of Buildroot's make variables, as the package infrastructure computed them."""
    result = subprocess.run(
        ["make", "-s", "-C", str(br_dir), f"O={out_dir}", "printvars", f"VARS={' '.join(names)}"],
        check=True, capture_output=True, text=True, timeout=300)
    found = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        found[name.strip()] = value.strip()
    return found


def check_defconfig_kept(dot_config):
    """Nothing the defconfig asks for is dropped by an unmet dependency."""
    resolved = config_lines(dot_config)
    for line in sorted(config_lines(DEFCONFIG)):
        if line not in resolved:
            problem(f"defconfig: `{line}` did not survive Kconfig (an unmet dependency?)")


def check_squashfs(br, uboot, fragment):
    """U-Boot loads the kernel out of the slot and the kernel mounts it: both must read it."""
    chosen = [name for name in SQUASHFS_READERS if br.get(f"BR2_TARGET_ROOTFS_SQUASHFS4_{name}") == "y"]
    if len(chosen) != 1:
        problem(f"squashfs: expected one compressor, found {chosen}")
        return
    uboot_reader, kernel_reader = SQUASHFS_READERS[chosen[0]]
    if uboot_reader is None or uboot.get(uboot_reader) != "y":
        problem(f"squashfs: the root is {chosen[0]}, which U-Boot's merged config cannot read "
                f"({uboot_reader or 'no reader exists'}); U-Boot reads zlib, lzo and zstd")
    if uboot.get("CONFIG_FS_SQUASHFS") != "y":
        problem("squashfs: U-Boot's merged config lacks CONFIG_FS_SQUASHFS")
    if kernel_reader is None or fragment.get(kernel_reader) != "y":
        problem(f"squashfs: the root is {chosen[0]}, but linux.fragment does not set {kernel_reader}=y")


def check_module_compression(br, fragment):
    """kmod must read the modules the kernel installs (Wi-Fi and camera are modules)."""
    if "CONFIG_MODULE_COMPRESS" not in fragment:
        problem("modules: linux.fragment must set CONFIG_MODULE_COMPRESS explicitly "
                "(the Pi defconfig's choice is not checkable offline)")
    elif fragment["CONFIG_MODULE_COMPRESS"] == "y":
        chosen = [c for c in MODULE_COMPRESSION_NEEDS if fragment.get(c) == "y"]
        if len(chosen) != 1:
            problem(f"modules: compression on, but the fragment names no single type: {chosen}")
        for choice in chosen:
            if br.get(MODULE_COMPRESSION_NEEDS[choice]) != "y":
                problem(f"modules: {choice} needs {MODULE_COMPRESSION_NEEDS[choice]}=y for kmod")


def check_boot_partition(br, made):
    """What the Zero 2 W's boot ROM and firmware read from the FAT partition is installed."""
    files = made["RPI_FIRMWARE_FILES"].split()
    config_txt = dict(re.findall(r"^(\w+)=(\S+)$", CONFIG_TXT.read_text(), re.M))
    needed = ["bootcode.bin", config_txt.get("start_file", "start.elf"),
              config_txt.get("fixup_file", "fixup.dat")]
    for name in needed:
        if name not in files:
            problem(f"boot: rpi-firmware installs {files}, not {name} (the Zero 2 W needs it)")
    if br.get("BR2_PACKAGE_RPI_FIRMWARE_INSTALL_DTB_OVERLAYS") != "y":
        problem("boot: the DTB overlays config.txt names are not installed")
    dts = Path(br.get("BR2_LINUX_KERNEL_INTREE_DTS_NAME", "")).name + ".dtb"
    post_image_dtb = re.search(r'^readonly DTB="([^"]+)"', POST_IMAGE.read_text(), re.M)
    if post_image_dtb is None or post_image_dtb.group(1) != dts:
        problem(f"boot: post-image.sh puts {post_image_dtb and post_image_dtb.group(1)} on p1, "
                f"the kernel builds {dts}")
    if config_txt.get("kernel") != "u-boot.bin" or br.get("BR2_TARGET_UBOOT_FORMAT_BIN") != "y":
        problem("boot: config.txt must start u-boot.bin and Buildroot must build it")


def check_camera(br, made):
    """rpicam-vid writes MPEG-TS through its libav output, which needs ffmpeg and libdrm."""
    if "-Denable_libav=enabled" not in made["LIBCAMERA_APPS_CONF_OPTS"]:
        problem("camera: libcamera-apps is built without libav (needs BR2_PACKAGE_FFMPEG and "
                "BR2_PACKAGE_LIBDRM): rpicam-vid could not write MPEG-TS")
    if "--enable-libx264" not in made["FFMPEG_CONF_OPTS"]:
        problem("camera: the image's ffmpeg lacks libx264, which the test and generic sources use")


def check_one_fw_printenv(br):
    """RAUC runs fw_printenv/fw_setenv; two packages installing them fight over the files."""
    providers = [p for p in ("BR2_PACKAGE_UBOOT_TOOLS_FWPRINTENV", "BR2_PACKAGE_LIBUBOOTENV")
                 if br.get(p) == "y"]
    if len(providers) != 1:
        problem(f"fw_printenv: exactly one provider wanted, found {providers}")


def check_uboot_pinned(br, made):
    """The image's U-Boot is the version the emulated board boots, from U-Boot's own site."""
    if br.get("BR2_TARGET_UBOOT_VERSION") != UBOOT_VERSION:
        problem(f"uboot: the image builds U-Boot {br.get('BR2_TARGET_UBOOT_VERSION')}, "
                f"the emulated board tests {UBOOT_VERSION}")
    if made["UBOOT_SITE"] != UBOOT_SITE:
        problem(f"uboot: downloaded from {made['UBOOT_SITE']}, not U-Boot's release site")


def hash_entries(path):
    """{file name: [hash values]} of a Buildroot .hash file."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and not line.startswith("#"):
            entries.setdefault(fields[2], []).append(fields[1])
    return entries


def check_hashes(br_dir, out_dir):
    """BR2_DOWNLOAD_FORCE_CHECK_HASHES: every download of every package has a hash."""
    info = json.loads(subprocess.run(
        ["make", "-s", "-C", str(br_dir), f"O={out_dir}", "show-info"],
        check=True, capture_output=True, text=True, timeout=300).stdout)
    checked = 0
    for name, package in sorted(info.items()):
        if package.get("virtual") or package.get("version") == "local":
            continue
        known = {}
        for hash_file in package.get("hashes", []):
            path = Path(hash_file) if Path(hash_file).is_absolute() else Path(br_dir) / hash_file
            if path.is_file():
                for file, values in hash_entries(path).items():
                    known.setdefault(file, []).extend(values)
        for download in package.get("downloads", []):
            source = download["source"]
            values = known.get(source, [])
            checked += 1
            if PIN_ON_FIRST_ONLINE_BUILD.get(name) == source:
                if not values:
                    problem(f"hashes: {name}: no line for {source}, not even the placeholder")
                continue
            if not values or any(v.startswith("PLACEHOLDER") for v in values):
                problem(f"hashes: {name}: no hash for {source} in {package.get('hashes')}")
    return checked


def main():
    br_dir, out_dir, uboot_config = (Path(a) for a in sys.argv[1:4])
    br = config_values(out_dir / ".config")
    uboot = config_values(uboot_config)
    fragment = config_values(LINUX_FRAGMENT)
    made = printvars(br_dir, out_dir, ["RPI_FIRMWARE_FILES", "LIBCAMERA_APPS_CONF_OPTS",
                                        "FFMPEG_CONF_OPTS", "UBOOT_SITE"])
    check_defconfig_kept(out_dir / ".config")
    check_squashfs(br, uboot, fragment)
    check_module_compression(br, fragment)
    check_boot_partition(br, made)
    check_camera(br, made)
    check_one_fw_printenv(br)
    check_uboot_pinned(br, made)
    checked = check_hashes(br_dir, out_dir)
    for line in problems:
        print(f"check-buildroot: FAIL {line}")
    if problems:
        sys.exit(1)
    print(f"check-buildroot: resolved config, boot files, camera, squashfs readers, module "
          f"compression, fw_printenv and {checked} download hashes all hold")


if __name__ == "__main__":
    main()
