#!/usr/bin/env python3
"""One power-on of the emulated board (tests/emulated-board.sh): QEMU raspi3b runs U-Boot from
the card until the initramfs marker line, a console line with --until's text, --until-command
succeeding (polled every 2 s, e.g. fw_printenv on the card file; with --poll-after, only
once that --mark was seen), a time limit, or a power cut.
Prints one JSON object: the wall times (s from QEMU's start) of the U-Boot banners, "Starting
kernel", the marker, --until's line, each --mark's first line and --until-command's success,
the marker line, and for a power cut how many SD block writes the trace held when QEMU died.
The whole console goes to --log. Python's standard library only."""

import argparse
import json
import os
import re
import select
import signal
import subprocess
import time

MARKER = "MOMENT-EMULATED-MARKER"
WRITE_EVENT = "sdcard_write_block"
# systemd colours its status lines.
ANSI = re.compile(r"\x1b(\[[0-9;]*)?[A-Za-z]")


def qemu_command(args):
    command = [
        "qemu-system-aarch64", "-M", "raspi3b", "-accel", args.accel,
        "-kernel", args.uboot, "-dtb", args.dtb,
        "-drive", f"if=sd,format=raw,file={args.card}",
        "-nographic", "-monitor", "none", "-serial", "null", "-serial", "stdio",
        "-append", args.append,
    ]
    if args.trace:
        command += ["-trace", f"enable={WRITE_EVENT},file={args.trace}"]
    # timeout(1) backs up this script's own limit.
    return ["timeout", "-s", "KILL", str(args.timeout + 10)] + command


def trace_writes(path):
    """The SD block writes the trace file holds so far."""
    try:
        with open(path, encoding="utf-8", errors="replace") as trace:
            return sum(1 for line in trace if WRITE_EVENT in line)
    except FileNotFoundError:
        return 0


class Watch:
    """What the console showed, with times."""

    def __init__(self, log, until, marks):
        self.log = log
        self.until = until
        self.marks = marks
        self.started = time.monotonic()
        self.result = {"banners": [], "starting_kernel": None, "marker": None,
                       "marker_line": None, "until": None, "saves": 0, "writes_at_kill": None, "ended": None,
                       "marks": {name: None for name in marks}, "until_command": None}
        self.pending = b""

    def now(self):
        return round(time.monotonic() - self.started, 2)

    def feed(self, data):
        self.log.write(data)
        self.log.flush()
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        for raw in lines:
            self.line(ANSI.sub("", raw.decode("utf-8", errors="replace")).strip())

    def line(self, line):
        result = self.result
        for name, text in self.marks.items():
            if result["marks"][name] is None and text in line:
                result["marks"][name] = self.now()
        if line.startswith("U-Boot 20"):
            result["banners"].append(self.now())
        elif "Starting kernel" in line and result["starting_kernel"] is None:
            result["starting_kernel"] = self.now()
        elif "Saving Environment" in line:
            result["saves"] += 1
        elif self.until and self.until in line and result["until"] is None:
            result["until"] = self.now()
        elif line.startswith(MARKER) and result["marker"] is None:
            result["marker"] = self.now()
            result["marker_line"] = line


def stop(process):
    """A power cut: SIGSTOP first, so QEMU writes nothing more, then SIGKILL, to QEMU and the
    timeout(1) around it (their own process group)."""
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


def run(args):
    with open(args.log, "wb") as log:
        marks = dict(mark.split("=", 1) for mark in args.mark)
        watch = Watch(log, args.until, marks)
        polled = time.monotonic()
        process = subprocess.Popen(qemu_command(args), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        deadline = time.monotonic() + args.timeout
        ended = "timeout"
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.005)
            if ready:
                data = os.read(process.stdout.fileno(), 65536)
                if not data:
                    ended = "exited"
                    break
                watch.feed(data)
            if watch.result["marker"] is not None:
                ended = "marker"
                break
            if args.until and watch.result["until"] is not None:
                ended = "until"
                break
            polling = not args.poll_after or watch.result["marks"].get(args.poll_after) is not None
            if args.until_command and polling and time.monotonic() - polled >= 2:
                polled = time.monotonic()
                if subprocess.run(args.until_command, shell=True, timeout=30,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                    watch.result["until_command"] = watch.now()
                    ended = "until-command"
                    break
            if args.cut_after and trace_writes(args.trace) >= args.cut_after:
                stop(process)
                ended = "power cut"
                watch.result["writes_at_kill"] = trace_writes(args.trace)
                break
        if process.poll() is None:
            stop(process)
        watch.result["ended"] = ended
        return watch.result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accel", default="tcg", help="QEMU's -accel (always TCG: KVM hangs here)")
    parser.add_argument("--card", required=True)
    parser.add_argument("--uboot", required=True)
    parser.add_argument("--dtb", required=True)
    parser.add_argument("--append", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--until", help="stop once a console line contains this text")
    parser.add_argument("--until-command", help="stop once this shell command succeeds (polled every 2 s)")
    parser.add_argument("--poll-after", metavar="NAME",
                        help="poll --until-command only once this --mark has been seen")
    parser.add_argument("--mark", action="append", default=[], metavar="NAME=TEXT",
                        help="record when a console line first contains TEXT")
    parser.add_argument("--trace", help="file for QEMU's trace of SD block writes")
    parser.add_argument("--cut-after", type=int, default=0,
                        help="power cut once the trace holds this many SD block writes")
    args = parser.parse_args()
    if args.accel.split(",")[0] != "tcg":
        parser.error("--accel must be TCG: KVM hangs on this machine")
    if args.cut_after and not args.trace:
        parser.error("--cut-after needs --trace")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
