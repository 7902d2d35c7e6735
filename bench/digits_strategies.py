"""Strategies on digits at equal device-seconds: evolution, REINFORCE, DARTS, BANANAS, local search.

Every campaign searches the NAS-Bench-201 cell space (``examples/digits_darts.yaml``'s small macro
network: 8, 16, 32 channels, one cell per stage) on the embedded digits, trains each proposed genome
with the same recipe, and stops at the same ``budget.device_seconds``: evaluation seconds for all,
plus the supernet's training for DARTS and the predictor's fits for BANANAS (both recorded as
``search_seconds`` in the operator records, which the campaign adds to its device-seconds). Each
campaign runs as its own ``evonas run`` process with one torch thread and ``workers: 0``
(evaluations in-process), so its device-seconds are the seconds of one core; ``--jobs`` campaigns
run side by side.

For every strategy it prints the mean and spread over seeds of the best validation accuracy, the
test accuracy of that best genome, evaluations, device-seconds spent and the part of them that
was search (``search_seconds``: DARTS' supernet, BANANAS' predictor); for DARTS also the test
accuracy of the final derived cell and how many searches ended in a skip collapse. Then the
``evonas compare`` table, and the plot of best-so-far against evaluations and device-seconds.

Usage::

    .venv/bin/python bench/digits_strategies.py                  # issue 5: 3 seeds, 150 s each
    .venv/bin/python bench/digits_strategies.py --device-seconds 150 --epochs 2 --jobs 4 \
        --strategies regularized_evolution,bananas,local_search,random   # issue 16
    .venv/bin/python bench/digits_strategies.py --seeds 1 --device-seconds 40 --jobs 2
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
from evonas.analysis.compare import format_table, load_curve, plot_comparison
from evonas.storage import JOURNAL_FILE, Journal
from evonas.strategies import search_seconds

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_darts.yaml"

#: Strategy label -> the ``strategy:`` section of its campaigns.
STRATEGIES: dict[str, dict[str, Any]] = {
    "regularized_evolution": {"name": "regularized_evolution", "population": 10, "sample": 3},
    # the digits fitness is a fraction: normalized advantages keep the entropy weight unit-free
    "reinforce": {"name": "reinforce", "normalize": True, "entropy_weight": 0.1},
    "darts-1st": {"name": "darts", "order": 1, "epochs": 50, "derive_every": 1},
    "darts-2nd": {"name": "darts", "order": 2, "epochs": 16, "derive_every": 1},
    # issue 16: the defaults of each (BANANAS: 10 random, then the predictor; local search: best
    # of 10 random, then first-improvement moves in shuffled neighbourhoods)
    "bananas": {"name": "bananas"},
    "local_search": {"name": "local_search"},
    "random": {"name": "random"},
}
#: The strategies run when ``--strategies`` is not given (issue 5's comparison).
DEFAULT_STRATEGIES = ("regularized_evolution", "reinforce", "darts-1st", "darts-2nd")


def campaign_config(label: str, seed: int, device_seconds: float, runs_dir: Path,
                    epochs: int | None = None) -> dict:
    """One campaign: the example's space and task (``epochs`` replaces its training epochs),
    strategy ``label``, in-process evaluations, stopped by ``device_seconds``."""
    config = yaml.safe_load(EXAMPLE.read_text())
    config.update(name=f"{label}-s{seed}", seed=seed, runs_dir=str(runs_dir))
    if epochs is not None:
        config["task"]["epochs"] = epochs
    config["strategy"] = dict(STRATEGIES[label])
    config["evaluator"] = {"workers": 0}
    config["budget"] = {"evaluations": 1000, "device_seconds": device_seconds}
    config["campaign"] = {"progress": False}
    return config


def run_all(configs: list[Path], jobs: int) -> None:
    """Run every config as an ``evonas run`` process, ``jobs`` at a time, one thread each."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    queue = list(configs)
    running: list[tuple[Path, subprocess.Popen]] = []
    while queue or running:
        while queue and len(running) < jobs:
            path = queue.pop(0)
            cmd = [sys.executable, "-m", "evonas.cli", "run", str(path), "--quiet"]
            running.append((path, subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)))
        time.sleep(0.5)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                if item[1].returncode != 0:
                    raise SystemExit(f"{item[0]}: evonas run exited {item[1].returncode}")
                print(f"  done: {item[0].stem}", flush=True)


def describe(run_dir: Path) -> dict[str, Any]:
    """Outcomes of one finished campaign; checks that its device-seconds include the search."""
    run = evonas.open_run(run_dir)
    status = run.status()
    best = run.best()
    individuals = run.individuals()
    search = sum(search_seconds(ind.operator) for ind in individuals)
    state = _campaign_state(run_dir)
    # The campaign's own count (what budget.device_seconds stops on) has the search seconds in
    # it: it equals evaluation seconds plus search seconds, as the journal's rows add up.
    if state is not None and abs(state["device_seconds"] - status["device_seconds"]) > 0.01:
        raise SystemExit(f"{run_dir}: the campaign counted {state['device_seconds']:.3f} "
                         f"device-seconds, the journal adds up to {status['device_seconds']:.3f}")
    out = {"best": best.fitness if best else None,
           "best_test": best.metrics.get("test_accuracy") if best else None,
           "evaluations": status["evaluations"], "device_seconds": status["device_seconds"],
           "search_seconds": search, "best_arch": best.genome.describe() if best else None}
    darts = [ind for ind in individuals if ind.operator.get("op") == "darts"]
    if darts:
        final = darts[-1]
        source = run.individual(final.source_id) if final.source_id is not None else final
        out.update(final_epoch=final.operator["epoch"], final_arch=final.genome.describe(),
                   final_test=source.metrics.get("test_accuracy"),
                   collapsed=final.operator["skip_collapse"])
    return out


def _campaign_state(run_dir: Path) -> dict[str, Any] | None:
    """The campaign's last snapshot state (its own device-second count), or None."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        row = journal.last_snapshot()
    return None if row is None else dict(row.state)


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device-seconds", type=float, default=150.0)
    parser.add_argument("--jobs", type=int, default=2, help="campaigns run side by side")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs per genome (default: the example's 8)")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                        help=f"comma-separated, of {', '.join(STRATEGIES)}")
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temp dir)")
    parser.add_argument("--plot", default="digits_strategies.png")
    args = parser.parse_args(argv)
    labels = args.strategies.split(",")
    root = Path(args.out or tempfile.mkdtemp(prefix="digits-strategies-"))
    root.mkdir(parents=True, exist_ok=True)
    runs_dir = root / "runs"
    configs = []
    for seed in range(args.seeds):
        for label in labels:
            path = root / f"{label}-s{seed}.yaml"
            path.write_text(yaml.safe_dump(campaign_config(label, seed, args.device_seconds,
                                                           runs_dir, args.epochs)))
            configs.append(path)
    print(f"{len(configs)} campaigns, {args.device_seconds:g} device-seconds each, "
          f"{args.jobs} at a time, under {root}", flush=True)
    start = time.perf_counter()
    run_all(configs, args.jobs)
    print(f"wall time: {time.perf_counter() - start:.0f} s\n")

    print(f"{'strategy':<22} {'best val acc':>17} {'its test acc':>17} {'evals':>6} "
          f"{'dev-s':>7} {'search-s':>8}  DARTS: final derived test acc, collapses")
    for label in labels:
        rows = [describe(runs_dir / f"{label}-s{seed}") for seed in range(args.seeds)]
        darts = ""
        if "final_test" in rows[0]:
            darts = (f"{spread([r['final_test'] for r in rows])}, "
                     f"{sum(r['collapsed'] for r in rows)}/{len(rows)} collapsed")
        print(f"{label:<22} {spread([r['best'] for r in rows]):>17} "
              f"{spread([r['best_test'] for r in rows]):>17} "
              f"{statistics.mean(r['evaluations'] for r in rows):>6.1f} "
              f"{statistics.mean(r['device_seconds'] for r in rows):>7.1f} "
              f"{statistics.mean(r['search_seconds'] for r in rows):>8.2f}  {darts}")
        for seed, r in enumerate(rows):
            final = f"  final derived: {r['final_arch']}" if "final_arch" in r else ""
            print(f"    seed {seed}: best {r['best_arch']}{final}")
    paths = [runs_dir / f"{label}-s{seed}" for label in labels for seed in range(args.seeds)]
    curves = [load_curve(p) for p in paths]
    print()
    print(format_table([c.row() for c in curves]))
    print(f"\nplot: {plot_comparison(curves, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
