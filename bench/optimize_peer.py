#!/usr/bin/env python3
"""Peer side of the simforge Bayesian-optimisation benchmark (Optuna).

Minimises fixed test problems with Optuna's GP, TPE and random samplers and
writes one JSON line per (problem, method, seed) run.

    python bench/optimize_peer.py --seeds 20 --out FILE.jsonl \
        [--problems branin,hartmann6,rosenbrock] [--methods gp,tpe,random]

    python bench/optimize_peer.py --time-suggest --out FILE.jsonl \
        [--seeds 3] [--methods gp,tpe]

Runs single-threaded (OMP/MKL threads = 1, torch.set_num_threads(1)).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import optuna

try:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
except ImportError:  # GPSampler will fail without torch; TPE/random still work
    torch = None


# ---------------------------------------------------------------- problems

def branin(x):
    x1, x2 = x
    b = 5.1 / (4.0 * math.pi ** 2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
])
_H6_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
], dtype=float)


def hartmann6(x):
    x = np.asarray(x, dtype=float)
    inner = np.sum(_H6_A * (x[None, :] - _H6_P) ** 2, axis=1)
    return float(-np.sum(_H6_ALPHA * np.exp(-inner)))


def rosenbrock(x):
    return float(sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1.0) ** 2
                     for i in range(len(x) - 1)))


# name -> (function, bounds per dimension, optimum, budget)
PROBLEMS = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887, 50),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237, 100),
    "rosenbrock": (rosenbrock, [(-5.0, 10.0)] * 5, 0.0, 100),
}


def make_sampler(method, seed):
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown method {method!r}")


def suggest_point(trial, bounds):
    return [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]


def make_objective(fn, bounds):
    def objective(trial):
        return fn(suggest_point(trial, bounds))
    return objective


# ---------------------------------------------------------------- modes

def run_one(problem, method, seed):
    fn, bounds, optimum, budget = PROBLEMS[problem]
    t0 = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=make_sampler(method, seed))
    study.optimize(make_objective(fn, bounds), n_trials=budget)
    wall = time.perf_counter() - t0
    best = study.best_value
    return {
        "tool": "optuna", "method": method, "problem": problem, "seed": seed,
        "budget": budget, "best": best, "regret": best - optimum, "wall_s": wall,
    }


def time_suggest(problem, method, seed, observations=100, cycles=5):
    fn, bounds, _optimum, _budget = PROBLEMS[problem]
    study = optuna.create_study(direction="minimize", sampler=make_sampler(method, seed))
    study.optimize(make_objective(fn, bounds), n_trials=observations)
    times = []
    for _ in range(cycles):
        t0 = time.perf_counter()
        trial = study.ask()
        x = suggest_point(trial, bounds)
        t1 = time.perf_counter()
        y = fn(x)  # objective evaluation excluded from the timing
        t2 = time.perf_counter()
        study.tell(trial, y)
        t3 = time.perf_counter()
        times.append((t1 - t0) + (t3 - t2))
    return {
        "tool": "optuna", "method": method, "problem": problem, "seed": seed,
        "observations": observations,
        "suggest_ms": statistics.median(times) * 1e3,
        "suggest_ms_all": [t * 1e3 for t in times],
    }


def done_keys(path):
    keys = set()
    if not os.path.exists(path):
        return keys
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            keys.add((r.get("problem"), r.get("method"), r.get("seed")))
    return keys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--out", required=True)
    ap.add_argument("--problems", default="branin,hartmann6,rosenbrock")
    ap.add_argument("--methods", default=None,
                    help="default gp,tpe,random (gp,tpe with --time-suggest)")
    ap.add_argument("--time-suggest", action="store_true",
                    help="time ask+suggest+tell at 100 observations (default hartmann6)")
    ap.add_argument("--resume", action="store_true",
                    help="skip (problem, method, seed) already present in --out")
    args = ap.parse_args(argv)

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    if args.time_suggest:
        methods = (args.methods or "gp,tpe").split(",")
        problems = (args.problems if "--problems" in (argv or sys.argv) else "hartmann6").split(",")
    else:
        methods = (args.methods or "gp,tpe,random").split(",")
        problems = args.problems.split(",")
    for p in problems:
        if p not in PROBLEMS:
            ap.error(f"unknown problem {p!r}")

    skip = done_keys(args.out) if args.resume else set()
    mode = "a" if args.resume else "w"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, mode) as out:
        for problem in problems:
            for method in methods:
                for seed in range(args.seeds):
                    if (problem, method, seed) in skip:
                        continue
                    if args.time_suggest:
                        rec = time_suggest(problem, method, seed)
                    else:
                        rec = run_one(problem, method, seed)
                    line = json.dumps(rec)
                    print(line, flush=True)
                    out.write(line + "\n")
                    out.flush()


if __name__ == "__main__":
    main()
