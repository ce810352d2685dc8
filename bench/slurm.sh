#!/usr/bin/env bash
# SLURM array mode vs one sbatch per run (what Snakemake does by default), on the
# one-node cluster of scripts/slurm-cluster.sh, measured in the same run.
#
#   N=2000 BUNDLE=100 bash bench/slurm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
BUNDLE=${BUNDLE:-100}
cargo build --release -q -p simforge
TARGET=$(realpath "${CARGO_TARGET_DIR:-target}")/release
bash scripts/slurm-cluster.sh start >/dev/null
export SLURM_CONF=${SIMFORGE_SLURM_DIR:-/tmp/simforge-slurm}/etc/slurm.conf
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(realpath "$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" slurm-bench.XXXXXX)")
trap 'rm -rf "$work"' EXIT
cat > "$work/study.yaml" <<YAML
name: noop
simulator: {command: ["true"]}
parameters: {i: {range: [1, $N], type: integer, step: 1}}
design: {sampler: grid}
backend: {slurm: {partition: debug, bundle: $BUNDLE}}
YAML
now() { date +%s.%N; }

t0=$(now)
out=$("$TARGET/simforge" run "$work/study.yaml" --poll 0.5)
t1=$(now)
arr=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
arr_sbatch=$(echo "$out" | sed -n 's/.*(\([0-9]*\) sbatch, \([0-9]*\) squeue calls).*/\1/p')
arr_squeue=$(echo "$out" | sed -n 's/.*(\([0-9]*\) sbatch, \([0-9]*\) squeue calls).*/\2/p')
echo "$out" | grep -q "study now: $N succeeded" || { echo "array mode did not finish: $out" >&2; exit 1; }

# One job per run, polled like a workflow manager (one squeue per 0.5 s).
mkdir -p "$work/one"
t0=$(now)
for i in $(seq "$N"); do
  sbatch --parsable --job-name=one-per-run --output=/dev/null --wrap true >/dev/null
done
polls=0
while [ -n "$(squeue -h --name=one-per-run -o %i)" ]; do polls=$((polls + 1)); sleep 0.5; done
t1=$(now)
one=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

echo "SLURM no-op runs: N=$N on a one-node cluster ($(nproc) cores)"
printf "%-34s %9s %9s %8s %8s\n" "mode" "seconds" "runs/s" "sbatch" "squeue"
printf "%-34s %9.2f %9.1f %8s %8s\n" "simforge arrays (bundle $BUNDLE)" "$arr" "$(awk -v n="$N" -v s="$arr" 'BEGIN{print n/s}')" "$arr_sbatch" "$arr_squeue"
printf "%-34s %9.2f %9.1f %8s %8s\n" "one sbatch per run" "$one" "$(awk -v n="$N" -v s="$one" 'BEGIN{print n/s}')" "$N" "$polls"
awk -v a="$arr" -v b="$one" 'BEGIN { printf "simforge arrays are %.1fx faster\n", b / a }'
