"""Fails when a workspace crate or a locked dependency needs a newer Rust than Buildroot's.

Reads `cargo metadata` JSON on stdin; the first argument is the Rust version the image builds with.
"""
import json
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def main():
    msrv = sys.argv[1]
    meta = json.load(sys.stdin)
    members = set(meta["workspace_members"])
    bad, undeclared = [], 0
    for pkg in meta["packages"]:
        name, declared = pkg["name"], pkg.get("rust_version")
        if pkg["id"] in members:
            if declared != msrv or pkg["edition"] != "2021":
                bad.append(f"{name}: workspace crates need edition 2021 and rust-version {msrv}"
                           f" (has {pkg['edition']}, {declared})")
        elif declared is None:
            undeclared += 1
        elif version(declared) > version(msrv):
            bad.append(f"{name} {pkg['version']} needs Rust {declared}")
    if bad:
        print(f"check-msrv: newer than Rust {msrv} (Buildroot 2025.02):", file=sys.stderr)
        for line in bad:
            print(f"  {line}", file=sys.stderr)
        print("Pin an older version: cargo update -p NAME --precise VERSION", file=sys.stderr)
        return 1
    print(f"check-msrv: {len(meta['packages'])} packages fit Rust {msrv}"
          f" ({undeclared} declare no rust-version)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
