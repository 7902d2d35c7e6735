"""Model-based search (BANANAS) and local search against regularized evolution and random search
on the NAS-Bench-201 CIFAR-10 table, at equal budgets of 50, 100 and 200 evaluations.

Each strategy and seed is a real :class:`~evonas.campaign.Campaign` (one in-process worker, birth
order) over an in-memory journal (:meth:`evonas.storage.Journal.in_memory`) and one shared copy of
the table, as in ``bench/strategies_nb201.py``: an architecture whose canonical hash was evaluated
before is a free cache hit (told again, not counted); a run ends when its budget of real
evaluations is spent or after ``20 x budget`` individuals (the campaign's cap).

Strategies never see the budget, so each seed runs **once**, at the largest budget, and the
smaller budgets are read off the same run's best-so-far curve (cut at that many evaluations, the
individual cap of that budget included): exactly the run a campaign with the smaller budget makes.

Printed per budget and strategy: the mean best test accuracy over seeds, its standard error
(std / sqrt(seeds)) and the fraction of runs that reach the table's optimum (94.3733); then,
for BANANAS, the predictor's mean seconds per proposal over the whole runs (``search_seconds``,
counted as device time).

    python bench/nb201_model_based.py [--seeds 100] [--first-seed 0] [--budgets 50,100,200]
        [--strategies random,...] [--set local_search.improvement=best] [--jobs 2]

The defaults of ``bananas`` and ``local_search`` were tuned on seeds 100-199
(``--first-seed 100``); the figures in BENCHMARKS.md are seeds 0-99.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import yaml

from evonas.campaign import INDIVIDUALS_PER_EVALUATION, Campaign
from evonas.config import load_config
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.storage import Journal, Status
from evonas.tasks.tabular import TabularTask

OPTIMUM = 94.3733
TASK = {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"}
STRATEGIES: dict[str, dict] = {
    "random": {"name": "random"},
    "regularized_evolution": {"name": "regularized_evolution", "population": 10, "sample": 3},
    "local_search": {"name": "local_search"},
    "bananas": {"name": "bananas"},
}


def config_for(strategy: dict, seed: int, budget: int) -> dict:
    """The campaign config of one run (the table, one in-process worker, birth order)."""
    return {"name": f"run-{seed}", "seed": seed, "runs_dir": "runs", "space": {"name": "nb201"},
            "task": dict(TASK), "strategy": dict(strategy), "evaluator": {"workers": 0},
            "budget": {"evaluations": budget}, "campaign": {"progress": False, "order": "birth"}}


@dataclass
class Trajectory:
    """The real evaluations of one run: fitness, the individual index each happened at, and the
    predictor seconds of the individuals (``search_seconds``)."""

    fitness: np.ndarray
    individual: np.ndarray
    search_seconds: float
    proposals: int

    def best(self, budget: int) -> tuple[float, bool]:
        """Best fitness within ``budget`` evaluations (and the cap of that budget), and whether
        it is the table's optimum."""
        cap = INDIVIDUALS_PER_EVALUATION * budget
        done = (np.arange(len(self.fitness)) < budget) & (self.individual < cap)
        best = float(self.fitness[done].max())
        return best, best >= OPTIMUM - 1e-9


_TASK: TabularTask | None = None


def simulate(name: str, seed: int, budget: int) -> Trajectory:
    """One campaign of strategy ``name`` with ``budget`` evaluations over an in-memory journal."""
    global _TASK
    if _TASK is None:  # one copy of the table per process
        _TASK = TabularTask("nb201_cifar10")
    config = load_config(config_for(STRATEGIES[name], seed, budget))
    with Journal.in_memory(config.data) as journal:
        Campaign(config, journal, InProcessEvaluator(_TASK, config.space())).run()
        real = [ev for ev in journal.evaluations()
                if ev.status == Status.OK and ev.source_id is None]
        seconds = journal.search_seconds()
    return Trajectory(np.array([ev.fitness for ev in real]),
                      np.array([ev.individual_id for ev in real]),
                      float(sum(seconds.values())), len(seconds))


def _run(args: tuple[str, dict, int, int]) -> Trajectory:
    import torch

    torch.set_num_threads(1)
    name, strategy, seed, budget = args
    STRATEGIES[name] = strategy  # --set changes, in this worker process too
    return simulate(name, seed, budget)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first-seed .. first-seed + seeds - 1 (tuning used 100)")
    parser.add_argument("--set", action="append", default=[], metavar="STRATEGY.OPTION=VALUE",
                        help="change one strategy option (a YAML value), e.g. "
                             "local_search.improvement=best; repeatable")
    parser.add_argument("--budgets", default="50,100,200")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=2, help="processes (one run each at a time)")
    parser.add_argument("--raw", help="append one JSON line per finished run to this file")
    args = parser.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    names = args.strategies.split(",")
    for item in args.set:
        key, _, value = item.partition("=")
        name, _, option = key.partition(".")
        STRATEGIES[name] = {**STRATEGIES[name], option: yaml.safe_load(value)}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"command: python {' '.join(sys.argv)}")
    results: dict[str, list[Trajectory]] = {}
    raw = open(args.raw, "a") if args.raw else None  # noqa: SIM115 (closed below)
    with ProcessPoolExecutor(args.jobs) as pool:
        for name in names:
            start = time.perf_counter()
            results[name] = []
            runs = pool.map(_run, [(name, STRATEGIES[name], seed, budgets[-1])
                                   for seed in seeds])
            for seed, trajectory in zip(seeds, runs, strict=True):
                results[name].append(trajectory)
                if raw is not None:
                    raw.write(json.dumps({"strategy": name, "seed": seed, "best": {
                        b: trajectory.best(b)[0] for b in budgets},
                        "search_seconds": trajectory.search_seconds,
                        "proposals": trajectory.proposals}) + "\n")
                    raw.flush()
            print(f"{name}: {args.seeds} seeds in {time.perf_counter() - start:.1f}s",
                  file=sys.stderr, flush=True)
    print(f"\nNB201 CIFAR-10 table, seeds {seeds.start}-{seeds.stop - 1}, one run per seed at "
          f"{budgets[-1]} evaluations read at each budget; optimum {OPTIMUM}")
    print("| budget | strategy | mean best | std error | reach optimum |")
    print("|---:|---|---:|---:|---:|")
    for budget in budgets:
        for name in names:
            outcomes = [t.best(budget) for t in results[name]]
            bests = [b for b, _ in outcomes]
            hits = sum(h for _, h in outcomes)
            error = statistics.stdev(bests) / math.sqrt(len(bests)) if len(bests) > 1 else 0.0
            print(f"| {budget} | {name} | {statistics.fmean(bests):.3f} | {error:.3f} | "
                  f"{hits}/{len(outcomes)} |")
    for name in names:
        proposals = sum(t.proposals for t in results[name])
        if proposals:
            seconds = sum(t.search_seconds for t in results[name])
            print(f"\n{name}: predictor {seconds / proposals:.3f} s per proposal "
                  f"(search_seconds, {proposals} proposals, {seconds:.0f} s in all)")
    if raw is not None:
        raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
