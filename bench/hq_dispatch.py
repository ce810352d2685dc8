"""The peer of bench/dispatch.sh: HyperQueue (PyPI `hyperqueue`, its Rust
server and workers in-process through LocalCluster) runs N tasks of the
program `true` on W workers of one core each; prints the seconds from
submission to the job's end.

Usage: python hq_dispatch.py N W
"""

import sys
import tempfile
import time

from hyperqueue import Job, LocalCluster
from hyperqueue.cluster import WorkerConfig


def main() -> None:
    n, workers = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as d:
        with LocalCluster(server_dir=d) as cluster:
            for _ in range(workers):
                cluster.start_worker(WorkerConfig(cores=1))
            client = cluster.client()
            job = Job()
            for _ in range(n):
                # Output files per task, like simforge's stdout.log/stderr.log,
                # in the scratch directory.
                job.program(["true"], cwd=d)
            start = time.perf_counter()
            submitted = client.submit(job)
            client.wait_for_jobs([submitted])
            seconds = time.perf_counter() - start
    print(f"hq_seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
