#!/usr/bin/env bash
# Runs the ring benchmark (recorder/ring/benches/ring.rs) on storage that behaves like the camera's
# raw partition: a loop device with direct I/O over a backing file (as root), else a plain file
# with O_DIRECT. Prints the figures docs/performance.md records. The full-ring recovery test writes
# ~8.8 GB and the wear test ~13 GB into another 8 GiB file once the first is gone: BENCH_DIR needs
# 11 GiB free. Extra arguments go to the benchmark (see its --help; `--only wear` runs one part).
#   BENCH_DIR    where the backing files go (default /var/tmp)
#   BENCH_BYTES  payload appended per throughput trial (default 2G)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BENCH_DIR="${BENCH_DIR:-/var/tmp}"
readonly BENCH_BYTES="${BENCH_BYTES:-2G}"
# Room for the ring's metadata and dd's rounding to whole 4 MiB blocks besides the payload.
readonly LOOP_SLACK=$((256 << 20))

# Compile first, so the timing below is the benchmark's alone.
cargo bench -p moment-ring --bench ring --locked --no-run

work="$(mktemp -d "${BENCH_DIR}/moment-ring-bench.XXXXXX")"
loop=""
cleanup() {
  if [[ -n "$loop" ]]; then
    losetup -d "$loop" || echo "bench-ring: could not detach $loop" >&2
  fi
  rm -rf "${work:?}"
}
trap cleanup EXIT

args=(--dir "$work" --bytes "$BENCH_BYTES" --full-ring-path "$work/full-ring.img")
if [[ "$(id -u)" -eq 0 ]]; then
  backing="$work/loop-backing.img"
  truncate -s "$(($(numfmt --from=iec "$BENCH_BYTES") + LOOP_SLACK))" "$backing"
  loop="$(losetup -f --show --direct-io=on "$backing")"
  losetup --list --output NAME,BACK-FILE,DIO,LOG-SEC "$loop"
  args+=(--target "$loop")
else
  echo "bench-ring: not root, so no loop device: benchmarking a file with O_DIRECT instead"
fi
findmnt --target "$work" --output TARGET,SOURCE,FSTYPE,OPTIONS

started=$SECONDS
cargo bench -p moment-ring --bench ring --locked -- "${args[@]}" "$@"
echo "bench-ring: the benchmark took $((SECONDS - started)) s"
