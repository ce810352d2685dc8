#!/usr/bin/env bash
# SLURM throughput on no-op runs, on the one-node cluster of
# scripts/slurm-cluster.sh, all measured in the same run:
#   - simforge array mode (bundles of BUNDLE runs per array task),
#   - simforge pilot mode (one pilot job with SLOTS slots pulling runs over HTTP),
#   - the local executor (`backend: local`, SLOTS jobs): the floor pilot mode's
#     dispatch overhead is compared with,
#   - one sbatch per run, polled with one squeue per 0.5 s (what Snakemake's
#     default cluster mode does). PEER=0 skips it (it takes ~1 s per run).
#
#   N=2000 BUNDLE=100 bash bench/slurm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
BUNDLE=${BUNDLE:-100}
SLOTS=${SLOTS:-$(nproc)}
PEER=${PEER:-1}
cargo build --release -q -p simforge
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")/release
bash scripts/slurm-cluster.sh start >/dev/null
export SLURM_CONF=${SIMFORGE_SLURM_DIR:-/tmp/simforge-slurm}/etc/slurm.conf
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(realpath "$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" slurm-bench.XXXXXX)")
trap 'rm -rf "$work"' EXIT
study() { # dir backend
  mkdir -p "$work/$1"
  cat > "$work/$1/study.yaml" <<YAML
name: noop$1
simulator: {command: ["true"]}
parameters: {i: {range: [1, $N], type: integer, step: 1}}
design: {sampler: grid}
resources: {cpus: 1}
backend: $2
YAML
}
now() { date +%s.%N; }
span() { # dir: seconds from the first run's start to the last run's end (steady state)
  sqlite3 "$work/$1/.simforge/simforge.db" \
    "SELECT (julianday(max(finished_at)) - julianday(min(started_at))) * 86400 FROM runs"
}
calls() { # output field(1=sbatch, 2=squeue)
  echo "$1" | sed -n "s/.*(\([0-9]*\) sbatch, \([0-9]*\) squeue calls).*/\\$2/p"
}
timed() { # dir args... ; sets secs and out
  local t0 t1
  t0=$(now)
  out=$("$TARGET/simforge" run "$work/$1/study.yaml" "${@:2}")
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  echo "$out" | grep -q "study now: $N succeeded" || { echo "$1 did not finish: $out" >&2; exit 1; }
}

study arrays "{slurm: {partition: debug, bundle: $BUNDLE}}"
timed arrays --poll 0.5
arr=$secs arr_sbatch=$(calls "$out" 1) arr_squeue=$(calls "$out" 2)

study pilot "{slurm: {partition: debug, cpus_per_task: $SLOTS, mode: pilot, pilot: {max: 1, slots: $SLOTS, idle_exit: 5s}}}"
timed pilot --poll 0.5
pil=$secs pil_sbatch=$(calls "$out" 1) pil_squeue=$(calls "$out" 2)
syncs=$(echo "$out" | sed -n 's/.* \([0-9]*\) worker syncs answered.*/\1/p')
pil_span=$(span pilot)

study local local
timed local --jobs "$SLOTS"
loc=$secs loc_span=$(span local)

if [ "$PEER" = 1 ]; then
  t0=$(now)
  for i in $(seq "$N"); do
    sbatch --parsable --job-name=one-per-run --output=/dev/null --wrap true >/dev/null
  done
  polls=0
  while [ -n "$(squeue -h --name=one-per-run -o %i)" ]; do polls=$((polls + 1)); sleep 0.5; done
  t1=$(now)
  one=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
fi

echo "SLURM no-op runs: N=$N on a one-node cluster ($(nproc) cores)"
printf "%-36s %9s %9s %8s %8s\n" "mode" "seconds" "runs/s" "sbatch" "squeue"
row() { printf "%-36s %9.2f %9.1f %8s %8s\n" "$1" "$2" "$(awk -v n="$N" -v s="$2" 'BEGIN{print n/s}')" "$3" "$4"; }
row "simforge arrays (bundle $BUNDLE)" "$arr" "$arr_sbatch" "$arr_squeue"
row "simforge pilot (1 pilot, $SLOTS slots)" "$pil" "$pil_sbatch" "$pil_squeue"
row "local executor ($SLOTS slots)" "$loc" - -
[ "$PEER" = 1 ] && row "one sbatch per run" "$one" "$N" "$polls"
awk -v p="$pil_span" -v l="$loc_span" -v n="$N" -v s="$syncs" 'BEGIN {
  printf "dispatch, first start to last end: pilot %.3f ms per run, local %.3f ms per run (%.2fx); %s HTTP syncs (%.2f per run)\n",
    1000 * p / n, 1000 * l / n, p / l, s, s / n }'
if [ "$PEER" = 1 ]; then
  awk -v a="$arr" -v p="$pil" -v b="$one" 'BEGIN {
    printf "vs one sbatch per run: arrays %.1fx faster, pilots %.1fx faster\n", b / a, b / p }'
fi
