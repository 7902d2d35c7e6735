"""How well do the zero-cost proxies rank architectures? Spearman correlation with trained accuracy.

Samples ``--n`` distinct NAS-Bench-201 cells (the nb201 space with a small stem and one cell per
stage, so that CPU training is feasible), and for each one, with the same seed (the same initial
weights):

* trains it with the task's real recipe (``evonas.tasks.build_task`` + ``task.evaluate``) and
  records the validation accuracy;
* scores the untrained network with every proxy through the ``proxy`` task wrapping the same
  dataset task (one fixed batch of 64 training images), plus ``params`` and ``flops``.

Then prints, per dataset, Spearman's rank correlation (``scipy.stats.spearmanr``) of each proxy
with the validation accuracy. A proxy that is not finite for an architecture (``naswot`` of a
cell with no input-to-output path, ``jacov`` of a network that ignores its input) ranks it last.

Datasets: ``digits`` (sklearn's 8x8 digits, the default recipe with fewer epochs) and
``fashion`` (Fashion-MNIST from ``/usr/share/datasets/fashion-mnist``, through the ``idx`` task,
on stratified subsets). Both are CPU-sized proxies of real training; see ``DATASETS``.

    python bench/proxy_correlation.py --n 40 --dataset digits --dataset fashion
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from evonas.proxies import PROXY_NAMES
from evonas.tasks import build_task
from genomes import DAGGenome, NB201Space
from operators import random_genome

#: The training task of each dataset (the proxy task wraps the same mapping).
DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"name": "digits", "epochs": 4},
    "fashion": {"name": "idx", "path": "/usr/share/datasets/fashion-mnist",
                "max_train": 1500, "max_val": 1000, "max_test": 500, "epochs": 2,
                "batch_size": 64},
}
#: What is correlated with the validation accuracy.
SCORES: tuple[str, ...] = (*PROXY_NAMES, "params", "flops")


def sample_cells(space: NB201Space, n: int, seed: int) -> list[DAGGenome]:
    """``n`` distinct random cells (by NB201 string), drawn with ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    cells: dict[str, DAGGenome] = {}
    while len(cells) < n:
        genome = random_genome(space, rng)
        cells.setdefault(genome.describe(), genome)
    return list(cells.values())


def measure(dataset: str, space: NB201Space, cells: list[DAGGenome], seed: int,
            batch_size: int) -> list[dict[str, Any]]:
    """Train and score every cell on ``dataset``; one row per cell."""
    task_config = DATASETS[dataset]
    train_task = build_task(task_config, space)
    proxy_task = build_task({"name": "proxy", "inner": task_config, "proxies": list(PROXY_NAMES),
                             "fitness": "params", "batch_size": batch_size}, space)
    rows = []
    for i, genome in enumerate(cells):
        start = time.perf_counter()
        trained = train_task.evaluate(genome, seed)
        scores = proxy_task.evaluate(genome, seed)
        row = {"arch": genome.describe(), "val_accuracy": trained["val_accuracy"],
               "test_accuracy": trained["test_accuracy"],
               "train_seconds": trained["train_seconds"],
               "proxy_seconds": scores["proxy_seconds"],
               **{name: scores.get(name, math.nan) for name in SCORES}}
        rows.append(row)
        print(f"[{dataset} {i + 1}/{len(cells)}] val {row['val_accuracy']:.3f} "
              f"naswot {row['naswot']:.1f} synflow {row['synflow']:.3g} "
              f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return rows


def ranked(values: list[float]) -> np.ndarray:
    """Scores with NaN and -inf (no score) as the lowest value, for ranking."""
    out = np.array(values, dtype=np.float64)
    out[~np.isfinite(out) & ~(out == math.inf)] = -math.inf
    return out


def correlations(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Spearman's rho of each score with the validation accuracy."""
    from scipy.stats import spearmanr

    accuracy = np.array([r["val_accuracy"] for r in rows])
    out = {}
    for name in SCORES:
        rho = spearmanr(ranked([r[name] for r in rows]), accuracy).statistic
        out[name] = float(rho)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="architectures per dataset")
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS),
                        help="digits and/or fashion (repeat; default both)")
    parser.add_argument("--stem", type=int, default=4, help="nb201 stem channels")
    parser.add_argument("--cells", type=int, default=1, help="nb201 cells per stage")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample and the weights")
    parser.add_argument("--batch-size", type=int, default=64, help="proxy batch size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", type=Path, help="write the rows and correlations here")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    space = NB201Space(stem_channels=args.stem, cells_per_stage=args.cells)
    cells = sample_cells(space, args.n, args.seed)
    report: dict[str, Any] = {"n": args.n, "stem": args.stem, "cells": args.cells,
                              "seed": args.seed, "datasets": {}}
    for dataset in args.dataset or ["digits", "fashion"]:
        start = time.perf_counter()
        rows = measure(dataset, space, cells, args.seed, args.batch_size)
        rho = correlations(rows)
        accuracy = [r["val_accuracy"] for r in rows]
        report["datasets"][dataset] = {"task": DATASETS[dataset], "rows": rows,
                                       "spearman": rho, "seconds": time.perf_counter() - start}
        print(f"\n{dataset}: {len(rows)} architectures, validation accuracy "
              f"{min(accuracy):.3f}-{max(accuracy):.3f} (median {np.median(accuracy):.3f}), "
              f"{time.perf_counter() - start:.0f} s")
        print(f"{'score':<10} spearman")
        for name, value in rho.items():
            print(f"{name:<10} {value:+.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, allow_nan=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
