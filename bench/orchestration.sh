#!/usr/bin/env bash
# Orchestration overhead on no-op runs: simforge vs GNU parallel vs a raw Rust
# spawn-and-wait loop (the physical floor), measured in the same run, same
# concurrency. Targets (issue 2): simforge within 1.5x of the floor's time and at
# least 3x the rate of GNU parallel.
#
#   bash bench/orchestration.sh            # N=10000 runs, JOBS=nproc
#   N=2000 JOBS=2 bash bench/orchestration.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
JOBS=${JOBS:-$(nproc)}
cargo build --release -q -p simforge -p simforge-bench
TARGET=${CARGO_TARGET_DIR:-target}/release
if ! command -v parallel >/dev/null; then
  echo "GNU parallel is needed as the peer: apt-get install -y parallel" >&2
  exit 1
fi
# Work under the build directory: /tmp can sit on a slower mount than the project.
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/study.yaml" <<YAML
name: noop
simulator: {command: ["true"]}
parameters: {i: {range: [1, $N], type: integer, step: 1}}
design: {sampler: grid}
YAML

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

t0=$(now); "$TARGET/spawn-floor" "$N" "$JOBS" true >/dev/null; t1=$(now)
floor=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

# simforge writes a run directory and an atomic result.json per run. On this
# machine's ext4, inode allocation after mass deletions dominates that cost, so
# simforge is measured twice: store on tmpfs (orchestration alone) and on disk.
shm=$(mktemp -d -p /dev/shm simforge-bench.XXXXXX)
trap 'rm -rf "$work" "$shm"' EXIT
t0=$(now); "$TARGET/simforge" --store "$shm" run "$work/study.yaml" --jobs "$JOBS" --no-report --progress none >/dev/null; t1=$(now)
sim=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
rm -rf "$shm"

t0=$(now); "$TARGET/simforge" run "$work/study.yaml" --jobs "$JOBS" --no-report --progress none >/dev/null; t1=$(now)
simdisk=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

t0=$(now); seq "$N" | parallel -j "$JOBS" true; t1=$(now)
par=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

echo "no-op runs: N=$N, jobs=$JOBS, $(nproc) cores"
printf "%-28s %10s %10s %22s\n" "tool" "seconds" "runs/s" "ratio"
printf "%-28s %10.2f %10s %22s\n" "raw spawn floor (Rust)" "$floor" "$(rate "$N" "$floor")" "1.00x floor time"
printf "%-28s %10.2f %10s %22s\n" "simforge run (store tmpfs)" "$sim" "$(rate "$N" "$sim")" "$(awk -v a="$sim" -v b="$floor" 'BEGIN { printf "%.2fx floor time", a / b }')"
printf "%-28s %10.2f %10s %22s\n" "simforge run (store disk)" "$simdisk" "$(rate "$N" "$simdisk")" "$(awk -v a="$simdisk" -v b="$floor" 'BEGIN { printf "%.2fx floor time", a / b }')"
printf "%-28s %10.2f %10s %22s\n" "GNU parallel" "$par" "$(rate "$N" "$par")" "$(awk -v a="$par" -v b="$simdisk" 'BEGIN { printf "simforge(disk) %.1fx faster", a / b }')"
