#!/usr/bin/env bash
# Sobol' indices of Ishigami (a=7, b=0.1) from 2^K base samples (default
# K=14: 81,920 runs), simforge beside SALib on the same sample: simforge runs
# the Saltelli study with the analytic builtin, then both estimate first-order
# and total indices from the same metric values (SALib's sobol.analyze reads
# them from simforge's results export, whose rows follow SALib's layout).
# Needs python3 with SALib (pip install SALib).
#
#   K=14 bash bench/sensitivity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-14}
N=$((1 << K))
python3 -c "import SALib" 2>/dev/null || { echo "SALib is needed as the peer: pip install SALib" >&2; exit 1; }
cargo build --release -q -p simforge
BIN=$(realpath "${CARGO_TARGET_DIR:-target}")/release/simforge
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(realpath "$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" sa-bench.XXXXXX)")
trap 'rm -rf "$work"' EXIT
PI=3.141592653589793
cat > "$work/study.yaml" <<YAML
name: ishigami
simulator: {builtin: analytic, options: {function: ishigami}}
parameters:
  x1: {range: [-$PI, $PI]}
  x2: {range: [-$PI, $PI]}
  x3: {range: [-$PI, $PI]}
design: {sampler: saltelli, samples: $N, seed: 1}
metrics: [y]
YAML
now() { date +%s.%N; }
"$BIN" run "$work/study.yaml" --progress none --no-report >/dev/null
t0=$(now)
"$BIN" analyze sensitivity "$work/study.yaml" --json --bootstrap 100 > "$work/simforge.json"
t1=$(now)
"$BIN" results "$work/study.yaml" --format csv -o "$work/results.csv"
python3 - "$work" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$N" <<'PY'
import csv, json, sys, time
import numpy as np
from SALib.analyze import sobol
work, simforge_s, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(f"{work}/results.csv")))
rows.sort(key=lambda r: int(r["index"]))
y = np.array([float(r["y"]) for r in rows])
problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
t0 = time.perf_counter()
sa = sobol.analyze(problem, y, calc_second_order=False, num_resamples=100, seed=1)
salib_s = time.perf_counter() - t0
ours = json.load(open(f"{work}/simforge.json"))
ref_s1, ref_st = [0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]
print(f"Ishigami Sobol' indices, N = {n} base samples ({len(y)} runs), 100 bootstrap resamples")
print(f"{'index':<6} {'analytic':>9} {'simforge':>18} {'SALib':>18} {'|simforge-SALib|':>17}")
for key, ref, sk, ck in (("S1", ref_s1, "s1", "S1"), ("ST", ref_st, "st", "ST")):
    for i in range(3):
        a, b = ours[sk][i], sa[ck][i]
        ac, bc = ours[sk + "_conf"][i], sa[ck + "_conf"][i]
        print(f"{key}[x{i+1}] {ref[i]:>9.4f} {a:>10.4f} ± {ac:.4f} {b:>10.4f} ± {bc:.4f} {abs(a-b):>17.2e}")
print(f"estimation time: simforge {simforge_s:.3f} s (including reading {len(y)} runs from the store), "
      f"SALib {salib_s:.3f} s (numpy arrays in memory); ratio {salib_s / simforge_s:.2f}x")
PY
