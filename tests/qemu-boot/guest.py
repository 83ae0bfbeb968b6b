#!/usr/bin/env python3
"""The boot test's helper (tests/qemu-boot.sh): everything that talks to the guest or reads JSON.

  merge-config BASE OVERRIDES OUT   the image's config.toml with the test's keys over it
  probe SOCK TIMEOUT COMMAND        runs COMMAND in the guest through the test probe (a root
                                    shell on the second serial port), prints its output, exits
                                    with its status
  wait-probe SOCK TIMEOUT           until the probe answers
  monitor SOCK COMMAND              one command to QEMU's human monitor (hot-plugging a stick)
  mp4 FILE MIN_SECONDS              ffprobe reads FILE as an MP4 with H.264 of that length
  boot-slot CARD                    the slot boot.cmd would boot from the card's U-Boot environment
  api BASE COOKIES CHECK [ARGS]     one check against the recorder's HTTP API (docs/api.md);
                                    the CHECK functions below say what each asserts
  probe-api SOCK COOKIES CHECK [ARGS]  the same checks for a guest with no network the host
                                    reaches (the emulated Pi): each request is curl in the guest
                                    on 127.0.0.1, through the probe; a bundle is a path in the guest

Every wait is bounded; a failed check prints why on stderr and exits 1.
"""

import hashlib
import http.client
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import tomllib
import urllib.parse
import zlib


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


# --- configuration -------------------------------------------------------------------------


def merge(base, over):
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {value!r} as TOML")


def toml_tables(table, name, out):
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if name and plain:
        out.append(f"\n[{name}]")
    for key, value in plain.items():
        out.append(f"{key} = {toml_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            toml_tables(value, f"{name}.{key}" if name else key, out)


def merge_config(base_path, over_path, out_path):
    with open(base_path, "rb") as f:
        config = tomllib.load(f)
    with open(over_path, "rb") as f:
        merge(config, tomllib.load(f))
    out = [f"# {base_path} with tests/qemu-boot/config-overrides.toml over it (made by the boot test)."]
    toml_tables(config, "", out)
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


# --- the probe -------------------------------------------------------------------------------


def probe(sock_path, timeout, command):
    """Sends `NONCE COMMAND`; the guest's loop answers with the output and `__END_NONCE__ STATUS`."""
    nonce = secrets.token_hex(6)
    end = f"__END_{nonce}__ ".encode()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        # A newline first ends whatever half line an earlier, abandoned call left in the guest.
        s.sendall(f"\n{nonce} {command}\n".encode())
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout} s")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the probe's socket closed")
            data += chunk
            at = data.find(end)
            if at >= 0 and data.find(b"\n", at) >= 0:
                status = int(data[at + len(end):data.find(b"\n", at)])
                output = data[:at]
                # Drop what earlier calls left before this command's output began.
                begin = f"__PROBE_BEGIN_{nonce}__\n".encode()
                start = output.rfind(begin)
                if start >= 0:
                    output = output[start + len(begin):]
                return status, output.decode(errors="replace")


def cmd_probe(sock_path, timeout, command):
    try:
        status, output = probe(sock_path, float(timeout), command)
    except (OSError, TimeoutError, ValueError) as e:
        fail(f"probe: {command!r}: {e}")
    sys.stdout.write(output)
    sys.exit(status)


def cmd_wait_probe(sock_path, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            if probe(sock_path, 3, "true")[0] == 0:
                return
        except (OSError, TimeoutError, ValueError):
            time.sleep(1)
    fail(f"the guest's probe did not answer within {timeout} s")


def read_until(sock, marker, limit=1 << 20):
    """Bytes from `sock` up to and including `marker` (bounded in size; the socket's timeout
    bounds the wait)."""
    data = b""
    while not data.endswith(marker):
        chunk = sock.recv(4096)
        if not chunk or len(data) > limit:
            fail(f"the monitor closed or talked too much: {data[-300:]!r}")
        data += chunk
    return data


def cmd_monitor(sock_path, command):
    """One command to QEMU's human monitor on a Unix socket (a device plugged in, say)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(sock_path)
        read_until(sock, b"(qemu) ")
        sock.sendall(command.encode() + b"\n")
        answer = read_until(sock, b"(qemu) ").decode(errors="replace")
    # The monitor echoes the command (with terminal escapes) before its answer.
    answer = answer.rsplit("\r\n", 1)[0]
    if "Error" in answer or "error" in answer:
        fail(f"{command}: {answer}")
    print(f"monitor: {command.split()[0]} done")


# --- the HTTP API ----------------------------------------------------------------------------


class Api:
    def __init__(self, base, cookie_file):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.cookie_file = cookie_file

    def cookie(self):
        try:
            with open(self.cookie_file) as f:
                return f.read().strip()
        except FileNotFoundError:
            return ""

    def request(self, method, path, body=None, timeout=30, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        all_headers = {"X-Moment": "1", "Cookie": self.cookie()}
        all_headers.update(headers or {})
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers=all_headers)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.getheaders(), payload
        finally:
            conn.close()

    def json(self, method, path, body=None, expect=200, timeout=30):
        status, _, payload = self.request(method, path, body, timeout)
        if status != expect:
            fail(f"{method} {path}: {status} (expected {expect}): {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def status(self):
        return self.json("GET", "/api/status")

    def upload(self, bundle, timeout):
        """POST /api/update with the bundle file as the body: (size, status, payload)."""
        size = os.path.getsize(bundle)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=min(timeout, 120))
        with open(bundle, "rb") as f:
            conn.request("POST", "/api/update", body=f, headers={
                "X-Moment": "1", "Cookie": self.cookie(), "Content-Type": "application/octet-stream",
                "Content-Length": str(size)})
            resp = conn.getresponse()
            payload = resp.read()
        conn.close()
        return size, resp.status, payload


class ProbeApi(Api):
    """Api's requests made by curl inside the guest, through the probe: the emulated Pi has no
    network the host reaches, only the probe's serial line."""

    def __init__(self, sock_path, cookie_file):
        self.sock_path = sock_path
        self.cookie_file = cookie_file

    def request(self, method, path, body=None, timeout=30, headers=None, body_file=None):
        all_headers = {"X-Moment": "1", "Cookie": self.cookie()}
        all_headers.update(headers or {})
        # The probe's output is a serial port, a terminal: no bold header names.
        command = ["curl", "-sS", "-i", "--no-styled-output", "-m", str(int(timeout)), "-X", method]
        for name, value in all_headers.items():
            command += ["-H", f"{name}: {value}"]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        if body_file is not None:
            command += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{body_file}"]
        command.append(f"http://127.0.0.1{path}")
        status, output = probe(self.sock_path, timeout + 10, " ".join(shlex.quote(c) for c in command))
        if status != 0:
            # curl's own failures (connection refused while the guest comes up) are OSErrors to
            # until(), as the host's http.client raises them.
            raise ConnectionError(f"curl in the guest: exit {status}: {output.strip()[-200:]}")
        head, _, payload = output.replace("\r\n", "\n").partition("\n\n")
        # An interim 100 Continue (curl sends Expect for large bodies) precedes the answer.
        while head.startswith("HTTP/1.1 100"):
            head, _, payload = payload.partition("\n\n")
        lines = head.split("\n")
        headers_out = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        return int(lines[0].split()[1]), headers_out, payload.encode()

    def upload(self, bundle, timeout):
        status, output = probe(self.sock_path, 30, f"stat -c %s {shlex.quote(bundle)}")
        if status != 0:
            fail(f"{bundle} in the guest: {output.strip()}")
        status, _, payload = self.request("POST", "/api/update", timeout=timeout, body_file=bundle)
        return int(output), status, payload


def until(timeout, what, probe_fn, pause=1.0):
    """Calls probe_fn until it returns something true; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe_fn()
            if last:
                return last
        except OSError as e:  # connection refused or reset while the guest comes up
            last = e
        time.sleep(pause)
    fail(f"{what} not within {timeout} s (last: {last!r})")


def check_login(api, password, timeout):
    """The web answers on the forwarded port and the pre-seeded admin password logs in."""

    def attempt():
        status, headers, payload = api.request("POST", "/api/login", {"password": password}, timeout=60)
        if status == 200:
            for name, value in headers:
                if name.lower() == "set-cookie" and value.startswith("moment_session="):
                    with open(api.cookie_file, "w") as f:
                        f.write(value.split(";", 1)[0])
                    return True
        if status in (401, 403):
            fail(f"login refused: {status} {payload[:200]!r}")
        # Not up yet (502, 503...): tried again; the last answer goes into the failure.
        raise ConnectionError(f"{status} {payload[:200]!r}")

    until(float(timeout), "a login on the recorder's web app", attempt)
    print("logged in with the pre-seeded admin password")


def check_setup_mode(api):
    """No Wi-Fi configured: the (simulated) radio is an access point and the wizard's API is open."""
    setup = api.json("GET", "/api/setup")
    if setup.get("mode") != "ap" or not setup.get("admin_password_set"):
        fail(f"setup mode expected: {setup}")
    network = api.status()["network"]
    print(f"setup wizard served: access point {setup['ap_ssid']}, network mode {network['mode']}")


def check_recording(api, seconds):
    """The recorder reports READY's conditions: the test source runs and the ring fills."""
    first = api.status()
    if not first["recording"]["running"] or not first["recording"]["source"].startswith("test "):
        fail(f"not recording the test source: {first['recording']}")
    time.sleep(float(seconds))
    second = api.status()
    grown = (second["ring"]["newest_seq"] or 0) - (first["ring"]["newest_seq"] or 0)
    if grown < 1 or second["ring"]["used_bytes"] <= first["ring"]["used_bytes"]:
        fail(f"the ring did not grow in {seconds} s: {first['ring']} -> {second['ring']}")
    ring = second["ring"]
    print(f"ring: {ring['segment_count']} segments, {ring['used_bytes']} of {ring['capacity_bytes']} "
          f"bytes, +{grown} segments in {seconds} s")


def check_save(api, out_dir, seconds):
    """A save of the last SECONDS through the API becomes a memory; it is downloaded to OUT_DIR."""
    before = {m["name"] for m in api.json("GET", "/api/memories")}
    end_us = api.status()["ring"]["newest_utc_end_us"]
    span = {"from": end_us // 1000 - int(float(seconds) * 1000), "to": end_us // 1000}
    api.json("POST", "/api/memories", span, expect=202)

    def saved():
        new = [m for m in api.json("GET", "/api/memories") if m["name"] not in before]
        return new[0] if new else None

    memory = until(120, "the saved memory", saved)
    status, _, payload = api.request("GET", "/api/memories/" + urllib.parse.quote(memory["name"]), timeout=120)
    if status != 200:
        fail(f"download of {memory['name']}: {status}")
    path = os.path.join(out_dir, memory["name"])
    with open(path, "wb") as f:
        f.write(payload)
    print(path)


def check_mp4(path, min_seconds):
    """ffprobe on the host reads the downloaded MP4: an H.264 stream of at least MIN_SECONDS."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name",
         "-of", "json", path], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        fail(f"ffprobe refused {path}: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    codecs = [s.get("codec_name") for s in info.get("streams", [])]
    duration = float(info.get("format", {}).get("duration", 0))
    if "h264" not in codecs or duration < float(min_seconds) or "mp4" not in info["format"]["format_name"]:
        fail(f"{path}: not the expected MP4: {info}")
    print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes, {duration:.1f} s, streams {codecs}")


def check_newest_seq(api):
    """Prints the newest durable segment's sequence number and the newest one handed to the ring
    (the power cut comes right after). On the first boot's fresh ring, which never wraps here,
    the run's segments are numbered from the ring's oldest on, one per segment sent."""
    status = api.status()
    ring, recording = status["ring"], status["recording"]
    if recording["segments_dropped"]:
        fail(f"segments were dropped, numbering unknown: {recording}")
    print(ring["newest_seq"], ring["oldest_seq"] + recording["segments_sent"] - 1)


def check_recovered(api, seq):
    """After the power cut: every segment durable before it is still there, recording goes on."""
    seq = int(seq)
    ring = api.status()["ring"]
    if not (ring["oldest_seq"] <= seq <= (ring["newest_seq"] or -1)):
        fail(f"segment {seq}, durable before the power cut, is not in the ring: {ring}")
    status, _, payload = api.request("GET", f"/hls/segment/{seq}.ts", timeout=60)
    if status != 200 or not payload or payload[0] != 0x47:
        fail(f"segment {seq} is not readable: {status}")

    def grown():
        return (api.status()["ring"]["newest_seq"] or 0) > ring["newest_seq"]

    until(60, "a new segment after recovery", grown)
    print(f"segment {seq} (newest durable before the cut) reads back ({len(payload)} bytes); "
          f"the ring holds {ring['oldest_seq']}..{ring['newest_seq']} and records on")


def check_memory_kept(api, path):
    """The memory saved before the power cut is listed and downloads with the same bytes."""
    name = os.path.basename(path)
    status, _, payload = api.request("GET", "/api/memories/" + urllib.parse.quote(name), timeout=120)
    with open(path, "rb") as f:
        before = f.read()
    if status != 200 or hashlib.sha256(payload).digest() != hashlib.sha256(before).digest():
        fail(f"{name}: {status}, {len(payload)} bytes now, {len(before)} before the power cut")
    print(f"{name} is still there, byte for byte")


def check_upload_pending(api, name):
    """Before the cut the upload target is down: the memory waits in the upload queue."""
    memory = [m for m in api.json("GET", "/api/memories") if m["name"] == name]
    if not memory or memory[0]["upload"] != "pending":
        fail(f"{name} should be pending upload: {memory}")
    print(f"{name}: upload pending (the WebDAV server is not up yet)")


def check_uploaded(api, path, webdav_dir, timeout):
    """The queue resumes after the reboot: the memory reaches the host's WebDAV server intact."""
    name = os.path.basename(path)

    def done():
        memory = [m for m in api.json("GET", "/api/memories") if m["name"] == name]
        return memory and memory[0]["upload"] == "done"

    until(float(timeout), f"{name} uploaded", done, pause=2)
    copies = [os.path.join(d, name) for d, _, files in os.walk(webdav_dir) if name in files]
    with open(path, "rb") as f:
        local = hashlib.sha256(f.read()).hexdigest()
    if not copies:
        fail(f"{name} is marked uploaded but is not under {webdav_dir}")
    with open(copies[0], "rb") as f:
        remote = hashlib.sha256(f.read()).hexdigest()
    if remote != local:
        fail(f"{copies[0]} differs from the memory")
    print(f"{name} uploaded to {os.path.relpath(copies[0], webdav_dir)} on the host's WebDAV server")


def check_update_install(api, bundle, timeout, slot="B"):
    """A signed bundle uploaded to /api/update is installed by RAUC into the other slot, SLOT."""
    size, status, payload = api.upload(bundle, float(timeout))
    if status != 202:
        fail(f"POST /api/update: {status} {payload[:300]!r}")

    def ended():
        update = api.json("GET", "/api/update")
        return update if update["operation"] == "idle" and update.get("last") else None

    update = until(float(timeout), "the end of the install", ended, pause=2)
    last = update["last"]
    if last["result"] != "installed" or not update["reboot_needed"] or update["primary_slot"] != slot:
        fail(f"the install did not end as expected: {update}")
    print(f"{size >> 20} MiB bundle installed into slot {last['slot']} (version {last['version']}); "
          f"primary now {update['primary_slot']}")


def check_reboot(api):
    """The web app's reboot after an install (the guest powers off: QEMU runs with -no-reboot)."""
    print(api.json("POST", "/api/update/reboot", expect=202))


def check_update_confirmed(api, version, timeout):
    """The updated slot records and answers, so the recorder marks it good (RAUC, U-Boot env)."""

    def confirmed():
        update = api.json("GET", "/api/update")
        last = update.get("last") or {}
        if last.get("result") == "rolled_back":
            fail(f"rolled back: {update}")
        return update if last.get("result") == "updated" else None

    update = until(float(timeout), "the update's confirmation", confirmed, pause=2)
    if update["booted_slot"] != "B" or update["last"]["version"] != version:
        fail(f"not the updated slot: {update}")
    booted = [s for s in update["slots"] if s["bootname"] == "B"]
    print(f"slot B ({version}) marked good: {booted}")


def check_update_rolled_back(api, version, timeout):
    """A trial slot that never got healthy: U-Boot went back to the other slot, whose recorder
    reports the roll-back of VERSION."""

    def reported():
        update = api.json("GET", "/api/update")
        last = update.get("last") or {}
        return update if last.get("result") == "rolled_back" else None

    update = until(float(timeout), "the roll-back's report", reported, pause=2)
    last = update["last"]
    if last.get("version") != version:
        fail(f"rolled back from {last.get('version')}, not {version}: {update}")
    print(f"booted {update['booted_slot']}: {last['message']}")


def check_usb_export(api, timeout):
    """The stick plugged in at power-on is noticed, gets the memories and is ejected."""

    def handled():
        sticks = api.status()["usb"]["sticks"]
        return sticks[-1] if sticks and sticks[-1]["state"] != "copying" else None

    stick = until(float(timeout), "the USB stick handled", handled, pause=1)
    if stick["state"] != "ejected" or stick["filesystem"] != "vfat" or not stick["copied"]:
        fail(f"the USB export did not end as expected: {stick}")
    print(f"{stick['partition']} ({stick['filesystem']}): {stick['message']}")


CHECKS = {
    "login": check_login,
    "setup-mode": check_setup_mode,
    "recording": check_recording,
    "save": check_save,
    "newest-seq": check_newest_seq,
    "recovered": check_recovered,
    "memory-kept": check_memory_kept,
    "upload-pending": check_upload_pending,
    "uploaded": check_uploaded,
    "update-install": check_update_install,
    "reboot": check_reboot,
    "update-confirmed": check_update_confirmed,
    "usb-export": check_usb_export,
    "update-rolled-back": check_update_rolled_back,
}


# --- the U-Boot environment ------------------------------------------------------------------

ENV_OFFSETS = (0x400000, 0x410000)  # overlay/etc/fw_env.config
ENV_SIZE = 0x4000


def read_env(card):
    """The active copy of the redundant environment: valid CRC, the newer flag."""
    copies = []
    with open(card, "rb") as f:
        for offset in ENV_OFFSETS:
            f.seek(offset)
            block = f.read(ENV_SIZE)
            crc, flag, data = int.from_bytes(block[:4], "little"), block[4], block[5:]
            if zlib.crc32(data) == crc:
                copies.append((flag, data))
    if not copies:
        fail(f"{card}: no valid U-Boot environment")
    if len(copies) == 2 and {copies[0][0], copies[1][0]} == {0, 255}:
        flag, data = [c for c in copies if c[0] == 0][0]
    else:
        flag, data = max(copies, key=lambda c: c[0])
    env = {}
    for item in data.split(b"\0"):
        if not item:
            break
        key, _, value = item.decode().partition("=")
        env[key] = value
    return env


def cmd_boot_slot(card):
    """boot.cmd's choice: the first slot in BOOT_ORDER with attempts left (not decremented here)."""
    env = read_env(card)
    for slot in env.get("BOOT_ORDER", "A B").split():
        if int(env.get(f"BOOT_{slot}_LEFT", "3")) > 0:
            print(slot)
            return
    fail(f"no slot has attempts left: {env}")


def main(argv):
    if len(argv) >= 4 and argv[0] == "merge-config":
        merge_config(*argv[1:4])
    elif len(argv) >= 4 and argv[0] == "probe":
        cmd_probe(argv[1], argv[2], " ".join(argv[3:]))
    elif len(argv) == 3 and argv[0] == "wait-probe":
        cmd_wait_probe(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "monitor":
        cmd_monitor(argv[1], " ".join(argv[2:]))
    elif len(argv) == 2 and argv[0] == "boot-slot":
        cmd_boot_slot(argv[1])
    elif len(argv) >= 3 and argv[0] == "mp4":
        check_mp4(argv[1], argv[2])
    elif len(argv) >= 4 and argv[0] == "api" and argv[3] in CHECKS:
        CHECKS[argv[3]](Api(argv[1], argv[2]), *argv[4:])
    elif len(argv) >= 4 and argv[0] == "probe-api" and argv[3] in CHECKS:
        CHECKS[argv[3]](ProbeApi(argv[1], argv[2]), *argv[4:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
