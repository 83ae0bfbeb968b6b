#!/usr/bin/env bash
# Makes a development signing key and self-signed CA certificate for RAUC bundles in DIR
# (default ~/.config/moment-recorder/dev-keys), outside the repository: keys are never
# committed. Release keys come from the environment (MOMENT_RAUC_KEY, MOMENT_RAUC_CERT).
# Prints the two export lines for ci/build-image.sh. Keeps an existing pair.
set -euo pipefail

readonly DIR="${1:-$HOME/.config/moment-recorder/dev-keys}"

make_pair() {
  install -d -m 0700 "$DIR"
  [[ -s "$DIR/dev.key.pem" && -s "$DIR/dev.cert.pem" ]] && return 0
  openssl req -x509 -newkey rsa:4096 -nodes -days 3650 \
    -subj "/O=moment-recorder/CN=moment-recorder development bundles" \
    -keyout "$DIR/dev.key.pem" -out "$DIR/dev.cert.pem" 2>/dev/null
  chmod 0600 "$DIR/dev.key.pem"
}

main() {
  make_pair
  printf 'export MOMENT_RAUC_KEY=%q\nexport MOMENT_RAUC_CERT=%q\n' \
    "$DIR/dev.key.pem" "$DIR/dev.cert.pem"
}

main "$@"
