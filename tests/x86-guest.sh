#!/usr/bin/env bash
# The parts of an x86_64 QEMU guest of the whole system that tests/qemu-boot.sh and
# tests/radio.sh share, so both boot the same kind of guest from one cached Debian base: output
# (log, check, timed, prefixed with $TEST_NAME), the downloads (Debian's kernel, the base root
# tree), the recorder binary, and the root assembled in Buildroot's order with the test's config
# and the probe. Sourced after tests/apt-fetch.sh and tests/root-tree.sh; the caller sets
# TEST_NAME, WORK, ART and CACHE first.

# What the image's units and scripts run, from Debian (Buildroot builds the same tools), and the
# Wi-Fi tools the recorder runs itself on the image (hostapd, dnsmasq, wpa_supplicant, udhcpc,
# iw), which the radio test also uses for its phone and home network; avahi for moment.local and
# systemd-timesyncd for the clock as on the image, and nss-mdns for the radio test's phone. One list for both tests,
# so CI makes one base tarball.
readonly X86_GUEST_PACKAGES=systemd,systemd-sysv,udev,dbus,util-linux,fdisk,e2fsprogs,rauc,rauc-service,libubootenv-tool,kmod,iproute2,iw,hostapd,wpasupplicant,dnsmasq-base,udhcpc,curl,avahi-daemon,libnss-mdns,systemd-timesyncd

FAILED=0

log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
die() { printf '%s: FAIL %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

# check NAME COMMAND...: runs one check, prints PASS/FAIL with its time and output.
check() {
  local name="$1" started=$SECONDS output
  shift
  if output="$("$@" 2>&1)"; then
    printf '%s: PASS %-18s (%3d s) %s\n' "$TEST_NAME" "$name" $((SECONDS - started)) "${output//$'\n'/; }"
  else
    printf '%s: FAIL %-18s (%3d s) %s\n' "$TEST_NAME" "$name" $((SECONDS - started)) "${output//$'\n'/; }" >&2
    FAILED=$((FAILED + 1))
    return 1
  fi
}

# timed NAME COMMAND...: a build step with its duration.
timed() {
  local name="$1" started=$SECONDS
  shift
  "$@"
  log "$(printf '%-18s %3d s' "$name" $((SECONDS - started)))"
}

guest() { python3 tests/qemu-boot/guest.py "$@"; }

# A power cut: QEMU (QEMU_PID, the caller's) killed at once, whatever the guest was doing.
stop_qemu() {
  [[ -n "$QEMU_PID" ]] || return 0
  kill -KILL "$QEMU_PID" 2>/dev/null || true
  wait "$QEMU_PID" 2>/dev/null || true
  QEMU_PID=""
}

# The Zero 2 W's memory.
readonly QEMU_MEM=512M

# The board's cmdline.txt on a PC: the first serial port, no console on tty1, not quiet.
board_cmdline() {
  sed -e 's/console=serial0/console=ttyS0/' -e 's/ console=tty1//' -e 's/ quiet//' board/zero2w/cmdline.txt |
    tr -d '\n'
}

# x86_qemu CONSOLE_LOG QEMU_LOG CMDLINE [QEMU ARGS...]: the guest on the card ($CARD) behind an
# emulated SD host (sdhci-pci, so the partitions are /dev/mmcblk0pN as on the board), the console
# on the first serial port to a file, the probe on the second at $WORK/probe.sock. Sets QEMU_PID
# and BOOT_STARTED.
x86_qemu() {
  rm -f "$WORK/probe.sock"
  qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$QEMU_MEM" -nodefaults -nographic -no-reboot \
    -kernel "$WORK/kernel/boot/vmlinuz-$KVER" -initrd "$WORK/initramfs.cpio.gz" -append "$3" \
    -device sdhci-pci -drive id=sd,if=none,format=raw,file="$CARD" -device sd-card,drive=sd \
    -serial file:"$1" -serial unix:"$WORK/probe.sock",server=on,wait=off "${@:4}" \
    </dev/null >"$2" 2>&1 &
  QEMU_PID=$!
  # shellcheck disable=SC2034 # the callers' timings read it
  BOOT_STARTED=$SECONDS
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Debian's kernel into $WORK/kernel, its version in KVER.
fetch_kernel() {
  local image
  image="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
  [[ -n "$image" ]] || die "no linux-image-amd64 in apt's lists (apt-get update)"
  apt_fetch "$CACHE" "$image" "$WORK/kernel" || die "no kernel"
  KVER="${image#linux-image-}"
  depmod -b "$WORK/kernel" "$KVER"
}

# The Debian base, as a tarball kept in the cache under the name of its package list.
fetch_base() {
  BASE_TAR="$(debian_base_tar "$CACHE" amd64 "$X86_GUEST_PACKAGES")" || die "no Debian base (mmdebstrap failed)"
}

recorder_binary() {
  if [[ -n "${MOMENT_RECORDER_BIN:-}" ]]; then
    RECORDER="$MOMENT_RECORDER_BIN"
    return 0
  fi
  # Exactly the build `cargo nextest run --workspace` makes (same profile and features), so in
  # ci/test.sh the suite that follows finds it done: the boot test adds no compile time there.
  # A plain `cargo build` would differ in features and be a second build.
  cargo test --workspace --locked --no-run --quiet 2>"$ART/cargo.log" || { cat "$ART/cargo.log" >&2; return 1; }
  RECORDER="${CARGO_TARGET_DIR:-target}/debug/moment-recorder"
}

# copy_with_libraries ROOT PROGRAM: the host's (Debian 12's) program and the libraries it links.
copy_with_libraries() {
  local root="$1" program="$2" lib
  install -D -m 0755 "$program" "$root$program"
  for lib in $(ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    [[ -e "$root$lib" ]] || cp -L --parents "$lib" "$root"
  done
}

# guest_root ROOT VERSION CERT OVERRIDES: Buildroot's order (packages in the target tree,
# overlay/ copied over it, post-build.sh on it), then what only a test image has: the recorder
# configuration with OVERRIDES merged over the image's (data-seed.sh copies it to /data) and the
# probe on ttyS1.
guest_root() {
  local root="$1" version="$2" cert="$3" overrides="$4"
  root_from_base "$root" "$BASE_TAR" "$RECORDER"
  copy_with_libraries "$root" "$(command -v ffmpeg)"
  install -m 0755 "$(command -v rclone)" "$root/usr/bin/rclone"
  finish_root "$root" "$version" "$cert"
  guest merge-config overlay/etc/moment-recorder/config.toml "$overrides" \
    "$root/etc/moment-recorder/config.toml"
  install -D -m 0755 tests/qemu-boot/probe.sh "$root/usr/libexec/moment-test/probe.sh"
  install -D -m 0644 tests/qemu-boot/moment-test-probe.service "$root/etc/systemd/system/moment-test-probe.service"
  mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
  ln -sfn ../moment-test-probe.service "$root/etc/systemd/system/sysinit.target.wants/moment-test-probe.service"
}
