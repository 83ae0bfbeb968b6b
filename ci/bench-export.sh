#!/usr/bin/env bash
# Runs the export benchmark (recorder/media/benches/export.rs): our export of a 3-minute 10 Mbit/s
# clip from a ring file against ffmpeg's concat of 5 s files, cat, and ffmpeg remuxing the same
# bytes. Prints the figures docs/performance.md records ("Export"). Needs ffmpeg and about 1 GB
# free in BENCH_DIR; the clip is made once (a minute or two) and cached under target/.
#   BENCH_DIR     where the ring, segment files and outputs go (default /var/tmp)
#   BENCH_TRIALS  interleaved trials (default 3)
# Extra arguments go to the benchmark (`ci/bench-export.sh --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BENCH_DIR="${BENCH_DIR:-/var/tmp}"
readonly BENCH_TRIALS="${BENCH_TRIALS:-3}"

# Compile first, so the timing below is the benchmark's alone.
cargo bench -p moment-media --bench export --locked --no-run

findmnt --target "$BENCH_DIR" --output TARGET,SOURCE,FSTYPE,OPTIONS
started=$SECONDS
cargo bench -p moment-media --bench export --locked -- \
  --dir "$BENCH_DIR" --trials "$BENCH_TRIALS" "$@"
echo "bench-export: the benchmark took $((SECONDS - started)) s"
