"""Lineage queries and the report on a journal of 100,000 individuals.

Builds the journal with a real in-process campaign on the NAS-Bench-201 table (regularized
evolution by default, so lineages run thousands of generations deep; ``--strategy generational``
adds crossover, whose ancestries are DAGs), then times, each with the call or command it ran:

* the ancestry of individuals (target < 0.1 s): ``run.ancestors``, ``run.path_to_root``, and the
  text tree ``evonas lineage RUN --id N`` prints (built in-process; the command itself adds Python's
  start-up);
* ``run.operator_stats()`` (target < 2 s);
* the report, ``evonas report RUN`` (target < 30 s);
* and, for reference, ``run.descendants``, ``run.diversity()``, ``run.lineage()`` and the GraphML
  export.

    python bench/lineage_scale.py [--individuals 100000] [--strategy regularized_evolution]
                                  [--keep DIR]   # build once into DIR, reuse it later
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import evonas
from evonas.analysis import lineage
from evonas.cli.lineage import format_ancestry
from evonas.report import write_report
from evonas.storage import JOURNAL_FILE

STRATEGIES: dict[str, dict[str, Any]] = {
    "regularized_evolution": {"name": "regularized_evolution", "population": 100, "sample": 10},
    "generational": {"name": "generational", "population": 50, "offspring": 50,
                     "crossover_prob": 0.5, "mutation_prob": 0.5},
    "random": {"name": "random"},
}


def build(runs_dir: Path, name: str, individuals: int, strategy: str) -> float:
    """Run the campaign that writes the journal; returns its wall seconds."""
    start = time.perf_counter()
    run = evonas.run({
        "name": name, "seed": 0, "runs_dir": str(runs_dir), "space": {"name": "nb201"},
        "task": {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"},
        "strategy": STRATEGIES[strategy], "evaluator": {"workers": 0},
        "budget": {"evaluations": individuals, "max_individuals": individuals},
        "campaign": {"progress": False, "checkpoint_every": 1000},
    })
    run.close()
    return time.perf_counter() - start


def timed(label: str, call: Callable[[], Any], target: float | None = None,
          repeat: int = 1) -> Any:
    """Run ``call`` ``repeat`` times, print the median wall time, return the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    goal = "" if target is None else (f"  target < {target:g} s: "
                                      f"{'ok' if seconds < target else 'MISSED'}")
    runs = f" (median of {repeat})" if repeat > 1 else ""
    print(f"{seconds:9.4f} s  {label}{runs}{goal}", flush=True)
    return result


#: ``evonas`` with the lineage and report commands added when evonas.cli does not wire them yet.
EVONAS = [sys.executable, "-c", """
import argparse, sys
from evonas.cli import commands as cli
from evonas.cli.lineage import add_commands
build = cli.build_parser
def wired():
    parser = build()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and "lineage" not in action.choices:
            add_commands(action)
    return parser
cli.build_parser = wired
sys.exit(cli.main(sys.argv[1:]))
"""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=100_000)
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="regularized_evolution")
    parser.add_argument("--keep", metavar="DIR", help="runs folder to build into (or reuse)")
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(args.keep) if args.keep else Path(tmp)
        name = f"lineage-{args.strategy}-{args.individuals}"
        folder = runs_dir / name
        if (folder / JOURNAL_FILE).exists():
            print(f"reusing {folder}")
        else:
            seconds = build(runs_dir, name, args.individuals, args.strategy)
            print(f"built {folder} with an in-process campaign ({args.strategy}, NB201 table) "
                  f"in {seconds:.1f} s")
        return measure(folder)


def measure(folder: Path) -> int:
    run = evonas.open_run(folder)
    status = run.status()
    size = (folder / JOURNAL_FILE).stat().st_size / 2**20
    print(f"journal: {status['individuals']} individuals, {status['ok']} evaluated, "
          f"{status['cached']} cached copies, {size:.0f} MiB")
    last = status["individuals"] - 1
    best = run.best().id
    middle = last // 2
    found = lineage.ancestry(run._journal, last)
    print(f"ancestry of #{last}: {len(found) - 1} ancestors, "
          f"{len(lineage.chain(found, last)) - 1} steps to a root by first parents")
    for target in (last, middle, best):
        timed(f"run.ancestors({target})", lambda t=target: run.ancestors(t), 0.1, repeat=5)
    timed(f"run.path_to_root({last})", lambda: run.path_to_root(last), 0.1, repeat=5)
    timed(f"evonas lineage {folder} --id {last}  (tree text, in-process)",
          lambda: format_ancestry(lineage.ancestry(run._journal, last), last), 0.1, repeat=5)
    root = lineage.chain(found, last)[-1]
    timed(f"run.descendants({root})  ({len(run.descendants(root))} descendants, the root of "
          f"#{last})", lambda: run.descendants(root), repeat=3)
    timed("run.operator_stats()", run.operator_stats, 2.0, repeat=3)
    timed("run.diversity()", run.diversity, repeat=1)
    graph = timed("run.lineage()", run.lineage, repeat=1)
    print(f"           lineage graph: {graph.number_of_nodes()} nodes, "
          f"{graph.number_of_edges()} edges")
    timed(f"evonas report {folder}  (write_report in-process)", lambda: write_report(run), 30.0)
    report = folder / "report.html"
    print(f"           report: {report} ({report.stat().st_size / 2**20:.1f} MiB)")
    timed(f"evonas lineage {folder} --id {last}  (whole command, Python start-up included)",
          lambda: subprocess.run([*EVONAS, "lineage", str(folder), "--id", str(last)],
                                 check=True, capture_output=True))
    timed(f"evonas report {folder}  (whole command)",
          lambda: subprocess.run([*EVONAS, "report", str(folder)], check=True,
                                 capture_output=True), 30.0)
    timed(f"evonas lineage {folder} --export tree.graphml",
          lambda: lineage.export(run._journal, folder / "tree.graphml"))
    run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
