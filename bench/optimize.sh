#!/usr/bin/env bash
# Bayesian optimisation, simforge beside Optuna in the same run: final regret
# on Branin (2-d, 50 runs), Hartmann6 (6-d, 100 runs) and Rosenbrock (5-d on
# [-5,10]^5, 100 runs), SEEDS seeds each, for simforge's GP loop and Optuna's
# GPSampler, TPESampler and RandomSampler; then the time of one suggestion at
# 100 observations (Hartmann6). Both sides single-threaded. Needs a python
# with optuna, torch and scipy (and greenlet, which Optuna's GPSampler uses
# for its fast path): PY=/path/to/venv/bin/python.
#
#   SEEDS=20 PY=~/.cache/simforge-bench-venv/bin/python bash bench/optimize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20}
PY=${PY:-python3}
"$PY" -c "import optuna, torch, scipy" 2>/dev/null || {
    echo "the peer needs optuna, torch and scipy: $PY -m pip install optuna torch scipy greenlet" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1
cargo bench -q -p simforge-analysis --bench optimize -- --seeds "$SEEDS" > "$work/simforge.jsonl"
"$PY" bench/optimize_peer.py --seeds "$SEEDS" --out "$work/optuna.jsonl" > /dev/null
"$PY" bench/optimize_peer.py --time-suggest --seeds 3 --methods gp,tpe --out "$work/optuna-time.jsonl" > /dev/null
"$PY" - "$work" "$SEEDS" <<'PY'
import json, statistics, sys, os
work, seeds = sys.argv[1], sys.argv[2]
rows = []
for f in ("simforge.jsonl", "optuna.jsonl", "optuna-time.jsonl"):
    with open(os.path.join(work, f)) as fh:
        rows += [json.loads(l) for l in fh if l.strip()]
def q(v, p):
    v = sorted(v); k = (len(v) - 1) * p; i = int(k)
    return v[i] if i + 1 >= len(v) else v[i] + (k - i) * (v[i + 1] - v[i])
print(f"final regret over {seeds} seeds (regret = best found - optimum; lower is better)")
print(f"{'problem':<11} {'tool/method':<16} {'median':>10} {'q25':>10} {'q75':>10} {'median / simforge':>18} {'wall s':>8}")
for prob in ("branin", "hartmann6", "rosenbrock"):
    ours = [r["regret"] for r in rows if r["problem"] == prob and r["tool"] == "simforge" and "regret" in r]
    base = statistics.median(ours) if ours else float("nan")
    for tool, method in (("simforge", "gp"), ("optuna", "gp"), ("optuna", "tpe"), ("optuna", "random")):
        sel = [r for r in rows if r["problem"] == prob and r["tool"] == tool and r["method"] == method and "regret" in r]
        if not sel:
            continue
        reg = [r["regret"] for r in sel]
        med = statistics.median(reg)
        ratio = med / base if base > 0 else float("inf")
        print(f"{prob:<11} {tool + ' ' + method:<16} {med:>10.3g} {q(reg, .25):>10.3g} {q(reg, .75):>10.3g} {ratio:>18.3g} {sum(r['wall_s'] for r in sel):>8.1f}")
print()
print("time per suggestion at 100 observations (Hartmann6; median over 3 seeds of: simforge, the mean of 10 consecutive loop steps, refits included; Optuna, the median of 5 ask/tell cycles)")
ours = [r["suggest_ms"] for r in rows if r["tool"] == "simforge" and "suggest_ms" in r]
for tool, method in (("simforge", "gp"), ("optuna", "gp"), ("optuna", "tpe")):
    t = [r["suggest_ms"] for r in rows if r["tool"] == tool and r["method"] == method and "suggest_ms" in r]
    if t:
        print(f"{tool + ' ' + method:<16} {statistics.median(t):>10.1f} ms   x{statistics.median(t) / statistics.median(ours):.2f} of simforge")
PY
