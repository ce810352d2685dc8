"""The peer side of bench/sysdesign.sh: the same queueing models in SimPy,
the usual process-based way (a source process, one process per customer,
simpy.Resource for the servers). Prints one JSON line per model: customers
simulated, wall seconds, SimPy events per customer (counted on a separate,
untimed calibration run) and the mean time in system, to check that both
tools simulated the same thing.

    python3 bench/sysdesign_peer.py MODEL CUSTOMERS
"""
import json
import random
import sys
import time

import simpy


class CountingEnvironment(simpy.Environment):
    """An environment that counts the events it processes (calibration only)."""

    def __init__(self):
        super().__init__()
        self.events = 0

    def step(self):
        self.events += 1
        super().step()


def mmc(env, customers, rng, lam=2.7, mu=1.0, c=3):
    """M/M/c: λ = 2.7/s, μ = 1/s, c = 3 (ρ = 0.9)."""
    servers = simpy.Resource(env, capacity=c)
    done = []

    def customer():
        arrive = env.now
        with servers.request() as req:
            yield req
            yield env.timeout(rng.expovariate(mu))
        done.append(env.now - arrive)

    def source():
        for _ in range(customers):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer())

    env.process(source())
    return done


def tandem(env, customers, rng, lam=0.8, mu=1.0, stations=3):
    """Three M/M/1 stations in series: λ = 0.8/s, μ = 1/s each (ρ = 0.8)."""
    servers = [simpy.Resource(env, capacity=1) for _ in range(stations)]
    done = []

    def customer():
        arrive = env.now
        for s in servers:
            with s.request() as req:
                yield req
                yield env.timeout(rng.expovariate(mu))
        done.append(env.now - arrive)

    def source():
        for _ in range(customers):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer())

    env.process(source())
    return done


MODELS = {"mmc": mmc, "tandem": tandem}


def main():
    model, customers = sys.argv[1], int(sys.argv[2])
    build = MODELS[model]
    # Calibration: events per customer, on a small untimed run.
    cal_n = min(customers, 50_000)
    env = CountingEnvironment()
    done = build(env, cal_n, random.Random(2))
    env.run()
    events_per_customer = env.events / max(len(done), 1)
    env = simpy.Environment()
    rng = random.Random(1)
    t0 = time.perf_counter()
    done = build(env, customers, rng)
    env.run()
    wall = time.perf_counter() - t0
    print(json.dumps({
        "model": model,
        "customers": len(done),
        "wall_s": wall,
        "events_per_customer": events_per_customer,
        "mean_time_in_system_s": sum(done) / len(done),
    }))


if __name__ == "__main__":
    main()
