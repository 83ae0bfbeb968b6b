#!/bin/bash
# The radio test's hands inside the guest (test image only; tests/radio.sh calls it through the
# probe). Three mac80211_hwsim radios share one simulated medium: wlan0 stays with the device
# (the recorder runs its own hostapd, dnsmasq, wpa_supplicant and udhcpc there, as on the
# camera), wlan1 becomes the phone (namespace "phone": wpa_supplicant driven with wpa_cli,
# busybox udhcpc, curl) and wlan2 the home network (namespace "home": hostapd WPA2-PSK or
# WPA3-SAE only, dnsmasq for DHCP and DNS, chronyd serving NTP as a home router's upstream would,
# rclone serving WebDAV). The phone also runs its own
# avahi-daemon (wlan1 only, no D-Bus, its own /run/avahi-daemon) so that getent with nss-mdns
# resolves moment.local over the air as a phone does. The daemons run as transient systemd units
# (radio-*) so the test can stop and start them and their logs land in the journal.
# Every wait has a deadline; answers are one line, times in seconds.
set -euo pipefail

readonly RUN=/run/radio
readonly HOME_SSID=MomentHome
readonly HOME_PASS=moment-home-pass
readonly HOME_ADDR=192.168.50.1
readonly WEBDAV_USER=moment
readonly WEBDAV_PASS=radio-test
readonly PHONE_CTRL=$RUN/phone
readonly DEVICE_CTRL=/run/moment-recorder/network/wpa_supplicant
readonly HELPERS=/usr/libexec/moment-test
readonly STATE=/data/state
readonly MEMORIES=/data/memories
readonly RCLONE_CONF=/data/rclone/rclone.conf
# The phone's mount view for mDNS: its avahi's socket where nss-mdns looks for it, and none of the
# device's service files (the image links /etc/avahi/services to the recorder's directory).
readonly PHONE_MDNS=(-p "BindPaths=$RUN/phone-avahi:/run/avahi-daemon" -p TemporaryFileSystem=/run/moment-recorder/avahi)

fail() {
  echo "$*"
  exit 1
}

# Time for deadlines and waits is the time since boot, never the wall clock ($SECONDS,
# $EPOCHREALTIME): systemd-timesyncd may step the device's clock while the test runs, and a
# step back would stretch the deadline of a loop running at that moment past the host's probe
# time-out. boot_time: seconds since boot with hundredths; uptime_s: whole seconds.
boot_time() {
  local up
  read -r up _ </proc/uptime
  echo "$up"
}
uptime_s() {
  local up
  up="$(boot_time)"
  echo "${up%.*}"
}
# since START: seconds from START ($(boot_time)) to now, one decimal.
since() { awk -v s="$1" -v e="$(boot_time)" 'BEGIN { printf "%.1f", e - s }'; }

# device_tool COMMAND...: COMMAND in the recorder's mount namespace: its /tmp is private
# (PrivateTmp=), and wpa_cli and hostapd_cli get their answers through a socket they make there.
# Bounded: a supplicant busy with SAE under emulation may hold a request for its 10 s limit.
device_tool() { timeout 5 nsenter -t "$(systemctl show -p MainPID --value moment-recorder.service)" -m "$@"; }
# Bounded like device_tool, so every loop keeps its deadline when the emulated CPU is starved.
phone_cli() { timeout 5 wpa_cli -p "$PHONE_CTRL" -i wlan1 "$@"; }
in_phone() { ip netns exec phone "$@"; }

# unit NAME NETNS COMMAND...: COMMAND as the transient unit radio-NAME in namespace NETNS.
unit() {
  local name="$1" ns="$2"
  shift 2
  systemctl stop "radio-$name.service" 2>/dev/null || true
  systemctl reset-failed "radio-$name.service" 2>/dev/null || true
  systemd-run --quiet --unit "radio-$name" -p NetworkNamespacePath="/run/netns/$ns" \
    -p Environment=HOME=$RUN "$@"
}

write_configs() {
  mkdir -p "$RUN/webdav"
  local common
  common="interface=wlan2
driver=nl80211
ctrl_interface=$RUN/home-ap
ssid=$HOME_SSID
hw_mode=g
channel=1
wpa=2
rsn_pairwise=CCMP"
  printf '%s\nwpa_key_mgmt=WPA-PSK\nwpa_passphrase=%s\n' "$common" "$HOME_PASS" >"$RUN/home-wpa2.conf"
  # WPA3-Personal only: SAE with management frame protection required (no WPA2 fallback).
  printf '%s\nwpa_key_mgmt=SAE\nieee80211w=2\nsae_password=%s\n' "$common" "$HOME_PASS" >"$RUN/home-wpa3.conf"
  printf 'ctrl_interface=%s\nupdate_config=0\nap_scan=1\n' "$PHONE_CTRL" >"$RUN/phone.conf"
  # NTP as the internet gives it, from the home network: a local reference at stratum 3.
  printf 'local stratum 3\nallow %s/24\nbindaddress %s\ncmdport 0\npidfile %s/chronyd.pid\n' \
    "${HOME_ADDR%.*}.0" "$HOME_ADDR" "$RUN" >"$RUN/home-chrony.conf"
  mkdir -p "$RUN/phone-avahi"
  printf '[server]\nhost-name=phone\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=wlan1\nenable-dbus=no\n[publish]\ndisable-publishing=yes\n' \
    >"$RUN/phone-avahi.conf"
}

# Radios, namespaces, the home network and the phone's supplicant (before the recorder starts).
cmd_stage() {
  local deadline=$(($(uptime_s) + 30)) phy
  modprobe mac80211_hwsim radios=3
  until [[ -e /sys/class/net/wlan2 ]]; do
    (($(uptime_s) < deadline)) || fail "wlan0..2 did not appear"
    sleep 0.2
  done
  ip netns add phone
  ip netns add home
  phy="$(cat /sys/class/net/wlan1/phy80211/name)"
  iw phy "$phy" set netns name phone
  phy="$(cat /sys/class/net/wlan2/phy80211/name)"
  iw phy "$phy" set netns name home
  ip -n phone link set lo up
  ip -n phone link set wlan1 up
  ip -n home link set lo up
  ip -n home addr add "$HOME_ADDR/24" dev wlan2
  write_configs
  cmd_home_ap wpa2
  # DHCP, and DNS answering every name with the home router (so the device's NTP pool names
  # reach its NTP server; there is no internet here).
  unit home-dhcp home dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
    --user=root --no-resolv --address="/#/$HOME_ADDR" --interface=wlan2 --bind-interfaces --listen-address="$HOME_ADDR" \
    --dhcp-range=192.168.50.10,192.168.50.100,255.255.255.0,10m \
    --dhcp-option=option:router,"$HOME_ADDR" --dhcp-leasefile="$RUN/home.leases" --no-ping
  unit home-webdav home rclone serve webdav "$RUN/webdav" --config "$RUN/rclone.conf" \
    --addr "$HOME_ADDR:8080" --user "$WEBDAV_USER" --pass "$WEBDAV_PASS"
  # chronyd -x: serve time, never set the clock (the namespaces share the kernel's).
  unit home-ntp home "$HELPERS/chronyd" -d -x -u root -f "$RUN/home-chrony.conf"
  unit phone phone wpa_supplicant -i wlan1 -D nl80211 -c "$RUN/phone.conf"
  unit phone-avahi phone "${PHONE_MDNS[@]}" avahi-daemon --no-chroot --no-drop-root -f "$RUN/phone-avahi.conf"
  cmd_home_up 30
}

# home-ap wpa2|wpa3|stop: the home access point's hostapd with that security, or none.
cmd_home_ap() {
  systemctl stop radio-home-ap.service 2>/dev/null || true
  [[ "$1" == stop ]] && return 0
  unit home-ap home hostapd "$RUN/home-$1.conf"
}

# home-up TIMEOUT: the home access point beacons (hostapd says ENABLED).
cmd_home_up() {
  local deadline=$(($(uptime_s) + $1))
  until hostapd_cli -p "$RUN/home-ap" -i wlan2 status 2>/dev/null | grep -qx 'state=ENABLED'; do
    (($(uptime_s) < deadline)) || fail "the home access point is not up after $1 s"
    sleep 0.2
  done
}

# phone-hears SSID TIMEOUT: scans from the phone (explicitly, every round: a disconnected
# supplicant may not scan by itself) until SSID is in the results; prints the wait.
cmd_phone_hears() {
  local ssid="$1" start deadline=$(($(uptime_s) + $2))
  start="$(boot_time)"
  while (($(uptime_s) < deadline)); do
    phone_cli scan >/dev/null 2>&1 || true
    sleep 1.5
    if phone_cli scan_results 2>/dev/null | awk -F'\t' -v s="$ssid" '$5 == s { found = 1 } END { exit !found }'; then
      echo "the phone hears $ssid after $(since "$start") s"
      return 0
    fi
  done
  fail "the phone did not hear $ssid within $2 s; it hears: $(phone_cli scan_results | awk -F'\t' 'NR > 1 { printf "%s ", $5 }')"
}

# phone-mdns NAME TIMEOUT: NAME's IPv4 address as the phone's resolver finds it over mDNS (nss-mdns
# asking the phone's avahi, which asks on wlan1); prints it.
cmd_phone_mdns() {
  local deadline=$(($(uptime_s) + $2)) address=""
  while (($(uptime_s) < deadline)); do
    address="$(systemd-run --quiet --wait --pipe -p NetworkNamespacePath=/run/netns/phone "${PHONE_MDNS[@]}" \
      getent ahostsv4 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }')" || true
    if [[ -n "$address" ]]; then
      echo "$address"
      return 0
    fi
    sleep 1
  done
  fail "$1 did not resolve over mDNS from the phone within $2 s"
}

# phone-join SSID PASSPHRASE TIMEOUT: the phone associates (WPA2-PSK); prints the wait.
cmd_phone_join() {
  local ssid="$1" pass="$2" start deadline=$(($(uptime_s) + $3)) id state
  start="$(boot_time)"
  phone_cli remove_network all >/dev/null
  id="$(phone_cli add_network)"
  phone_cli set_network "$id" ssid "\"$ssid\"" >/dev/null
  phone_cli set_network "$id" key_mgmt WPA-PSK >/dev/null
  phone_cli set_network "$id" psk "\"$pass\"" >/dev/null
  phone_cli select_network "$id" >/dev/null
  while (($(uptime_s) < deadline)); do
    state="$(phone_cli status | sed -n 's/^wpa_state=//p')"
    if [[ "$state" == COMPLETED ]]; then
      echo "the phone joined $ssid (WPA2) after $(since "$start") s"
      return 0
    fi
    sleep 0.2
  done
  fail "the phone did not join $ssid within $3 s (state $state)"
}

# phone-connected SSID: the phone is still associated with SSID.
cmd_phone_connected() {
  local status
  status="$(phone_cli status)"
  if ! grep -qx 'wpa_state=COMPLETED' <<<"$status" || ! grep -qx "ssid=$1" <<<"$status"; then
    fail "the phone is not on $1: $(tr '\n' ' ' <<<"$status")"
  fi
  echo "the phone is on $1"
}

# phone-forget: the phone leaves every network and forgets what it saw.
cmd_phone_forget() {
  phone_cli remove_network all >/dev/null
  phone_cli disconnect >/dev/null
  phone_cli bss_flush 0 >/dev/null
  in_phone ip addr flush dev wlan1
}

# phone-lease: a DHCP lease for the phone (busybox udhcpc), printed as key=value lines. Tried
# again within 30 s: under emulation the access point may still drop the phone once just after
# the handshake (4WAY_HANDSHAKE_TIMEOUT), and the phone's supplicant then joins again.
cmd_phone_lease() {
  local start deadline=$(($(uptime_s) + 30))
  start="$(boot_time)"
  rm -f "$RUN/phone-lease"
  until in_phone timeout 10 busybox udhcpc -i wlan1 -t 3 -T 1 -n -q -f -O 114 \
    -s "$HELPERS/phone-dhcp.sh" >>"$RUN/udhcpc.log" 2>&1; do
    (($(uptime_s) < deadline)) || fail "no lease within 30 s: $(tail -n 3 "$RUN/udhcpc.log")"
    sleep 1
  done
  [[ -s "$RUN/phone-lease" ]] || fail "udhcpc wrote no lease"
  cat "$RUN/phone-lease"
  echo "seconds=$(since "$start")"
}

# phone-resolve NAME SERVER: the address NAME resolves to, asked from the phone.
cmd_phone_resolve() {
  in_phone busybox nslookup "$1" "$2" 2>&1 | awk '/^Name:/ { name = 1; next } name && /^Address/ { print $NF; exit }'
}

# phone-curl ARGS...: curl from the phone's namespace.
cmd_phone_curl() { in_phone curl "$@"; }

# device-station SSID TIMEOUT: the device's own wpa_supplicant is associated with SSID and
# wlan0 has an address; prints the wait, the address and the key management used.
cmd_device_station() {
  local ssid="$1" start deadline=$(($(uptime_s) + $2)) status="" address=""
  start="$(boot_time)"
  while (($(uptime_s) < deadline)); do
    status="$(device_tool wpa_cli -p "$DEVICE_CTRL" -i wlan0 status 2>/dev/null || true)"
    address="$(timeout 5 ip -4 -o addr show dev wlan0 | awk '{ print $4; exit }')"
    printf '%s %s %s %s\n' "$(since "$start")" "$(sed -n 's/^wpa_state=//p' <<<"$status")" \
      "$(sed -n 's/^ssid=//p' <<<"$status")" "$address" >>"$RUN/device-station.log"
    if grep -qx 'wpa_state=COMPLETED' <<<"$status" && grep -qx "ssid=$ssid" <<<"$status" &&
      [[ "$address" == 192.168.50.* ]]; then
      echo "the device is on $ssid ($(sed -n 's/^key_mgmt=//p' <<<"$status")) with $address after $(since "$start") s"
      return 0
    fi
    sleep 0.2
  done
  fail "the device is not on $ssid after $2 s: $(tr '\n' ' ' <<<"$status") address '$address'"
}

# saved: what the device keeps of the wizard, one word each: wifi, admin, remote (or none).
cmd_saved() {
  local kept=()
  [[ -e "$STATE/wifi.json" ]] && kept+=(wifi)
  [[ -e "$STATE/admin.json" ]] && kept+=(admin)
  grep -qx '\[moment\]' "$RCLONE_CONF" 2>/dev/null && kept+=(remote)
  echo "${kept[*]:-none}"
}

# device-ntp TIMEOUT: the device's systemd-timesyncd has synchronised with the home network's NTP
# server (its journal says so); prints the line.
cmd_device_ntp() {
  local deadline=$(($(uptime_s) + $1)) line=""
  while (($(uptime_s) < deadline)); do
    line="$(journalctl -b -o cat -u systemd-timesyncd.service | grep -F "Contacted time server $HOME_ADDR:123" | tail -n 1)" || true
    if [[ -n "$line" ]]; then
      echo "$line"
      return 0
    fi
    sleep 1
  done
  fail "systemd-timesyncd did not reach $HOME_ADDR within $1 s: $(journalctl -b -o cat -u systemd-timesyncd.service | tail -n 3 | tr '\n' ' ')"
}

# The device's memory files, one name a line, sorted.
memory_names() { find "$MEMORIES" -maxdepth 1 -name '*-MEMORY.mp4' -printf '%f\n' | sort; }

# memories: how many memories the device holds.
cmd_memories() { memory_names | wc -l; }

# phone-save ADDRESS PASSWORD: logs in to the web app at ADDRESS (as moment.local) from the phone
# and presses SAVE there; prints the new memory's name once the device lists it.
cmd_phone_save() {
  local base="http://moment.local" jar="$RUN/phone-cookies" before name deadline=$(($(uptime_s) + 120))
  local curl=(in_phone curl -sf -m 20 --resolve "moment.local:80:$1" -b "$jar" -c "$jar" -H 'X-Moment: 1')
  rm -f "$jar"
  "${curl[@]}" -H 'Content-Type: application/json' --data-binary "{\"password\":\"$2\"}" \
    -o /dev/null "$base/api/login" || fail "login to $base as the wizard's admin failed"
  before="$(memory_names)"
  "${curl[@]}" -X POST -o /dev/null "$base/api/buttons/save" || fail "SAVE from the web app failed"
  while (($(uptime_s) < deadline)); do
    name="$(comm -13 <(echo "$before") <(memory_names) | head -n 1)"
    if [[ -n "$name" ]] && "${curl[@]}" "$base/api/memories" | grep -qF "\"$name\""; then
      echo "$name"
      return 0
    fi
    sleep 1
  done
  fail "no new memory within 120 s of SAVE"
}

# uploaded NAME TIMEOUT: NAME arrives on the home WebDAV server, byte for byte the device's.
cmd_uploaded() {
  local deadline=$(($(uptime_s) + $2)) start there="" want got
  start="$(boot_time)"
  want="$(sha256sum "$MEMORIES/$1" | cut -d' ' -f1)"
  while (($(uptime_s) < deadline)); do
    there="$(find "$RUN/webdav" -name "$1" -type f | head -n 1)"
    if [[ -n "$there" ]]; then
      got="$(ip netns exec home curl -sf -m 30 -u "$WEBDAV_USER:$WEBDAV_PASS" \
        "http://$HOME_ADDR:8080/${there#"$RUN/webdav/"}" | sha256sum | cut -d' ' -f1)"
      if [[ "$got" == "$want" ]]; then
        echo "${there#"$RUN/webdav/"} on the home WebDAV server, $(stat -c %s "$there") bytes, sha256 ${want:0:16}… equal, after $(since "$start") s"
        return 0
      fi
    fi
    sleep 1
  done
  fail "$1 did not arrive whole on the home WebDAV server within $2 s (found '${there:-nothing}')"
}

# device-ap: the device's own access point is up (its hostapd's state).
cmd_device_ap() {
  device_tool hostapd_cli -p /run/moment-recorder/network/hostapd -i wlan0 status 2>/dev/null | grep -qx 'state=ENABLED' ||
    fail "the device's access point is not up"
  echo "the device's access point is up"
}

# home-webdav: a file stored on the home WebDAV server comes back equal.
cmd_home_webdav() {
  local url="http://$HOME_ADDR:8080/radio-check.txt" text="radio $RANDOM"
  ip netns exec home curl -sf -m 10 -o /dev/null -u "$WEBDAV_USER:$WEBDAV_PASS" -T - "$url" <<<"$text" ||
    fail "PUT $url failed"
  [[ "$(ip netns exec home curl -sf -m 10 -u "$WEBDAV_USER:$WEBDAV_PASS" "$url")" == "$text" ]] ||
    fail "GET $url did not return what was stored"
  echo "stored and read back $url"
}

case "${1:-}" in
stage) cmd_stage ;;
home-ap) cmd_home_ap "$2" ;;
home-up) cmd_home_up "$2" ;;
home-webdav) cmd_home_webdav ;;
phone-hears) cmd_phone_hears "$2" "$3" ;;
phone-join) cmd_phone_join "$2" "$3" "$4" ;;
phone-mdns) cmd_phone_mdns "$2" "$3" ;;
phone-save) cmd_phone_save "$2" "$3" ;;
uploaded) cmd_uploaded "$2" "$3" ;;
saved) cmd_saved ;;
device-ntp) cmd_device_ntp "$2" ;;
memories) cmd_memories ;;
phone-connected) cmd_phone_connected "$2" ;;
phone-forget) cmd_phone_forget ;;
phone-lease) cmd_phone_lease ;;
phone-resolve) cmd_phone_resolve "$2" "$3" ;;
phone-curl) shift && cmd_phone_curl "$@" ;;
device-station) cmd_device_station "$2" "$3" ;;
device-station-log) tail -n "$2" "$RUN/device-station.log" 2>/dev/null || echo "(no device-station log)" ;;
device-ap) cmd_device_ap ;;
*) fail "usage: radio.sh stage|home-ap MODE|home-up S|home-webdav|phone-...|device-..." ;;
esac
