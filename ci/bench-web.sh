#!/usr/bin/env bash
# Runs the web benchmark (recorder/daemon/benches/web.rs): HLS segments served over real HTTP on
# 127.0.0.1 by the daemon's router and accept loop (logged in, 1 and 4 clients), against reading
# the same segments from the ring with RingReader in-process (1 and 4 threads); prints MB/s,
# segments/s and the ratios docs/performance.md records ("Web"). Needs about 300 MB free in
# BENCH_DIR for the ring file (removed afterwards).
#   BENCH_DIR      where the ring file goes (default /var/tmp)
#   BENCH_SECONDS  how long each figure is measured (default 5)
# Extra arguments go to the benchmark (`ci/bench-web.sh --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BENCH_DIR="${BENCH_DIR:-/var/tmp}"
readonly BENCH_SECONDS="${BENCH_SECONDS:-5}"

# Compile first, so the run below measures only itself.
cargo bench -p moment-recorder --bench web --locked --no-run

findmnt --target "$BENCH_DIR" --output TARGET,SOURCE,FSTYPE,OPTIONS
started=$SECONDS
cargo bench -p moment-recorder --bench web --locked -- \
  --dir "$BENCH_DIR" --seconds "$BENCH_SECONDS" "$@"
echo "bench-web: the benchmark took $((SECONDS - started)) s"
