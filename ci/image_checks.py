#!/usr/bin/env python3
"""Static checks of the firmware tree for ci/check-image.sh (no Buildroot download here).

  image_checks.py kconfig BR_DIR   BR2_ symbols, legacy symbols, upstream packages, the
                                   external tree's packages (Config.in sourced, .mk included)
  image_checks.py rootfs ROOT      a root tree after post-build.sh and data-seed.sh: fstab,
                                   enabled and masked units, mount points, run-time writes,
                                   resolv.conf outside private /tmp, avahi (its keys, its chroot), the
                                   machine ID left to systemd
  image_checks.py layout IMAGE     the partition table genimage wrote (sfdisk -J) against
                                   LAYOUT below, and the U-Boot environment offsets
                                   (fw_env.config, uboot.fragment, genimage.cfg) clear of it

Exits 1 with one line per problem.
"""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "buildroot-external"
DEFCONFIG = EXTERNAL / "configs" / "moment_zero2w_defconfig"
BR_VERSION = "2025.02.16"

MIB = 1024 * 1024
GIB = 1024 * MIB
SECTOR = 512

# The card (DESIGN.md 9), in the order sfdisk lists it: (number, MBR type, start, size).
# The extended partition p4 spans from its start to the end of p6.
LAYOUT = [
    (1, "c", 8 * MIB, 64 * MIB),
    (2, "83", 72 * MIB, 512 * MIB),
    (3, "83", 584 * MIB, 512 * MIB),
    (4, "f", 1096 * MIB, 9290 * MIB + 256 * MIB - 1096 * MIB),
    (5, "da", 1097 * MIB, 8 * GIB),
    (6, "83", 9290 * MIB, 256 * MIB),
]
RING_NR = 5
RING_SIZE = 8 * GIB
ENV_SIZE = 0x4000
# A card sold as 16 GB holds at least this much (the smallest seen: 14.8 GiB).
CARD_16GB = 14 * GIB + 800 * MIB


def read_lines(path):
    return [line.strip() for line in Path(path).read_text().splitlines()]


def symbols_used(path):
    """Every BR2_ symbol a defconfig or Config.in file names, with its line number."""
    used = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if "$(BR2_EXTERNAL" in line or "$BR2_EXTERNAL" in line:
            line = re.sub(r"\$\(?BR2_EXTERNAL_MOMENT_PATH\)?", "", line)
        for symbol in re.findall(r"\bBR2_[A-Za-z0-9_]+", line):
            used.append((symbol, number))
    return used


def external_packages():
    """{KCONFIG_NAME: package dir name} of the external tree."""
    packages = {}
    for config in sorted((EXTERNAL / "package").glob("*/Config.in")):
        match = re.search(r"^config (BR2_PACKAGE_\w+)", config.read_text(), re.M)
        if match:
            packages[match.group(1)] = config.parent.name
    return packages


def upstream_package(name, upstream):
    """The upstream package a BR2_PACKAGE_<NAME> selects, or None when it is a sub-option.

    Package directories mix '-' and '_' (brcmfmac_sdio-firmware-rpi), so every joining of the
    lower-cased words is tried."""
    words = name.lower().split("_")
    for joins in itertools.product("-_", repeat=len(words) - 1):
        candidate = words[0] + "".join(j + w for j, w in zip(joins, words[1:]))
        if candidate in upstream:
            return candidate
    return None


def check_kconfig(br_dir):
    br_dir = Path(br_dir)
    symbols = set(read_lines(br_dir / f"br2-{BR_VERSION}-symbols.txt"))
    legacy = set(read_lines(br_dir / f"br2-{BR_VERSION}-legacy-symbols.txt"))
    upstream = set(read_lines(br_dir / f"br2-{BR_VERSION}-packages.txt"))
    ours = external_packages()
    problems = []

    files = [DEFCONFIG, EXTERNAL / "Config.in"] + sorted((EXTERNAL / "package").glob("*/Config.in"))
    for path in files:
        rel = path.relative_to(ROOT)
        for symbol, number in symbols_used(path):
            if symbol in legacy:
                problems.append(f"{rel}:{number}: {symbol} is a legacy symbol in Buildroot {BR_VERSION}")
            elif symbol not in symbols and symbol not in ours and symbol != "BR2_EXTERNAL":
                problems.append(f"{rel}:{number}: {symbol} is not a Buildroot {BR_VERSION} symbol")

    # Every package the defconfig selects is upstream or ours.
    selected = 0
    for number, line in enumerate(DEFCONFIG.read_text().splitlines(), 1):
        match = re.match(r"^BR2_PACKAGE_(\w+)=y$", line)
        if not match:
            continue
        name = match.group(1)
        if f"BR2_PACKAGE_{name}" in ours:
            continue
        bare = name[len("HOST_"):] if name.startswith("HOST_") else name
        package = upstream_package(bare, upstream)
        if package is None:
            # A sub-option (BR2_PACKAGE_FFMPEG_GPL): its package must be selected too.
            owners = [w for w in range(len(bare.split("_")) - 1, 0, -1)
                      if upstream_package("_".join(bare.split("_")[:w]), upstream)]
            if not owners:
                problems.append(f"{DEFCONFIG.relative_to(ROOT)}:{number}: BR2_PACKAGE_{name} names no Buildroot {BR_VERSION} package")
        else:
            selected += 1

    # The external tree's packages: Config.in sourced, .mk included, both present.
    config_in = (EXTERNAL / "Config.in").read_text()
    external_mk = (EXTERNAL / "external.mk").read_text()
    for directory in sorted(p for p in (EXTERNAL / "package").iterdir() if p.is_dir()):
        name = directory.name
        for needed in ("Config.in", f"{name}.mk"):
            if not (directory / needed).is_file():
                problems.append(f"buildroot-external/package/{name}: {needed} is missing")
        if f'source "$BR2_EXTERNAL_MOMENT_PATH/package/{name}/Config.in"' not in config_in:
            problems.append(f"buildroot-external/Config.in does not source package/{name}/Config.in")
        if f"$(BR2_EXTERNAL_MOMENT_PATH)/package/{name}/{name}.mk" not in external_mk:
            problems.append(f"buildroot-external/external.mk does not include package/{name}/{name}.mk")
        if name in upstream:
            problems.append(f"buildroot-external/package/{name} shadows Buildroot's own package")
    for symbol, name in ours.items():
        if f"{symbol}=y" not in DEFCONFIG.read_text():
            problems.append(f"{symbol} (package/{name}) is not selected by the defconfig")

    desc = (EXTERNAL / "external.desc").read_text()
    if not re.search(r"^name: MOMENT$", desc, re.M):
        problems.append("buildroot-external/external.desc: the name must be MOMENT")

    # The players: the image installs the versions web/package.json pins.
    pins = json.loads((ROOT / "web" / "package.json").read_text())["dependencies"]
    for npm_name, package, var in (("hls.js", "hls-js", "HLS_JS"), ("mpegts.js", "mpegts-js", "MPEGTS_JS")):
        mk = (EXTERNAL / "package" / package / f"{package}.mk").read_text()
        if f"{var}_VERSION = {pins[npm_name]}" not in mk:
            problems.append(f"{package}.mk's version differs from web/package.json's {npm_name} {pins[npm_name]}")

    print(f"kconfig: {len(files)} files, {selected} upstream packages, {len(ours)} of ours")
    return problems


def env_offsets():
    """[(offset, size)] of the U-Boot environment copies, checked to agree across files."""
    problems = []
    fw_env = []
    for line in read_lines(ROOT / "overlay" / "etc" / "fw_env.config"):
        if line and not line.startswith("#"):
            device, offset, size = line.split()[:3]
            if device != "/dev/mmcblk0":
                problems.append(f"fw_env.config: {device} is not the whole card /dev/mmcblk0")
            fw_env.append((int(offset, 0), int(size, 0)))

    fragment = dict(
        line.split("=", 1) for line in read_lines(ROOT / "board" / "zero2w" / "uboot.fragment")
        if "=" in line and not line.startswith("#"))
    uboot = [(int(fragment["CONFIG_ENV_OFFSET"], 0), int(fragment["CONFIG_ENV_SIZE"], 0)),
             (int(fragment["CONFIG_ENV_OFFSET_REDUND"], 0), int(fragment["CONFIG_ENV_SIZE"], 0))]
    if fw_env != uboot:
        problems.append(f"fw_env.config {fw_env} and uboot.fragment {uboot} disagree")
    if fragment.get("CONFIG_SYS_REDUNDAND_ENVIRONMENT") != "y":
        problems.append("uboot.fragment: the environment must be redundant")

    cfg = (ROOT / "board" / "zero2w" / "genimage.cfg").read_text()
    placed = []
    for name in ("uboot-env", "uboot-env-redundant"):
        block = re.search(r"partition " + name + r" \{(.*?)\}", cfg, re.S).group(1)
        placed.append(genimage_size(re.search(r"offset = (\S+)", block).group(1)))
    if placed != [offset for offset, _ in fw_env]:
        problems.append(f"genimage.cfg places the environment at {placed}, fw_env.config at {fw_env}")
    return fw_env, problems


def genimage_size(text):
    units = {"K": 1024, "M": MIB, "G": GIB}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text, 0)


def check_layout(image):
    table = json.loads(subprocess.run(["sfdisk", "-J", image], check=True,
                                      capture_output=True, text=True).stdout)["partitiontable"]
    problems = []
    if table["label"] != "dos":
        problems.append(f"the partition table is {table['label']}, not MBR (dos)")
    if table.get("sectorsize", SECTOR) != SECTOR:
        problems.append(f"sector size {table['sectorsize']}")
    parts = table["partitions"]
    if len(parts) != len(LAYOUT):
        problems.append(f"{len(parts)} partitions, expected {len(LAYOUT)}")
    for part, (number, ptype, start, size) in zip(parts, LAYOUT):
        got = (part["node"], part["type"], part["start"] * SECTOR, part["size"] * SECTOR)
        want = (f"{image}{number}", ptype, start, size)
        if got != want:
            problems.append(f"partition {number}: got {got}, expected {want}")
    ring = next((p for p in parts if p["node"] == f"{image}{RING_NR}"), None)
    if ring is None or ring["size"] * SECTOR != RING_SIZE:
        problems.append(f"p{RING_NR} (the ring) is not exactly 8 GiB")
    starts = [p["start"] for p in parts]
    if starts != sorted(starts):
        problems.append("the partitions are not in ascending order on the card")

    # Nothing overlaps: primaries with each other, logicals inside the extended, and the EBR in
    # the sector before each logical partition stays outside the previous one.
    spans = [(p["start"] * SECTOR, (p["start"] + p["size"]) * SECTOR, p["node"], p["type"]) for p in parts]
    primaries = [s for s in spans if s[2][-1] in "1234"]
    logicals = [s for s in spans if s[2][-1] not in "1234"]
    extended = [s for s in primaries if s[3] in ("5", "f", "85")]
    for a, b in itertools.combinations(primaries, 2):
        if a[0] < b[1] and b[0] < a[1]:
            problems.append(f"{a[2]} and {b[2]} overlap")
    for a, b in itertools.combinations(logicals, 2):
        if a[0] - SECTOR < b[1] and b[0] - SECTOR < a[1]:
            problems.append(f"{a[2]} and {b[2]} (with their EBRs) overlap")
    for logical in logicals:
        if not extended or not (extended[0][0] < logical[0] and logical[1] <= extended[0][1]):
            problems.append(f"{logical[2]} is not inside the extended partition")

    envs, env_problems = env_offsets()
    problems += env_problems
    for offset, size in envs:
        if offset < SECTOR:
            problems.append(f"the environment at {offset:#x} overlaps the MBR")
        for start, end, node, _ in spans:
            if offset < end and start < offset + size:
                problems.append(f"the environment at {offset:#x}+{size:#x} overlaps {node}")
        if size != ENV_SIZE:
            problems.append(f"the environment is {size:#x} bytes, mkenvimage makes {ENV_SIZE:#x}")
    (a_off, a_size), (b_off, _) = envs
    if a_off < b_off < a_off + a_size or b_off < a_off < b_off + a_size:
        problems.append("the two environment copies overlap")

    end = max(s[1] for s in spans)
    if end > CARD_16GB:
        problems.append(f"the image ends at {end / GIB:.2f} GiB: it does not fit a 16 GB card")
    print(f"layout: {len(parts)} partitions, ring {RING_SIZE // GIB} GiB at {LAYOUT[4][2] // MIB} MiB, "
          f"environment at {', '.join(hex(o) for o, _ in envs)}, image {end / GIB:.2f} GiB")
    return problems


UNIT_DIR = "usr/lib/systemd/system"
MASKED = ("hostapd.service", "dnsmasq.service", "wpa_supplicant.service", "wpa_supplicant@.service")
# Where the running system may write: the data partition, the boot partition (the pre-seed
# import), tmpfs (/run, /tmp, /var). Everything else is the read-only squashfs.
WRITABLE = ("/data/", "/boot/", "/run/", "/tmp/", "/var/")


def install_section(unit):
    """[(kind, target)] from a unit's [Install] WantedBy=/RequiredBy=."""
    wanted, section = [], None
    for line in unit.read_text().splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Install]" and "=" in line:
            key, value = line.split("=", 1)
            kind = {"WantedBy": "wants", "RequiredBy": "requires"}.get(key)
            wanted += [(kind, target) for target in value.split()] if kind else []
    return wanted


def resolve_in_root(root, path, hops=16):
    """Where PATH (absolute, inside the image) leads once its symlinks are followed as the image
    would follow them: absolute targets from the image's root, not this machine's. Bounded."""
    parts = [part for part in Path(path).parts if part != "/"]
    done = Path("/")
    while parts:
        part = parts.pop(0)
        if part == "..":
            done = done.parent
            continue
        candidate = done / part
        on_disk = root / candidate.relative_to("/")
        if on_disk.is_symlink():
            hops -= 1
            if hops < 0:
                raise ValueError(f"{path}: too many symbolic links")
            target = Path(str(on_disk.readlink()))
            parts = [p for p in target.parts if p != "/"] + parts
            done = Path("/") if target.is_absolute() else done
        else:
            done = candidate
    return done


def unit_setting(text, key):
    """The values of KEY= in a unit or drop-in, in order."""
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", text, re.M)]


def units_with_private_tmp(root):
    """Names of the tree's units (and drop-ins) that set PrivateTmp= to true."""
    found = []
    for directory in (root / UNIT_DIR, root / "etc/systemd/system"):
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                values = unit_setting(path.read_text(errors="replace"), "PrivateTmp")
                if values and values[-1].lower() in ("yes", "true", "1", "on"):
                    found.append(str(path.relative_to(root)))
    return found


def check_resolv_conf(root):
    """DHCP's DNS servers reach every unit: udhcpc runs under the recorder, whose /tmp is its own
    when PrivateTmp= is set, so /etc/resolv.conf must not lead into /tmp or /var/tmp."""
    problems = []
    link = root / "etc/resolv.conf"
    if not link.exists() and not link.is_symlink():
        return ["/etc/resolv.conf is missing"]
    target = resolve_in_root(root, "/etc/resolv.conf")
    private = units_with_private_tmp(root)
    for tmp in (Path("/tmp"), Path("/var/tmp")):
        if private and (target == tmp or tmp in target.parents):
            problems.append(f"/etc/resolv.conf leads to {target}, private to {', '.join(private)} (PrivateTmp=)")
    if not (str(target) + "/").startswith(WRITABLE):
        problems.append(f"/etc/resolv.conf leads to {target}, on the read-only root")
    # udhcpc runs without -s: busybox.fragment's default script is the one, and Buildroot's
    # (package/busybox/udhcpc.script, installed at that path) writes /etc/resolv.conf.
    fragment = (ROOT / "board" / "zero2w" / "busybox.fragment").read_text()
    script = re.search(r'^CONFIG_UDHCPC_DEFAULT_SCRIPT="([^"]+)"$', fragment, re.M)
    if not script or script.group(1) != "/usr/share/udhcpc/default.script":
        problems.append("busybox.fragment: CONFIG_UDHCPC_DEFAULT_SCRIPT is not Buildroot's udhcpc.script path")
    elif (root / script.group(1).lstrip("/")).is_file():
        ours = (root / script.group(1).lstrip("/")).read_text(errors="replace")
        if "/etc/resolv.conf" not in ours:
            problems.append(f"{script.group(1)} in the tree does not write /etc/resolv.conf")
    return problems


# The keys avahi-daemon 0.8 reads from avahi-daemon.conf, by section; any other stops the daemon
# ("Invalid configuration key").
AVAHI_KEYS = {
    "server": {"host-name", "domain-name", "browse-domains", "use-ipv4", "use-ipv6",
               "allow-interfaces", "deny-interfaces", "check-response-ttl", "use-iff-running",
               "enable-dbus", "allow-point-to-point", "cache-entries-max",
               "ratelimit-interval-usec", "ratelimit-burst"},
    "wide-area": {"enable-wide-area"},
    "publish": {"publish-addresses", "publish-hinfo", "publish-workstation", "publish-domain",
                "publish-dns-servers", "publish-resolv-conf-dns-servers", "publish-aaaa-on-ipv4",
                "publish-a-on-ipv6", "disable-publishing", "disable-user-service-publishing",
                "add-service-cookie"},
    "reflector": {"enable-reflector", "reflect-ipv", "reflect-filters"},
    "rlimits": {"rlimit-as", "rlimit-core", "rlimit-data", "rlimit-fsize", "rlimit-nofile",
                "rlimit-stack", "rlimit-nproc"},
}


def check_avahi(root):
    """avahi-daemon.conf holds only keys avahi knows (an unknown one stops it), and avahi runs
    without its chroot into /etc/avahi when the services directory links out of it (inside the
    chroot the link leads nowhere). The chroot is a command-line option only: `--no-chroot` in
    the unit's ExecStart (a drop-in)."""
    problems = []
    conf = root / "etc/avahi/avahi-daemon.conf"
    if conf.is_file():
        section = None
        for number, line in enumerate(conf.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key = line.partition("=")[0].strip()
            if key not in AVAHI_KEYS.get(section, set()):
                problems.append(f"avahi-daemon.conf:{number}: avahi does not know {key!r} in "
                                f"[{section}] and would not start")
    services = root / "etc/avahi/services"
    if not services.is_symlink():
        return problems
    target = resolve_in_root(root, "/etc/avahi/services")
    if Path("/etc/avahi") in target.parents:
        return problems
    exec_start = ""
    for directory in (root / UNIT_DIR, root / "etc/systemd/system"):
        for dropin in sorted(directory.glob("avahi-daemon.service.d/*.conf")):
            for line in dropin.read_text().splitlines():
                if line.strip().startswith("ExecStart="):
                    exec_start = line.strip().partition("=")[2]
    if "--no-chroot" not in exec_start.split():
        problems.append(f"/etc/avahi/services leads to {target}, outside avahi's chroot: "
                        f"avahi-daemon.service needs a drop-in whose ExecStart has --no-chroot "
                        f"(it is {exec_start!r})")
    return problems


def check_machine_id(root):
    """systemd itself mounts the ID over an empty /etc/machine-id on a read-only root, before any
    unit runs; a unit of that mount's name is taken as active and never mounts anything."""
    problems = []
    for directory in (root / UNIT_DIR, root / "etc/systemd/system"):
        for unit in directory.glob("*.mount"):
            # A link is a mask or an alias (its target, inside the image, is listed itself).
            if unit.is_symlink():
                continue
            where = unit_setting(unit.read_text(), "Where")
            if unit.name == "etc-machine\\x2did.mount" or where == ["/etc/machine-id"]:
                problems.append(f"{unit.relative_to(root)} mounts over /etc/machine-id, which systemd owns")
    return problems


def check_rootfs(root):
    import tomllib

    root = Path(root)
    problems = []
    fstab = [line.split() for line in (root / "etc/fstab").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    root_entries = [entry for entry in fstab if entry[1] == "/"]
    if len(root_entries) != 1 or root_entries[0][2] != "squashfs" or "ro" not in root_entries[0][3].split(","):
        problems.append(f"fstab: the root must be one read-only squashfs entry, got {root_entries}")
    if not any(entry[1] == "/var" and entry[2] == "tmpfs" for entry in fstab):
        problems.append("fstab: /var is not a tmpfs")

    enabled = 0
    for unit in sorted((ROOT / "overlay" / UNIT_DIR).iterdir()):
        for kind, target in install_section(unit):
            link = root / "etc/systemd/system" / f"{target}.{kind}" / unit.name
            if not link.is_symlink() or Path(str(link.readlink())) != Path("/") / UNIT_DIR / unit.name:
                problems.append(f"{unit.name} is not enabled in {target}.{kind}")
            elif not (root / UNIT_DIR / unit.name).is_file():
                problems.append(f"{unit.name} is enabled but not installed")
            else:
                enabled += 1
    for unit in MASKED:
        mask = root / "etc/systemd/system" / unit
        if not mask.is_symlink() or str(mask.readlink()) != "/dev/null":
            problems.append(f"{unit} is not masked")
        for wants in root.glob(f"**/*.wants/{unit}"):
            problems.append(f"{unit} is still enabled: {wants.relative_to(root)}")

    for directory in ("data", "boot", "etc/moment-recorder"):
        if not (root / directory).is_dir():
            problems.append(f"the mount point /{directory} is missing")
    if (root / "etc/machine-id").read_text() != "":
        problems.append("/etc/machine-id must be empty in the image")
    services = root / "etc/avahi/services"
    if not services.is_symlink() or str(services.readlink()) != "/run/moment-recorder/avahi":
        problems.append("/etc/avahi/services does not point at /run/moment-recorder/avahi")
    problems += check_avahi(root)
    problems += check_resolv_conf(root)
    problems += check_machine_id(root)
    release = (root / "usr/lib/os-release").read_text()
    if 'VERSION_ID="check-1"' not in release:
        problems.append("os-release does not carry the version")
    if not (root / "etc/rauc/keyring.pem").is_file():
        problems.append("the RAUC keyring is not installed")

    # No writes outside /data (and tmpfs, /boot) at run time: every path the recorder and RAUC
    # write is under a writable mount; the bind mounts' sources are on /data.
    config = tomllib.loads((root / "etc/moment-recorder/config.toml").read_text())
    written = {
        "memories.dir": config["memories"]["dir"], "state.dir": config["state"]["dir"],
        "upload.rclone_config": config["upload"]["rclone_config"],
        "control.socket": config["control"]["socket"], "network.run_dir": config["network"]["run_dir"],
        "network.avahi_dir": config["network"]["avahi_dir"], "network.preseed": config["network"]["preseed"],
    }
    rauc = re.search(r"^data-directory=(\S+)$", (root / "etc/rauc/system.conf").read_text(), re.M)
    written["rauc data-directory"] = rauc.group(1) if rauc else "(none)"
    for unit in (root / UNIT_DIR).glob("*.mount"):
        what = re.search(r"^What=(\S+)$", unit.read_text(), re.M).group(1)
        if "Options=bind" in unit.read_text():
            written[f"{unit.name} What"] = what
    for key, path in written.items():
        if not (path + "/").startswith(WRITABLE):
            problems.append(f"{key} = {path} is on the read-only root")
    if config["ring"]["device"] != "/dev/mmcblk0p5":
        problems.append("ring.device is not the ring partition /dev/mmcblk0p5")

    # data-seed.sh's work: the bind mounts' sources exist.
    for path in ("data/etc/moment-recorder/config.toml", "data/timesync",
                 "data/rclone", "data/rauc", "data/memories", "data/state"):
        if not (root / path).exists():
            problems.append(f"data-seed.sh did not make /{path}")
    if (root / "data/rclone").stat().st_mode & 0o077:
        problems.append("/data/rclone is readable by others")
    print(f"rootfs: {enabled} enablings, {len(MASKED)} upstream units masked, {len(written)} written paths on writable mounts")
    return problems


def main(argv):
    commands = {"kconfig": check_kconfig, "layout": check_layout, "rootfs": check_rootfs}
    if len(argv) != 3 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    problems = commands[argv[1]](argv[2])
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
