#!/usr/bin/env bash
# The first-boot Wi-Fi journey on real 802.11 software radios (issue 21): one QEMU x86_64 boot of
# the whole system (the root tests/qemu-boot.sh boots, from the same Debian base) with three
# mac80211_hwsim radios. The device keeps wlan0 and runs its own network manager with the
# hostapd, dnsmasq and wpa_supplicant configurations it generates, as on the camera; a "phone"
# and a "home" network namespace get the other two radios (tests/radio/radio.sh, driven here
# through the probe). Every check is made from outside the recorder: what the phone hears and
# gets, what the device's radio is doing.
#   stage        radios, namespaces, the home access point; the recorder READY
#   beacon       the phone's scan hears the device's access point Moment-XXXX
#   associate    the phone joins it with the factory passphrase; lease (with option 114);
#   any-name     every name resolves to the portal; portal: the OS probes get redirected
#   home-webdav  the home network's WebDAV server stores a file
#   device-scan  the wizard's list (scanned before the access point came up) has the home network
#   rescan       the wizard's rescan: the access point drops, the phone rejoins, the list is new
#   no-password  an empty password for the secured home network is refused, naming the field
#   wrong-password  the device tries, comes back with the reason on the wizard; nothing saved
#   gone-ssid    a network nobody hears: the same, well within the join limit
#   wizard-join  the wizard's submit answers at once; the device leaves its access point and
#                joins the home network (WPA2), submit to connected measured; the rest saved
#   clock-ntp    on the home network the device's systemd-timesyncd synchronises with its NTP
#   mdns-upload  the phone on the home network resolves moment.local over mDNS, logs in, saves
#                a memory, and the memory arrives on the home WebDAV server byte for byte
#   wpa3-home    the home access point turns WPA3-SAE only; the device follows
#   home-gone    the home network goes: the device opens its access point again
#   home-back    it comes back: the device rejoins by itself
#   button-reset both buttons held 10 s: Wi-Fi and upload target wiped, the access point back,
#                memories kept, recording on
# Environment: MOMENT_QEMU_CACHE (downloads and the base root tree between runs),
# MOMENT_RECORDER_BIN (a recorder binary instead of building one), MOMENT_QEMU_KEEP=1 (keep
# the work directory). Needs what tests/qemu-boot.sh needs (ci/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly TEST_NAME=radio
readonly HERE=tests/radio
# shellcheck source=tests/apt-fetch.sh
source tests/apt-fetch.sh
# shellcheck source=tests/root-tree.sh
source tests/root-tree.sh
# shellcheck source=tests/x86-guest.sh
source tests/x86-guest.sh

readonly RING_SIZE=64M
readonly DATA_OFFSET=1162M
readonly DATA_SIZE=64M
readonly CARD_SIZE=2G
readonly BOOT_TIMEOUT_S=300
# The factory passphrase of the setup access point (docs/config.md, network.ap_passphrase).
readonly AP_PASSPHRASE=moment-setup
readonly AP_ADDRESS=192.168.4.1
readonly HOME_SSID=MomentHome
readonly HOME_PASS=moment-home-pass
readonly ADMIN_PASSWORD=radio-test-admin
# network.join_limit_s and retry_s of tests/radio/config-overrides.toml.
readonly JOIN_LIMIT_S=20

WORK="$(mktemp -d /tmp/moment-radio.XXXXXX)"
readonly WORK
readonly ART="$WORK/artifacts"
CACHE="${MOMENT_QEMU_CACHE:-target/qemu-guest-cache}"
readonly CACHE
QEMU_PID=""
STARTED=$SECONDS
trap cleanup EXIT

probe() { guest probe "$WORK/probe.sock" 60 "$@"; }
# in_guest TIMEOUT ARGS...: tests/radio/radio.sh ARGS in the guest, the probe waiting longer (the
# guest's own loops end at TIMEOUT plus one bounded tool call; the serial line adds its delay).
in_guest() {
  local timeout="$1"
  shift
  guest probe "$WORK/probe.sock" $((timeout + 30)) "$(printf '%q ' /usr/libexec/moment-test/radio.sh "$@")"
}
# timing WHAT VALUE: one line of the timing block (a file: checks run in subshells).
timing() { printf '%-40s %s\n' "$1" "$2" >>"$WORK/timings"; }

# --- build -----------------------------------------------------------------------------------

make_rootfs() {
  local root="$WORK/rootfs" module
  ci/rauc-dev-keys.sh "$WORK/keys" >/dev/null
  guest_root "$root" radio-test "$WORK/keys/dev.cert.pem" "$HERE/config-overrides.toml"
  # The software radios: mac80211_hwsim and what it needs, loaded by the stage (radio.sh).
  for module in $(modprobe -d "$WORK/kernel" -S "$KVER" --show-depends mac80211_hwsim | awk '$1 == "insmod" { print $2 }'); do
    install -D -m 0644 "$module" "$root${module#"$WORK/kernel"}"
  done
  # The kernel's crypto modules, which mac80211 asks modprobe for when a key is set (CCMP's ccm,
  # BIP's cmac for protected management frames).
  for module in kernel/crypto kernel/arch/x86/crypto; do
    mkdir -p "$root/lib/modules/$KVER/$module"
    cp -a "$WORK/kernel/lib/modules/$KVER/$module/." "$root/lib/modules/$KVER/$module/"
  done
  cp "$WORK/kernel/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$KVER/"
  depmod -b "$root" "$KVER"
  # The tools' output (hostapd, wpa_supplicant, udhcpc, dnsmasq) in the journal: the recorder
  # logs it at debug level.
  mkdir -p "$root/etc/systemd/system/moment-recorder.service.d"
  printf '[Service]\nEnvironment=RUST_LOG=info,moment_recorder::network=debug\n' \
    >"$root/etc/systemd/system/moment-recorder.service.d/radio-test.conf"
  install -D -m 0755 "$HERE/radio.sh" "$root/usr/libexec/moment-test/radio.sh"
  install -D -m 0755 "$HERE/phone-dhcp.sh" "$root/usr/libexec/moment-test/phone-dhcp.sh"
  # The home network's NTP server: chronyd alone from Debian's package (the package itself
  # conflicts with systemd-timesyncd, the device's time client as on the image).
  apt_fetch "$CACHE" chrony "$WORK/chrony" || die "no chrony"
  install -D -m 0755 "$WORK/chrony/usr/sbin/chronyd" "$root/usr/libexec/moment-test/chronyd"
  install -D -m 0644 "$HERE/moment-test-radios.service" "$root/etc/systemd/system/moment-test-radios.service"
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sfn ../moment-test-radios.service "$root/etc/systemd/system/multi-user.target.wants/moment-test-radios.service"
  squash_root "$root" "$WORK/in/rootfs.squashfs"
}

make_initramfs() {
  apt_fetch "$CACHE" busybox-static "$WORK/busybox" || die "no busybox"
  module_initramfs "$WORK/initramfs.cpio.gz" "$WORK/kernel" "$KVER" "$WORK/busybox/bin/busybox" \
    squashfs sdhci-pci mmc_block ext4 vfat nls_cp437 nls_ascii
}

make_card() {
  mkenvimage -r -s 0x4000 -o "$WORK/in/uboot-env.bin" board/zero2w/uboot-env.txt
  # Factory-fresh: no pre-seed file on the boot partition, only the board's cmdline.txt (a vfat
  # image needs a file).
  cp board/zero2w/cmdline.txt "$WORK/in/cmdline.txt"
  small_card_cfg "$RING_SIZE" "$DATA_OFFSET" "$DATA_SIZE" '"cmdline.txt"' >"$WORK/genimage.cfg"
  genimage --loglevel 0 --config "$WORK/genimage.cfg" --rootpath "$WORK/empty" \
    --tmppath "$WORK/genimage-tmp" --inputpath "$WORK/in" --outputpath "$WORK/out"
  CARD="$WORK/out/sdcard.img"
  truncate -s "$CARD_SIZE" "$CARD"
}

build() {
  mkdir -p "$WORK/in" "$WORK/empty" "$ART"
  timed kernel fetch_kernel
  timed base-rootfs fetch_base
  timed recorder recorder_binary
  timed rootfs make_rootfs
  timed initramfs make_initramfs
  timed card make_card
}

# --- the guest -------------------------------------------------------------------------------

start_qemu() {
  x86_qemu "$ART/console.log" "$ART/qemu.log" \
    "$(board_cmdline) root=/dev/mmcblk0p2 rauc.slot=A net.ifnames=0 panic=-1 systemd.show_status=1"
  log "qemu pid $QEMU_PID, console $ART/console.log"
}

# The stage is up (radios in their namespaces, the home access point beaconing) and the
# recorder is READY, within a bound.
check_stage() {
  local deadline=$((SECONDS + BOOT_TIMEOUT_S)) state=""
  guest wait-probe "$WORK/probe.sock" "$BOOT_TIMEOUT_S"
  while ((SECONDS < deadline)); do
    kill -0 "$QEMU_PID" 2>/dev/null || { echo "qemu exited"; return 1; }
    state="$(probe systemctl is-active moment-test-radios.service || true)"
    [[ "$state" == active ]] && break
    [[ "$state" == failed ]] && { probe journalctl -b -o cat -u moment-test-radios.service | tail -n 5; return 1; }
    sleep 2
  done
  [[ "$state" == active ]] || { echo "the stage is '$state'"; return 1; }
  [[ "$(probe 'ls /sys/class/ieee80211 | wc -l; ip netns list | wc -l' | tr '\n' ' ')" == "1 2 " ]] ||
    { echo "expected one radio left in the root namespace and two namespaces"; return 1; }
  echo "3 radios: wlan0 the device's, wlan1 in netns phone, wlan2 in netns home (MomentHome up)" \
    "$((SECONDS - BOOT_STARTED)) s after power-on"
}

check_ready() {
  local deadline=$((SECONDS + BOOT_TIMEOUT_S)) state=""
  while ((SECONDS < deadline)); do
    state="$(probe systemctl is-active moment-recorder.service || true)"
    [[ "$state" == active ]] && break
    if (($(probe systemctl show -p NRestarts --value moment-recorder.service || echo 0) >= 3)); then
      probe journalctl -b -o cat -n 8 -u moment-recorder.service || true
      return 1
    fi
    sleep 2
  done
  [[ "$state" == active ]] || { echo "moment-recorder.service is '$state'"; return 1; }
  echo "moment-recorder.service active (READY=1) $((SECONDS - BOOT_STARTED)) s after power-on"
}

# The device's access point's name: Moment- and the last two bytes of wlan0's MAC, in hex.
ap_ssid() {
  local mac
  mac="$(probe cat /sys/class/net/wlan0/address)"
  mac="${mac//:/}"
  mac="${mac:8:4}"
  echo "Moment-${mac^^}"
}

check_beacon() {
  local out
  out="$(in_guest 120 phone-hears "$AP_SSID" 120)" || { echo "$out"; return 1; }
  timing "power-on to beacon heard by the phone" "$((SECONDS - BOOT_STARTED)) s (from the guest's scan: $out)"
  echo "$out"
}

check_associate() {
  local out
  out="$(in_guest 60 phone-join "$AP_SSID" "$AP_PASSPHRASE" 60)" || { echo "$out"; return 1; }
  echo "$SECONDS" >"$WORK/associated-at"
  echo "$out, with the factory passphrase"
}

check_lease() {
  local lease url ip
  lease="$(in_guest 30 phone-lease)" || { echo "$lease"; return 1; }
  ip="$(sed -n 's/^ip=//p' <<<"$lease")"
  [[ "$ip" == 192.168.4.* ]] || { echo "lease: $lease"; return 1; }
  [[ "$(sed -n 's/^router=//p' <<<"$lease")" == "$AP_ADDRESS" ]] || { echo "router: $lease"; return 1; }
  [[ "$(sed -n 's/^dns=//p' <<<"$lease")" == "$AP_ADDRESS" ]] || { echo "dns: $lease"; return 1; }
  url="$(sed -n 's/^opt114=//p' <<<"$lease" | xxd -r -p)"
  [[ "$url" == "http://$AP_ADDRESS/" ]] || { echo "option 114 is '$url': $lease"; return 1; }
  timing "association to lease" "$(sed -n 's/^seconds=//p' <<<"$lease") s"
  echo "$ip, router and DNS $AP_ADDRESS, captive portal (option 114) $url"
}

check_any_name() {
  local name address
  for name in connectivitycheck.gstatic.com captive.apple.com www.msftconnecttest.com made-up.example; do
    address="$(in_guest 20 phone-resolve "$name" "$AP_ADDRESS")"
    [[ "$address" == "$AP_ADDRESS" ]] || { echo "$name resolves to '$address'"; return 1; }
  done
  echo "connectivitycheck.gstatic.com, captive.apple.com, www.msftconnecttest.com, made-up.example -> $AP_ADDRESS"
}

# Each OS's probe, by the name it uses, answered with a redirect to the portal (anything but the
# expected 204 or "Success" page makes it open its sign-in sheet), and the portal serves the app.
check_portal() {
  local host path answer out=()
  while read -r host path; do
    answer="$(in_guest 20 phone-curl -s -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
      --resolve "$host:80:$AP_ADDRESS" "http://$host$path")"
    [[ "$answer" == "302 http://$AP_ADDRESS/" ]] || { echo "http://$host$path: $answer"; return 1; }
    out+=("$path 302")
  done <<EOF
connectivitycheck.gstatic.com /generate_204
captive.apple.com /hotspot-detect.html
www.msftconnecttest.com /connecttest.txt
www.msftncsi.com /ncsi.txt
detectportal.firefox.com /success.txt
EOF
  answer="$(in_guest 20 phone-curl -s -m 10 "http://$AP_ADDRESS/")"
  grep -qi '<html' <<<"$answer" || { echo "the portal page: ${answer:0:200}"; return 1; }
  timing "association to portal answering" "$((SECONDS - $(cat "$WORK/associated-at"))) s (host clock: lease, DNS and the probes, each through the probe)"
  echo "${out[*]} to http://$AP_ADDRESS/, which serves the app"
}

# The wizard's data as the page gets it (GET /api/setup), from the phone.
setup_view() { in_guest 20 phone-curl -sf -m 10 "http://$AP_ADDRESS/api/setup"; }

check_device_scan() {
  local view
  view="$(setup_view)" || { echo "GET /api/setup failed"; return 1; }
  python3 -c '
import json, sys
view = json.loads(sys.argv[1])
home = [n for n in view["networks"] if n["ssid"] == sys.argv[2]]
assert home, "not in the list: %s" % view["networks"]
assert home[0]["secured"], "not secured: %s" % home[0]
print("the wizard lists %s (secured, %s dBm) from the scan before the access point; the AP is %s"
      % (sys.argv[2], home[0]["signal_dbm"], view["ap_ssid"]))' "$view" "$HOME_SSID"
}

# submit_body PASSWORD [SSID]: the wizard's POST /api/setup body, as setup.js builds it.
submit_body() {
  python3 -c '
import json, sys, time
print(json.dumps({
    "wifi": {"ssid": sys.argv[1], "password": sys.argv[2], "hidden": False},
    "admin_password": sys.argv[3],
    "time_utc_ms": int(time.time() * 1000),
    "upload": {"kind": "webdav", "path": "moment",
               "fields": {"url": "http://192.168.50.1:8080", "vendor": "other",
                          "user": "moment", "pass": "radio-test"}},
    "policy": "immediate",
    "window": None,
}))' "${2:-$HOME_SSID}" "$1" "$ADMIN_PASSWORD"
}

# submit PASSWORD [SSID]: POSTs the wizard from the phone; prints "STATUS BODY".
submit() {
  local body
  body="$(submit_body "$@")"
  # The body through the probe's one line: as JSON it has no line breaks; quoted for bash -c.
  guest probe "$WORK/probe.sock" 40 "ip netns exec phone curl -s -m 20 -w ' %{http_code}' -H 'X-Moment: 1'" \
    "-H 'Content-Type: application/json' --data-binary '$body' http://$AP_ADDRESS/api/setup"
}

check_no_password() {
  local answer
  answer="$(submit "")" || true
  [[ "$answer" == *' 400' ]] || { echo "answered: $answer"; return 1; }
  grep -q '"field":"wifi.password"' <<<"$answer" || { echo "no field: $answer"; return 1; }
  in_guest 10 phone-connected "$AP_SSID" >/dev/null || { echo "the phone lost the access point"; return 1; }
  setup_view >/dev/null || { echo "the wizard is gone"; return 1; }
  echo "refused: ${answer% 400} (400); the phone stays on $AP_SSID and the wizard answers"
}

# The wizard's rescan, as the page does it: POST /api/setup/scan (the page has said the phone may
# drop off), then GET /api/setup until the list is newer. The access point goes down for the scan;
# the phone rejoins it by itself and the wizard goes on where it was.
# scanned_at: when the wizard's list was scanned (ms), as GET /api/setup says; empty if unanswered.
scanned_at() { setup_view 2>/dev/null | sed -n 's/.*"scanned_unix_ms":\([0-9]*\).*/\1/p'; }

check_rescan() {
  local before after="" start answer deadline
  before="$(scanned_at)"
  [[ -n "$before" ]] || { echo "no scan time in the wizard's view"; return 1; }
  start=$SECONDS
  answer="$(in_guest 20 phone-curl -s -m 10 -w ' %{http_code}' -X POST -H 'X-Moment: 1' "http://$AP_ADDRESS/api/setup/scan")"
  [[ "$answer" == *' 202' ]] || { echo "rescan answered: $answer"; return 1; }
  deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    after="$(scanned_at)" || true
    [[ -n "$after" && "$after" != "$before" ]] && break
    sleep 1
  done
  [[ -n "$after" && "$after" != "$before" ]] || { echo "no new list within 90 s; $(in_guest 10 phone-connected "$AP_SSID" || true)"; return 1; }
  in_guest 10 phone-connected "$AP_SSID" >/dev/null || { echo "the phone is not back on $AP_SSID"; return 1; }
  timing "rescan to the wizard answering again" "$((SECONDS - start)) s (access point down, scan, up, the phone back)"
  echo "the access point went down for the scan; the phone rejoined $AP_SSID and the wizard has a new list after $((SECONDS - start)) s"
}

# After a submit that cannot work: the page's own poll (GET /api/setup from the phone) finds the
# access point back with the reason matching PATTERN; nothing of the form was saved.
# failed_join WHAT PASSWORD SSID PATTERN
failed_join() {
  local what="$1" answer start view deadline saved
  start=$SECONDS
  answer="$(submit "$2" "$3")" || { echo "submit: $answer"; return 1; }
  [[ "$answer" == *' 202' ]] || { echo "submit answered: $answer"; return 1; }
  deadline=$((SECONDS + 120))
  while :; do
    view="$(setup_view 2>/dev/null)" || view=""
    [[ "$view" == *'"mode":"ap"'* && "$view" == *'"last_error":"'* ]] && break
    ((SECONDS < deadline)) || { echo "the wizard did not come back with a reason within 120 s"; return 1; }
    sleep 1
  done
  grep -qiE "$4" <<<"$view" || { echo "the reason does not say '$4': $view"; return 1; }
  saved="$(in_guest 10 saved)"
  [[ "$saved" == none ]] || { echo "saved after a failed join: $saved"; return 1; }
  [[ "$view" == *'"admin_password_set":false'* ]] || { echo "the admin password was taken: $view"; return 1; }
  timing "$what: submit to the reason on the page" "$((SECONDS - start)) s (goal 20 s; the phone's rejoining included)"
  echo "on the page after $((SECONDS - start)) s: $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["last_error"])' "$view"); nothing saved"
}

check_wrong_password() { failed_join "wrong password" "not-the-home-password" "$HOME_SSID" 'password'; }
check_gone_ssid() { failed_join "network gone" "whatever-123" "MomentGone" 'no network named'; }

check_wizard_join() {
  local answer start out saved
  start=$SECONDS
  answer="$(submit "$HOME_PASS")" || { echo "submit: $answer"; return 1; }
  [[ "$answer" == *' 202' && "$answer" == *"\"joining\":\"$HOME_SSID\""* ]] || { echo "submit answered: $answer"; return 1; }
  out="$(in_guest 60 device-station "$HOME_SSID" 60)" || { echo "$out"; return 1; }
  timing "submit to station connected" "$((SECONDS - start)) s (host clock; the guest saw: ${out##* after })"
  date +%s >"$WORK/station-at"
  saved="$(in_guest 10 saved)"
  [[ "$saved" == "wifi admin remote" ]] || { sleep 3; saved="$(in_guest 10 saved)"; }
  [[ "$saved" == "wifi admin remote" ]] || { echo "kept once joined: '$saved'"; return 1; }
  echo "submit answered 202 $answer; $out; saved once joined: $saved"
}

# The clock syncs when NTP is reachable: systemd-timesyncd (as on the image) resolves its pool
# names through the home network's DNS and synchronises with its NTP server.
check_clock_ntp() {
  local out
  out="$(in_guest 120 device-ntp 120)" || { echo "$out"; return 1; }
  timing "station connected to the clock synchronised" "$(($(date +%s) - $(cat "$WORK/station-at"))) s"
  echo "systemd-timesyncd: $out"
}

# Scenario 3: the phone moves to the home network, finds the camera as moment.local over mDNS,
# opens the app, logs in with the wizard's admin password, saves a memory, and the memory reaches
# the WebDAV target the wizard set.
check_mdns_upload() {
  local lease device address page name out
  in_guest 10 phone-forget >/dev/null
  in_guest 60 phone-join "$HOME_SSID" "$HOME_PASS" 60 >/dev/null || { echo "the phone did not join $HOME_SSID"; return 1; }
  lease="$(in_guest 30 phone-lease)" || { echo "$lease"; return 1; }
  [[ "$lease" == *ip=192.168.50.* ]] || { echo "home lease: $lease"; return 1; }
  device="$(probe "ip -4 -o addr show dev wlan0 | awk '{ split(\$4, a, \"/\"); print a[1]; exit }'")"
  address="$(in_guest 60 phone-mdns moment.local 45)" || { echo "$address"; return 1; }
  [[ "$address" == "$device" ]] || { echo "moment.local is $address, the device is $device"; return 1; }
  page="$(in_guest 20 phone-curl -s -m 10 --resolve "moment.local:80:$address" http://moment.local/)"
  grep -qi '<html' <<<"$page" || { echo "http://moment.local/: ${page:0:200}"; return 1; }
  name="$(in_guest 130 phone-save "$address" "$ADMIN_PASSWORD")" || { echo "$name"; return 1; }
  out="$(in_guest 180 uploaded "$name" 180)" || { echo "$out"; return 1; }
  echo "moment.local -> $address over mDNS from the phone; the app answers; SAVE made $name; $out"
}

# station_log: the device-station probe's last samples (seconds, state, SSID, address), so a
# failure says what the device was doing.
station_log() { echo "last samples: $(in_guest 10 device-station-log 5 | tr '\n' ';' || true)"; }

# The home access point becomes WPA3-SAE only (management frame protection required): the device
# must follow with SAE, which a WPA2-only wpa_supplicant configuration cannot.
check_wpa3_home() {
  local out
  in_guest 40 home-ap wpa3 >/dev/null
  in_guest 40 home-up 30 >/dev/null || { echo "the WPA3 home access point did not start"; return 1; }
  out="$(in_guest 60 device-station "$HOME_SSID" 60)" || { echo "$out; $(station_log)"; return 1; }
  [[ "$out" == *"(SAE)"* ]] || { echo "not SAE: $out"; return 1; }
  echo "$out"
}

check_home_gone() {
  local out start
  in_guest 10 phone-forget >/dev/null
  start=$SECONDS
  in_guest 20 home-ap stop >/dev/null
  # Heard by the phone is the proof; the device may already be trying the home network again
  # (every 15 s while no phone is on its access point) by the time it is asked.
  out="$(in_guest 150 phone-hears "$AP_SSID" 150)" || { echo "$out; $(in_guest 10 device-ap || true)"; return 1; }
  timing "home gone to the device's AP heard" "$((SECONDS - start)) s (grace period ${JOIN_LIMIT_S} s)"
  echo "the home network stopped; $out"
}

# newest_seq: the ring's newest durable segment, from the recorder's status.
newest_seq() { probe "moment-recorder status | grep -oE '\"newest_seq\": ?[0-9]+' | grep -oE '[0-9]+\$'"; }

# Scenario 6: both buttons held 10 s through the button interface (the simulated buttons'
# gesture path, as a physical hold): the network and the upload target are wiped, the access
# point is back, the memories stay and recording goes on.
check_button_reset() {
  local memories seq_before seq_after out saved start
  memories="$(in_guest 10 memories)"
  seq_before="$(newest_seq)"
  start=$SECONDS
  probe moment-recorder press both --hold 11s >/dev/null || { echo "the press was refused"; return 1; }
  in_guest 10 phone-forget >/dev/null
  out="$(in_guest 120 phone-hears "$AP_SSID" 120)" || { echo "$out"; return 1; }
  saved="$(in_guest 10 saved)"
  [[ "$saved" == none || "$saved" == admin ]] || { echo "left after the reset: $saved"; return 1; }
  [[ "$(in_guest 10 memories)" -ge "$memories" ]] || { echo "memories lost: $memories before"; return 1; }
  seq_after="$(newest_seq)"
  ((seq_after > seq_before)) || { echo "recording stopped: newest segment $seq_before then $seq_after"; return 1; }
  timing "button reset to the access point heard" "$((SECONDS - start)) s (11 s hold included)"
  echo "held 11 s: Wi-Fi and upload target wiped (kept: $saved), $out; $memories memories kept; recording on (segment $seq_before -> $seq_after)"
}

check_home_back() {
  local out start
  start=$SECONDS
  in_guest 40 home-ap wpa3 >/dev/null
  in_guest 40 home-up 30 >/dev/null || { echo "the home access point did not start again"; return 1; }
  out="$(in_guest 120 device-station "$HOME_SSID" 120)" || { echo "$out; $(station_log)"; return 1; }
  timing "home back to the device rejoined" "$((SECONDS - start)) s (retry every 15 s)"
  echo "$out"
}

# The device's own times, from its journal (monotonic seconds since the kernel started): the
# recorder's mode changes, and from the wizard's submit accepted ("setup: joining") to station.
journal_timings() {
  probe "journalctl -b -o short-monotonic -u moment-recorder.service | grep -E 'network: mode|setup: joining|network: associated'" 2>/dev/null |
    python3 -c '
import re, sys
accepted = None
for line in sys.stdin:
    m = re.match(r"\[\s*([0-9.]+)\].*?(network: mode.*|setup: joining \S+|network: associated)", line)
    if not m:
        continue
    t, what = float(m.group(1)), m.group(2)
    print("[%8.1f s] %s" % (t, what))
    if what.startswith("setup: joining"):
        accepted = t
    elif accepted is not None and what.endswith("to=Station"):
        print("submit accepted to station (device journal): %.1f s" % (t - accepted))
        accepted = None' || true
}

dump_logs() {
  [[ -n "$QEMU_PID" ]] || return 0
  probe journalctl -b --no-pager -o short-monotonic >"$ART/journal.log" 2>&1 || true
  probe "tail -n 100 /run/radio/*.log; cat /run/moment-recorder/network/*.conf 2>&1" >"$ART/radio-files.log" 2>&1 || true
}

journey() {
  start_qemu
  check stage check_stage || return 1
  check recorder-ready check_ready || return 1
  AP_SSID="$(ap_ssid)"
  check beacon check_beacon || return 1
  check associate check_associate || return 1
  check lease check_lease || return 1
  check any-name check_any_name
  check portal check_portal
  check home-webdav in_guest 30 home-webdav
  check device-scan check_device_scan
  check rescan check_rescan
  check no-password check_no_password
  check wrong-password check_wrong_password
  check gone-ssid check_gone_ssid
  check wizard-join check_wizard_join || return 1
  check clock-ntp check_clock_ntp
  check mdns-upload check_mdns_upload
  check wpa3-home check_wpa3_home || return 1
  check home-gone check_home_gone || return 1
  check home-back check_home_back
  check button-reset check_button_reset
}

cleanup() {
  local status=$?
  dump_logs
  stop_qemu
  if ((status != 0 || FAILED != 0)) || [[ "${MOMENT_QEMU_KEEP:-}" == 1 ]]; then
    log "kept: $WORK (console, journal with hostapd/dnsmasq/wpa_supplicant of the phone and home, the device's generated files in $ART)"
  else
    rm -rf "$WORK"
  fi
}

main() {
  build
  journey || true
  log "timings:"
  local line
  if [[ -s "$WORK/timings" ]]; then
    while read -r line; do log "  $line"; done <"$WORK/timings"
  fi
  if [[ -n "$QEMU_PID" ]]; then
    log "  the device's mode changes (journal, seconds since the kernel started):"
    journal_timings | while read -r line; do log "  $line"; done
  fi
  ((FAILED == 0)) || die "the radio test failed after $((SECONDS - STARTED)) s"
  log "PASS: every check passed in $((SECONDS - STARTED)) s"
}

main "$@"
