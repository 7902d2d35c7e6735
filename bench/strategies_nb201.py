"""Search strategies on the NAS-Bench-201 CIFAR-10 table at 50, 100 and 200 evaluations.

Each strategy and seed is a real :class:`~evonas.campaign.Campaign` (one in-process worker, birth
order) over an in-memory journal (:meth:`evonas.storage.Journal.in_memory`: nothing written to
disk) and one shared copy of the table: an architecture whose canonical hash was evaluated before
is a free cache hit (told again, not counted); a run ends when the budget of real evaluations is
spent or after ``20 x budget`` individuals (the campaign's cap). Strategies never see the budget,
so one run of the largest budget, cut at each smaller budget (cap included), is the run of that
budget.
``--check`` replays a few seeds through campaigns on disk (``evonas.run``) and asserts the same
evaluations.

``reinforce`` runs with its defaults, ``reinforce_nb201`` with the settings of
``examples/nb201_rl.yaml`` (raw rewards, entropy weight 0.2). Printed per budget and strategy:
mean and std of the best test accuracy over seeds, the fraction of runs that reach the table's
optimum (94.3733) and the mean evaluations they needed.

    python bench/strategies_nb201.py [--seeds 100] [--budgets 50,100,200] [--check]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

import evonas
from evonas.campaign import INDIVIDUALS_PER_EVALUATION, Campaign
from evonas.config import load_config
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.storage import Journal, Status
from evonas.tasks.tabular import TabularTask

OPTIMUM = 94.3733
STRATEGIES: dict[str, dict] = {
    "random": {"name": "random"},
    "regularized_evolution": {"name": "regularized_evolution", "population": 10, "sample": 3},
    "generational": {"name": "generational", "population": 10, "offspring": 10},
    "reinforce": {"name": "reinforce"},
    "reinforce_nb201": {"name": "reinforce", "normalize": False, "entropy_weight": 0.2},
}


def config_for(strategy: dict, seed: int, budget: int, runs_dir: str = "runs",
               label: str = "run") -> dict:
    return {"name": f"{label}-{seed}", "seed": seed, "runs_dir": runs_dir,
            "space": {"name": "nb201"},
            "task": {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"},
            "strategy": strategy, "evaluator": {"workers": 0},
            "budget": {"evaluations": budget},
            "campaign": {"progress": False, "order": "birth"}}


@dataclass
class Trajectory:
    """The real evaluations of one run: fitness and the individual index each happened at."""

    fitness: np.ndarray
    individual: np.ndarray

    def best(self, budget: int) -> tuple[float, int | None]:
        """Best fitness of the run with ``budget`` evaluations, and the evaluations it took to
        reach the optimum (None if it did not)."""
        cap = INDIVIDUALS_PER_EVALUATION * budget
        done = (np.arange(len(self.fitness)) < budget) & (self.individual < cap)
        fitness = self.fitness[done]
        hits = np.flatnonzero(fitness >= OPTIMUM - 1e-9)
        return float(fitness.max()), (int(hits[0]) + 1 if len(hits) else None)


def simulate(task: TabularTask, strategy: dict, seed: int, budget: int) -> Trajectory:
    """One campaign with ``budget`` evaluations over an in-memory journal."""
    config = load_config(config_for(strategy, seed, budget))
    with Journal.in_memory(config.data) as journal:
        Campaign(config, journal, InProcessEvaluator(task, config.space())).run()
        real = [ev for ev in journal.evaluations()
                if ev.status == Status.OK and ev.source_id is None]
    return Trajectory(np.array([ev.fitness for ev in real]),
                      np.array([ev.individual_id for ev in real]))


def check(task: TabularTask, seeds: int, budget: int) -> None:
    """Assert that :func:`simulate` matches campaigns on disk (first ``seeds`` seeds)."""
    with tempfile.TemporaryDirectory() as runs_dir:
        for name, strategy in STRATEGIES.items():
            for seed in range(seeds):
                run = evonas.run(config_for(strategy, seed, budget, runs_dir, name))
                real = [ind.fitness for ind in run.individuals() if ind.status == Status.OK]
                run.close()
                simulated = simulate(task, strategy, seed, budget).fitness.tolist()
                assert real == simulated, f"{name} seed {seed}: simulation != campaign"
    print(f"check: in-memory campaigns equal evonas.run for {seeds} seed(s) x {len(STRATEGIES)} "
          f"strategies at {budget} evaluations")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--budgets", default="50,100,200")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--check", action="store_true",
                        help="first compare the simulation with real campaigns (2 seeds)")
    args = parser.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    names = args.strategies.split(",")
    print(f"command: python {' '.join(sys.argv)}")
    task = TabularTask("nb201_cifar10")
    assert max(row["cifar10_test_acc"] for row in task.rows.values()) == OPTIMUM
    if args.check:
        check(task, 2, budgets[0])
    results: dict[str, list[Trajectory]] = {}
    for name in names:
        start = time.perf_counter()
        results[name] = [simulate(task, STRATEGIES[name], seed, budgets[-1])
                         for seed in range(args.seeds)]
        print(f"{name}: {args.seeds} seeds in {time.perf_counter() - start:.1f}s",
              file=sys.stderr)
    print(f"\nNB201 CIFAR-10 table, {args.seeds} seeds; optimum {OPTIMUM}")
    print("| budget | strategy | best mean | best std | reach optimum | evals to optimum |")
    print("|---:|---|---:|---:|---:|---:|")
    for budget in budgets:
        for name in names:
            outcomes = [t.best(budget) for t in results[name]]
            bests = [b for b, _ in outcomes]
            hits = [h for _, h in outcomes if h is not None]
            to_opt = f"{statistics.fmean(hits):.1f}" if hits else "-"
            print(f"| {budget} | {name} | {statistics.fmean(bests):.3f} | "
                  f"{statistics.stdev(bests) if len(bests) > 1 else 0:.3f} | "
                  f"{len(hits)}/{len(outcomes)} | {to_opt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
