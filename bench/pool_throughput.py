"""Pool throughput: evaluations a second through the local pool with a near no-op task.

The task is the NB201 table lookup (``task: {name: tabular, table: nb201_cifar10}``: a dict
lookup per evaluation), so what is timed is the engine's own cost per evaluation. Two figures,
side by side in one process:

* **evaluator only** (a part): a :class:`~evonas.evaluation.LocalPoolEvaluator` with ``--workers``
  workers, started and warmed up before the clock starts; ``--jobs`` jobs (distinct NB201 cells)
  go through it, ``capacity`` of them in flight at a time, submitted as results come back (the
  way the campaign drives it). The best of ``--repeats`` runs counts.
* **end to end** (what users run): ``evonas run`` in this process (:func:`evonas.api.run`) with
  ``strategy: random``, ``evaluator.workers: --workers``, the journal on (it always is) and the
  progress bar off, ``budget.evaluations: --evaluations``. Timed from the call to its return (pool
  start-up and close included) and, separately, from the first evaluation's start to the last
  result, read back from the journal's timestamps when it has them. With ``--ready-first`` the
  pool is waited on until every worker has built its task before the campaign starts (as
  ``bench/pool_utilization.py`` does), and the campaign is also timed, wall and this process's
  CPU, from that moment to the pool's close: the **steady** rate, without the spawn of the
  workers (about 0.3 s of CPU each, which on 2 cores competes with the campaign for seconds).

It prints evaluations/s for both and the ratio end to end / evaluator only (how much of the
pool's speed the campaign process keeps). Issue 13's target is >= 5,000 evaluations/s end to end
at 8 workers.

NB201 has 6,466 distinct cells (15,625 op strings, fewer up to isomorphism): random search with
``--evaluations 2000`` journals about 4,100 individuals, with 5,000 about 19,800 (cached duplicates
cost the campaign process but no evaluation), so both counts are printed.

Run:  .venv/bin/python bench/pool_throughput.py [--workers 8] [--jobs 20000] [--evaluations 2000]
      [--repeats 2] [--skip-campaign] [--skip-evaluator] [--ready-first] [--profile-campaign FILE]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import sys
import tempfile
import time
from typing import Any

from evonas.evaluation import EvalJob, LocalPoolEvaluator
from evonas.evaluation.devices import usable_cpus

TASK: dict[str, Any] = {"name": "tabular", "table": "nb201_cifar10"}
SPACE: dict[str, Any] = {"name": "nb201"}
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def nb201_genomes() -> list[dict[str, Any]]:
    """The ``to_dict()`` form of all 15,625 NB201 cells (in a fixed order)."""
    from genomes import DAGGenome

    rows = []
    for ops in itertools.product(NB201_OPS, repeat=6):
        arch = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        rows.append(DAGGenome.from_nb201(arch).to_dict())
    return rows


def drive(pool: LocalPoolEvaluator, jobs: list[EvalJob]) -> tuple[float, float]:
    """Push ``jobs`` through ``pool`` keeping ``capacity`` in flight; return the wall seconds
    and this (the parent) process's CPU seconds."""
    feed = iter(jobs)
    done = failed = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for job in itertools.islice(feed, pool.capacity):
        pool.submit(job)
    while pool.in_flight:
        results = pool.poll(None)
        for result in results:
            done += 1
            failed += not result.ok
        for job in itertools.islice(feed, len(results)):
            pool.submit(job)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if done != len(jobs) or failed:
        raise SystemExit(f"evaluator: {done} results for {len(jobs)} jobs, {failed} failed")
    return seconds, cpu


def evaluator_only(workers: int, count: int, repeats: int) -> tuple[float, float, int]:
    """The fastest of ``repeats`` runs of ``count`` jobs (wall and parent CPU seconds), and the
    pool's capacity."""
    genomes = nb201_genomes()
    jobs = [EvalJob(i, genomes[i % len(genomes)], seed=i) for i in range(count)]
    pool = LocalPoolEvaluator(TASK, SPACE, workers, devices=["cpu"])
    try:
        pool.wait_until_ready(120)
        drive(pool, [EvalJob(-1 - k, genomes[k], 0) for k in range(4 * pool.capacity)])  # warm
        best = min(drive(pool, jobs) for _ in range(repeats))
        return best[0], best[1], pool.capacity
    finally:
        pool.close()


def end_to_end(workers: int, evaluations: int, profile: str | None,
               ready_first: bool = False) -> dict[str, float]:
    """Run ``evonas run`` in-process; return its wall seconds and evaluation count (and, with
    ``ready_first``, the wall and CPU seconds from every worker ready to the pool's close)."""
    from evonas import api
    from evonas.storage import JOURNAL_FILE

    marks: dict[str, float] = {}
    build = api._evaluator_for

    def ready_evaluator(cfg: Any) -> Any:
        evaluator = build(cfg)
        evaluator.wait_until_ready(300)
        marks["ready"], marks["cpu_ready"] = time.perf_counter(), time.process_time()
        close = evaluator.close

        def measured_close() -> None:
            if "closed" not in marks:
                marks["closed"], marks["cpu_closed"] = time.perf_counter(), time.process_time()
            close()

        evaluator.close = measured_close
        return evaluator

    config = {
        "seed": 0,
        "space": dict(SPACE),
        "task": dict(TASK),
        "strategy": {"name": "random"},
        "evaluator": {"workers": workers},
        "budget": {"evaluations": evaluations},
        "campaign": {"progress": False},
    }
    with tempfile.TemporaryDirectory(prefix="evonas-pool-throughput-") as runs_dir:
        config["runs_dir"] = runs_dir
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu = time.process_time()
        start = time.perf_counter()
        if ready_first:
            api._evaluator_for = ready_evaluator
        try:
            run = api.run(config, name="throughput")
        finally:
            api._evaluator_for = build
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        path = run.path / JOURNAL_FILE
        evaluations, individuals = _counts(path)
        row = {"seconds": seconds, "cpu": cpu, "evaluations": float(evaluations),
               "individuals": float(individuals), "span": _evaluation_span(path)}
        if "closed" in marks:
            row["steady_seconds"] = marks["closed"] - marks["ready"]
            row["steady_cpu"] = marks["cpu_closed"] - marks["cpu_ready"]
            row["startup"] = marks["ready"] - start
        return row


def _counts(path: os.PathLike[str]) -> tuple[int, int]:
    """Evaluations run by the pool (ok or failed, not cached) and individuals journaled."""
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        query = "SELECT COUNT(*) FROM evaluations WHERE status IN ('ok', 'failed')"
        evaluations = int(db.execute(query).fetchone()[0])
        individuals = int(db.execute("SELECT COUNT(*) FROM individuals").fetchone()[0])
    return evaluations, individuals


def _evaluation_span(path: os.PathLike[str]) -> float:
    """Seconds from the first individual's birth to the last evaluation's record (NaN if the
    journal has no such timestamps)."""
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            first = db.execute("SELECT MIN(created_at) FROM individuals").fetchone()[0]
            last = db.execute("SELECT MAX(finished_at) FROM evaluations").fetchone()[0]
        except sqlite3.Error:
            return float("nan")
    try:
        return float(last) - float(first)
    except (TypeError, ValueError):
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="pool workers (both parts)")
    parser.add_argument("--jobs", type=int, default=20000, help="jobs of the evaluator-only part")
    parser.add_argument("--evaluations", type=int, default=2000,
                        help="budget.evaluations of the end-to-end run (at most 6,466: the "
                             "distinct NB201 cells; random search journals a duplicate as "
                             "cached, more of them the closer the budget gets to that)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed evaluator-only runs; the fastest counts (load only slows)")
    parser.add_argument("--skip-campaign", action="store_true", help="time the evaluator only")
    parser.add_argument("--skip-evaluator", action="store_true", help="time end to end only")
    parser.add_argument("--ready-first", action="store_true",
                        help="end to end: wait until every worker is ready, then time the "
                             "campaign from there (the steady rate)")
    parser.add_argument("--profile-campaign", metavar="FILE",
                        help="cProfile the end-to-end run (the campaign process) into FILE")
    args = parser.parse_args()
    if args.workers < 1 or args.jobs < 1 or args.evaluations < 1 or args.repeats < 1:
        parser.error("--workers, --jobs, --evaluations and --repeats must be at least 1")

    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print(f"settings: task {TASK}, {args.workers} workers, usable cores {usable_cpus()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rate_eval = rate_run = None
    if not args.skip_evaluator:
        seconds, cpu, capacity = evaluator_only(args.workers, args.jobs, args.repeats)
        rate_eval = args.jobs / seconds
        print(f"evaluator only (a part): {args.jobs} jobs, capacity {capacity} in flight, "
              f"best of {args.repeats}: {seconds:.2f} s = {rate_eval:,.0f} evaluations/s; "
              f"parent CPU {cpu / args.jobs * 1e6:.1f} us per evaluation "
              f"(ceiling with a core to itself {args.jobs / cpu:,.0f}/s)")
    if not args.skip_campaign:
        row = end_to_end(args.workers, args.evaluations, args.profile_campaign,
                         args.ready_first)
        rate_run = row["evaluations"] / row["seconds"]
        span = row["span"]
        span_text = (f", {row['evaluations'] / span:,.0f}/s from first birth to last result"
                     if span == span and span > 0 else "")
        print(f"end to end (evonas run, strategy random, journal on): "
              f"{row['evaluations']:.0f} evaluations in {row['seconds']:.2f} s = "
              f"{rate_run:,.0f} evaluations/s (start-up and close included{span_text}); "
              f"{row['individuals']:.0f} individuals journaled (the rest cached duplicates) = "
              f"{row['individuals'] / row['seconds']:,.0f} individuals/s")
        print(f"  campaign process CPU {row['cpu'] / row['evaluations'] * 1e6:.0f} us per "
              f"evaluation, {row['cpu'] / row['individuals'] * 1e6:.0f} us per individual "
              f"(ceiling with a core to itself {row['evaluations'] / row['cpu']:,.0f} "
              f"evaluations/s)")
        if "steady_seconds" in row:
            steady = row["evaluations"] / row["steady_seconds"]
            print(f"  steady (every worker ready, {row['startup']:.2f} s after the call, to the "
                  f"pool's close): {row['steady_seconds']:.2f} s = {steady:,.0f} evaluations/s; "
                  f"campaign process CPU {row['steady_cpu'] / row['evaluations'] * 1e6:.0f} us "
                  f"per evaluation (ceiling with a core to itself "
                  f"{row['evaluations'] / row['steady_cpu']:,.0f} evaluations/s)")
            rate_run = steady
        if args.profile_campaign:
            print(f"campaign profile: {args.profile_campaign} "
                  f"(python -m pstats {args.profile_campaign}; sort cumtime)")
    if rate_eval and rate_run:
        print(f"ratio end to end / evaluator only = {rate_run / rate_eval:.3f}; "
              f"target end to end >= 5,000 evaluations/s: "
              f"{'met' if rate_run >= 5000 else 'not met'}")


if __name__ == "__main__":
    main()
