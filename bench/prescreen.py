"""Regularized evolution on digits with and without a zero-cost proxy pre-screen or warm start.

Every campaign searches the NAS-Bench-201 cell space with the small macro network of
``bench/proxy_correlation.py`` (``stem_channels: 4``, one cell per stage) on the embedded digits,
trains each genome with a cheap recipe (4 epochs, Adam 0.01, batch 64) and stops at the same
``budget.device_seconds``, which counts the proxies' scoring time (``search_seconds``) too.
Variants (regularized evolution, P=10, S=3, in all):

* ``plain``: no proxy;
* ``prescreen``: ``prescreen: {proxy: P, keep: 0.25}``: each child is the best of four proposals;
* ``warm_start``: ``warm_start: {proxy: P, sample: 4}``: each of the 10 random genomes of the first
  population is the best of four random ones, then plain evolution.

Each campaign is its own process (``workers: 0``, birth order, one torch thread); the three
variants of a seed run side by side (``--jobs 3``), so they share the machine's load. Prints per
variant the mean and spread over seeds of the best validation accuracy, the test accuracy of that
genome, evaluations, device-seconds and the proxies' share of them.

Usage::

    .venv/bin/python bench/prescreen.py                       # 3 seeds, 120 s, synflow
    .venv/bin/python bench/prescreen.py --seeds 1 --device-seconds 30 --proxy naswot
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import evonas

VARIANTS = ("plain", "prescreen", "warm_start")


def campaign_config(variant: str, seed: int, device_seconds: float, proxy: str,
                    runs_dir: Path) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": f"{variant}-s{seed}", "seed": seed, "runs_dir": str(runs_dir),
        "space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        "task": {"name": "digits", "epochs": 4, "lr": 0.01, "batch_size": 64},
        "strategy": {"name": "regularized_evolution", "population": 10, "sample": 3},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 1000, "device_seconds": device_seconds},
        "campaign": {"progress": False, "order": "birth"},
    }
    if variant == "prescreen":
        config["prescreen"] = {"proxy": proxy, "keep": 0.25}
    elif variant == "warm_start":
        config["warm_start"] = {"proxy": proxy, "sample": 4}
    return config


def run_one(path: Path) -> None:
    """Run the campaign at ``path`` in this process (the child of :func:`run_all`)."""
    from evonas.api import start_campaign
    from evonas.config import load_config

    start_campaign(load_config(path))


def run_all(configs: list[Path], jobs: int) -> None:
    """Run every config in its own process, ``jobs`` at a time, one torch thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    queue = list(configs)
    running: list[tuple[Path, subprocess.Popen]] = []
    while queue or running:
        while queue and len(running) < jobs:
            path = queue.pop(0)
            cmd = [sys.executable, __file__, "--one", str(path)]
            running.append((path, subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)))
        time.sleep(0.5)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                if item[1].returncode != 0:
                    raise SystemExit(f"{item[0]}: the campaign exited {item[1].returncode}")
                print(f"  done: {item[0].stem}", flush=True)


def describe(run_dir: Path) -> dict[str, Any]:
    run = evonas.open_run(run_dir)
    status = run.status()
    best = run.best()
    individuals = run.individuals()
    search = sum(float(ind.operator.get("search_seconds", 0.0)) for ind in individuals)
    trained = [ind.fitness for ind in individuals if ind.fitness is not None]
    return {"best": best.fitness if best else None,
            "mean": statistics.mean(trained) if trained else None,
            "best_test": best.metrics.get("test_accuracy") if best else None,
            "evaluations": status["evaluations"], "device_seconds": status["device_seconds"],
            "search_seconds": search, "best_arch": best.genome.describe() if best else None,
            "best_id": best.id if best else None}


def spread(values: list[float | None]) -> str:
    numbers = [v for v in values if v is not None]
    if not numbers:
        return "-"
    std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
    return f"{statistics.mean(numbers):.4f} ± {std:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device-seconds", type=float, default=120.0)
    parser.add_argument("--proxy", default="synflow",
                        help="the proxy (synflow correlates best on digits, BENCHMARKS.md)")
    parser.add_argument("--jobs", type=int, default=3, help="campaigns run side by side")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temp dir)")
    parser.add_argument("--report", action="store_true",
                        help="only print the table of the campaigns already under --out")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(Path(args.one))
        return 0
    variants = args.variants.split(",")
    root = Path(args.out or tempfile.mkdtemp(prefix="prescreen-"))
    root.mkdir(parents=True, exist_ok=True)
    runs_dir = root / "runs"
    if args.report:
        report(runs_dir, variants, args.seeds)
        return 0
    configs = []
    for seed in range(args.seeds):
        for variant in variants:
            path = root / f"{variant}-s{seed}.yaml"
            path.write_text(yaml.safe_dump(campaign_config(variant, seed, args.device_seconds,
                                                           args.proxy, runs_dir)))
            configs.append(path)
    print(f"{len(configs)} campaigns, {args.device_seconds:g} device-seconds each, proxy "
          f"{args.proxy}, {args.jobs} at a time, under {root}", flush=True)
    start = time.perf_counter()
    run_all(configs, args.jobs)
    print(f"wall time: {time.perf_counter() - start:.0f} s\n")
    report(runs_dir, variants, args.seeds)
    return 0


def report(runs_dir: Path, variants: list[str], seeds: int) -> None:
    """Print the table: per variant, the spread over seeds of the best validation accuracy,
    the test accuracy of that genome and the mean validation accuracy of everything trained."""
    print(f"{'variant':<12} {'best val acc':>17} {'its test acc':>17} {'mean val acc':>17} "
          f"{'evals':>6} {'dev-s':>7} {'proxy-s':>8}")
    for variant in variants:
        rows = [describe(runs_dir / f"{variant}-s{seed}") for seed in range(seeds)]
        print(f"{variant:<12} {spread([r['best'] for r in rows]):>17} "
              f"{spread([r['best_test'] for r in rows]):>17} "
              f"{spread([r['mean'] for r in rows]):>17} "
              f"{statistics.mean(r['evaluations'] for r in rows):>6.1f} "
              f"{statistics.mean(r['device_seconds'] for r in rows):>7.1f} "
              f"{statistics.mean(r['search_seconds'] for r in rows):>8.1f}")
        for seed, r in enumerate(rows):
            print(f"    seed {seed}: best {r['best']:.4f} (test {r['best_test']:.4f}, id "
                  f"{r['best_id']}, {r['evaluations']} evaluations) {r['best_arch']}")


if __name__ == "__main__":
    raise SystemExit(main())
