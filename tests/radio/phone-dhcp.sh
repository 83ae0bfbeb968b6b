#!/bin/bash
# busybox udhcpc's script for the radio test's phone (tests/radio/radio.sh phone-lease): sets the
# leased address on the phone's interface and writes what the lease held (address, router, DNS
# server, option 114 the captive-portal URL in hex) to /run/radio/phone-lease for the test.
# udhcpc passes the lease in the environment: interface, ip, mask, router, dns, opt114.
# shellcheck disable=SC2154
set -euo pipefail
case "${1:-}" in
deconfig) ip addr flush dev "$interface" ;;
bound | renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  {
    echo "ip=$ip"
    echo "router=${router:-}"
    echo "dns=${dns:-}"
    echo "opt114=${opt114:-}"
  } >/run/radio/phone-lease
  ;;
*) ;;
esac
