"""BANANAS and local search against regularized evolution and random search on digits, with real
training, at equal device-seconds counted as **CPU seconds** (issue 16).

The campaigns are those of ``bench/digits_strategies.py`` (the NB201 cell space with
``examples/digits_darts.yaml``'s small macro network, every proposed genome trained from scratch
with the same recipe, ``--epochs`` replacing the example's 8, stopped by the same
``budget.device_seconds``), with one difference: each campaign runs in its own process with one
torch thread, evaluations in that process, and every second it counts is a CPU second of that
process (``time.process_time``), not a wall-clock second. On a machine shared with other jobs a
wall-clock second is a fraction of a core's second, and that fraction changes from minute to
minute; CPU seconds stay the seconds of one core, so campaigns run at different times, or side by
side with others' jobs, get equal budgets. Counted that way:

* each evaluation's ``seconds`` (the evaluator below replaces the wall-clock figure with the CPU
  seconds of the evaluation);
* BANANAS' predictor: its fits and acquisitions are timed by :mod:`evonas.strategies.bananas`
  with ``time.perf_counter``, which this bench points at ``time.process_time`` in the campaign's
  process; the seconds reach the campaign as each proposal's ``search_seconds`` and count in
  ``budget.device_seconds`` like the evaluations' (:func:`digits_strategies.describe` checks that
  the campaign's own count equals the journal's evaluation seconds plus search seconds).

Printed: per strategy the mean and spread over seeds of the best validation accuracy, the test
accuracy of that genome, evaluations, device-seconds and the search part of them, then the
``evonas compare`` table and the plot.

Usage::

    .venv/bin/python bench/digits_model_based.py                   # 3 seeds, 100 CPU-s, 2 epochs
    .venv/bin/python bench/digits_model_based.py --seeds 1 --device-seconds 20 --jobs 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits_strategies import campaign_config, describe, spread  # noqa: E402

from evonas.analysis.compare import format_table, load_curve, plot_comparison  # noqa: E402
from evonas.evaluation.base import EvalResult  # noqa: E402
from evonas.evaluation.inprocess import InProcessEvaluator  # noqa: E402

STRATEGIES = ("regularized_evolution", "bananas", "local_search", "random")


class CPUTimedEvaluator(InProcessEvaluator):
    """The in-process evaluator, each result's ``seconds`` the CPU seconds of its evaluation."""

    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        start = time.process_time()
        results = super().poll(timeout)
        seconds = time.process_time() - start
        return [replace(r, seconds=round(seconds, 4)) for r in results]


def run_campaign(args: tuple[str, int, float, str, int]) -> str:
    """One campaign in this (fresh) process, every second it counts a CPU second."""
    label, seed, device_seconds, runs_dir, epochs = args
    import torch

    import evonas.strategies.bananas as bananas
    from evonas.api import start_campaign
    from evonas.config import load_config

    torch.set_num_threads(1)
    # BANANAS times its predictor with time.perf_counter: here, the process's CPU time.
    bananas.time = types.SimpleNamespace(perf_counter=time.process_time)  # type: ignore[assignment]
    config = load_config(campaign_config(label, seed, device_seconds, Path(runs_dir), epochs))
    evaluator = CPUTimedEvaluator(config.section("task"), config.section("space"))
    start_campaign(config, evaluator=evaluator)
    return f"{label}-s{seed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device-seconds", type=float, default=100.0,
                        help="budget.device_seconds of every campaign, in CPU seconds")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per genome")
    parser.add_argument("--jobs", type=int, default=2, help="campaigns run side by side")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temp dir)")
    parser.add_argument("--plot", default="digits_model_based.png")
    args = parser.parse_args(argv)
    labels = args.strategies.split(",")
    root = Path(args.out or tempfile.mkdtemp(prefix="digits-model-based-"))
    runs_dir = root / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(label, seed, args.device_seconds, str(runs_dir), args.epochs)
            for seed in range(args.seeds) for label in labels]
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{len(jobs)} campaigns, {args.device_seconds:g} CPU-seconds each, {args.epochs} "
          f"epochs per genome, {args.jobs} at a time, under {root}", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for name in pool.map(run_campaign, jobs):
            print(f"  done: {name}", flush=True)
    print(f"wall time: {time.perf_counter() - start:.0f} s\n")

    print(f"{'strategy':<22} {'best val acc':>17} {'its test acc':>17} {'evals':>6} "
          f"{'dev-s':>7} {'search-s':>8}")
    rows_by_label: dict[str, list[dict[str, Any]]] = {}
    for label in labels:
        rows = [describe(runs_dir / f"{label}-s{seed}") for seed in range(args.seeds)]
        rows_by_label[label] = rows
        print(f"{label:<22} {spread([r['best'] for r in rows]):>17} "
              f"{spread([r['best_test'] for r in rows]):>17} "
              f"{statistics.mean(r['evaluations'] for r in rows):>6.1f} "
              f"{statistics.mean(r['device_seconds'] for r in rows):>7.1f} "
              f"{statistics.mean(r['search_seconds'] for r in rows):>8.2f}")
        for seed, r in enumerate(rows):
            print(f"    seed {seed}: best {r['best']:.4f} (test {r['best_test']:.4f}), "
                  f"{r['evaluations']} evaluations, {r['device_seconds']:.1f} device-s "
                  f"({r['search_seconds']:.2f} search): {r['best_arch']}")
    paths = [runs_dir / f"{label}-s{seed}" for label in labels for seed in range(args.seeds)]
    curves = [load_curve(p) for p in paths]
    print()
    print(format_table([c.row() for c in curves]))
    print(f"\nplot: {plot_comparison(curves, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
