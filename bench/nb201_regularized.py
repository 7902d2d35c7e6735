"""Regularized evolution vs random search on the NAS-Bench-201 CIFAR-10 table.

Runs many short campaigns in-process (``workers: 0``) through the Python API and prints the mean
best test accuracy over seeds, and the total wall time of the regularized-evolution campaigns.

    python bench/nb201_regularized.py [--seeds 100] [--evaluations 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import evonas


def campaign(runs_dir: str, strategy: dict, seed: int, evaluations: int) -> float:
    run = evonas.run({
        "name": f"{strategy['name']}-{seed}", "seed": seed, "runs_dir": runs_dir,
        "space": {"name": "nb201"},
        "task": {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"},
        "strategy": strategy, "evaluator": {"workers": 0},
        "budget": {"evaluations": evaluations}, "campaign": {"progress": False},
    })
    best = run.best().fitness
    run.close()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--sample", type=int, default=3)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as runs_dir:
        results = {}
        for strategy in ({"name": "regularized_evolution", "population": args.population,
                          "sample": args.sample}, {"name": "random"}):
            start = time.perf_counter()
            bests = [campaign(runs_dir, strategy, seed, args.evaluations)
                     for seed in range(args.seeds)]
            seconds = time.perf_counter() - start
            results[strategy["name"]] = bests
            print(f"{strategy['name']:>22}: mean best {statistics.mean(bests):.3f} "
                  f"(std {statistics.stdev(bests):.3f}) over {args.seeds} seeds x "
                  f"{args.evaluations} evaluations; {seconds:.1f}s for all campaigns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
