"""Worker scaling: the same digits evaluations on a pool of 1 worker and a pool of 2 workers.

All pools are started and warmed up (task built, torch imported, one evaluation per worker)
before anything is timed; then each evaluates the same N seeded random free-space genomes, all
submitted at once, and the fastest of ``--repeats`` runs counts. With the pool's thread policy
(usable cores // workers) a 1-worker pool on 2 cores gets 2 torch threads and each worker of a
2-worker pool gets 1, so the headline speedup is process parallelism against torch's own
intra-op threading. A third pool, 1 worker pinned to 1 thread, shows pure process scaling.

Run:  .venv/bin/python bench/worker_scaling.py [--genomes 12] [--seed 0] [--epochs 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import numpy as np

from evonas.evaluation import EvalJob, LocalPoolEvaluator
from evonas.evaluation.devices import usable_cpus
from genomes import FreeSpace
from operators import random_genome

#: Small networks (up to 5 nodes, 6 edges): a few seconds each on one core.
SPACE = FreeSpace(max_nodes=5, max_edges=6, widths=(16, 32))


def make_jobs(count: int, seed: int) -> list[EvalJob]:
    rng = np.random.default_rng(seed)
    return [EvalJob(i, random_genome(SPACE, rng).to_dict(), seed=seed * 1000 + i)
            for i in range(count)]


def warm_up(pool: LocalPoolEvaluator, job: EvalJob) -> None:
    """Wait for every worker, then give each one evaluation (one per worker: all idle)."""
    pool.wait_until_ready(300)
    for k in range(pool.capacity):
        pool.submit(EvalJob(-1 - k, job.genome, job.seed))
    for result in pool.results():
        assert result.ok, result.error


def timed_run(pool: LocalPoolEvaluator, jobs: list[EvalJob]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    for job in jobs:
        pool.submit(job)
    results = list(pool.results())
    seconds = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} evaluations failed, e.g. {failed[0].error}")
    return seconds, [r.metrics["val_accuracy"] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=12, help="evaluations per pool")
    parser.add_argument("--seed", type=int, default=0, help="seeds the genomes and evaluations")
    parser.add_argument("--epochs", type=int, default=None, help="digits epochs (default: task's)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed runs per pool; the fastest counts (other load only slows)")
    args = parser.parse_args()
    if args.repeats < 1 or args.genomes < 1:
        parser.error("--repeats and --genomes must be at least 1")

    task = {"name": "digits"}
    if args.epochs is not None:
        task["epochs"] = args.epochs
    jobs = make_jobs(args.genomes, args.seed)
    cores = usable_cpus()
    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print(f"settings: {args.genomes} digits evaluations, genomes seed {args.seed}, task {task}, "
          f"space free (max_nodes={SPACE.max_nodes}, max_edges={SPACE.max_edges}, "
          f"widths={list(SPACE.widths)}), usable cores {cores}, best of {args.repeats} runs")

    # (label, workers, threads per worker): the first two are the pool's own thread policy
    # (cores // workers); the third pins the 1-worker pool to one thread to show process scaling.
    setups = [("1 worker", 1, max(1, cores)), ("2 workers", 2, max(1, cores // 2)),
              ("1 worker, 1 thread", 1, 1)]
    pools = {}
    try:
        for label, workers, threads in setups:
            pools[label] = LocalPoolEvaluator(task, SPACE.to_dict(), workers, devices=["cpu"],
                                              threads_per_worker=threads)
        for pool in pools.values():
            warm_up(pool, jobs[0])
        best = dict.fromkeys(pools, float("inf"))
        for _ in range(args.repeats):
            for label, pool in pools.items():
                seconds, accuracy = timed_run(pool, jobs)
                best[label] = min(best[label], seconds)
    finally:
        for pool in pools.values():
            pool.close()
    for label, _, threads in setups:
        print(f"{label:<18} ({threads} torch thread{'s' if threads > 1 else ''} each): "
              f"{best[label]:7.2f} s  ({best[label] / len(jobs):.2f} s/evaluation)")
    one, two, single = (best[label] for label, _, _ in setups)
    print(f"speedup (1 worker time / 2 worker time) = {one / two:.2f}")
    print(f"process scaling (1 worker at 1 thread / 2 workers) = {single / two:.2f}")
    print(f"mean val_accuracy {np.mean(accuracy):.4f}")


if __name__ == "__main__":
    main()
