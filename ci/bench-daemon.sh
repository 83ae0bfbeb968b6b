#!/usr/bin/env bash
# Runs the daemon benchmark (recorder/daemon/benches/daemon.rs): the real `moment-recorder run`,
# built in release mode, records a 10 Mbit/s 1080p30 clip played at its native pace by ffmpeg
# for BENCH_SECONDS; prints the daemon's CPU (and the camera ffmpeg's, separately), its peak RSS
# and the segments stored, the figures docs/performance.md records ("Daemon"). Needs ffmpeg and
# about 1 GB free in BENCH_DIR; the clip is made once (a minute or two) and cached under target/.
#   BENCH_DIR      where the ring file and the daemon's directories go (default /var/tmp)
#   BENCH_SECONDS  how long to measure (default 60)
# Extra arguments go to the benchmark (`ci/bench-daemon.sh --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BENCH_DIR="${BENCH_DIR:-/var/tmp}"
readonly BENCH_SECONDS="${BENCH_SECONDS:-60}"

# Compile first (the release binary and the benchmark), so the run below measures only itself.
cargo build -p moment-recorder --bin moment-recorder --release --locked
cargo bench -p moment-recorder --bench daemon --locked --no-run

findmnt --target "$BENCH_DIR" --output TARGET,SOURCE,FSTYPE,OPTIONS
started=$SECONDS
cargo bench -p moment-recorder --bench daemon --locked -- \
  --bin "${CARGO_TARGET_DIR:-$PWD/target}/release/moment-recorder" --dir "$BENCH_DIR" --seconds "$BENCH_SECONDS" "$@"
echo "bench-daemon: the benchmark took $((SECONDS - started)) s"
