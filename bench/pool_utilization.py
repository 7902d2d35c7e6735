"""Pool utilization: how busy the workers are when evaluation times differ (issue 13).

A cluster is simulated with the ``simulated`` task (:mod:`evonas.tasks.simulated`): each evaluation
sleeps a duration drawn from its seed (lognormal, sigma ``--sigma``, mean ``--mean`` seconds) and
returns the NB201 table's metrics (the ``nb201_cifar10_cost`` table, so NSGA-II can minimise
``params``). Sleeping workers cost no CPU and only a table lookup's memory (no torch), so a 2-core
machine can hold hundreds of them.

Each configuration (strategy x ``campaign.order`` x backend x worker count) is one campaign run the
way users run it: :func:`evonas.run` in this process, journal on, progress bar off, with
``campaign.order`` passed as an override. The only addition is that the evaluator is waited on
until every worker is ready before the campaign starts (so start-up, which takes a while for 256
spawned workers, is excluded; it is printed separately). From the journal
(:class:`~evonas.storage.Journal`, read-only; event times from its ``events`` table):

* **utilization** = (sum of the evaluations' ``seconds``, cached copies excluded) /
  (workers x wall time from the first ``dispatched`` event to the last ``finished`` event of an
  evaluated individual). It includes the drain at the end (the last evaluations' stragglers), which
  caps it near ``1 - workers * tail / (evaluations * mean)``: use enough evaluations per worker;
* **steady**: the same ratio over the steady part only, from the first dispatch to the last
  dispatch (each evaluation counted as running for its ``seconds`` up to its ``finished`` time,
  clipped to that window): how busy the loop keeps the workers while it still has work to give;
* **sleep**: utilization with only the simulated sleep counted as busy (the metric
  ``simulated_seconds``), not what the inner task took: the two differ when that is not
  negligible, e.g. NEAT's ``xor`` task, whose first evaluation in each worker imports torch
  (``evonas.compiler`` does), seconds each on a loaded machine;
* **drain s**: last result minus last dispatch (the tail part of the wall time);
* **individuals**: journaled, cached duplicates included (a strategy that keeps proposing cells
  already seen, like regularized evolution once converged on NB201, may reach
  ``budget.max_individuals`` before ``--evaluations``);
* **overhead ms/eval**: this (the campaign) process's CPU time (``time.process_time``, all its
  threads) from workers-ready to the evaluator's close, per evaluation;
* **worker MB**: mean RSS and PSS (proportional set size: shared pages split) of one worker
  process, sampled just before the evaluator closes (local pool: its worker pids; Ray: processes
  titled ``ray::EvaluationActor``).

Strategies: random, regularized_evolution, reinforce (steady-state) and generational, nsga2,
neat (generational), each with its documented defaults. NEAT searches CPPN genomes: its runs use
the ``neat`` space of ``examples/xor_neat.yaml`` and the simulated task over the ``xor`` task
(no torch either), with ``campaign.stop_at_target`` off so the budget, not XOR being solved, ends
them (``--set strategy.population=64`` and the like
change them, for every strategy given). Ray runs (``--backends local,ray``) start a local Ray
instance per campaign with one logical CPU per worker; they are skipped with a message when Ray is
not importable. Ray actors are much larger than pool workers (a full Ray worker each), so
``--ray-workers`` defaults to 16,64.

Run::

    .venv/bin/python bench/pool_utilization.py                      # the full grid (long)
    .venv/bin/python bench/pool_utilization.py --mean 0.2 --evaluations 150 --workers 16 \\
        --orders birth --strategies random,regularized_evolution      # a quick check
    .venv/bin/python bench/pool_utilization.py --backends ray --workers 16 --orders async,birth

NB201 has 6,466 distinct cells: keep ``--evaluations`` below about 4,000 (evaluations count
distinct cells; cached duplicates are free but cost the campaign process).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import evonas
from evonas import api
from evonas.config import ConfigError
from evonas.storage import JOURNAL_FILE, Journal

STRATEGIES = ("random", "regularized_evolution", "reinforce", "generational", "nsga2", "neat")
TABLE = "nb201_cifar10_cost"  # cifar10_test_acc and params
#: Strategy settings beyond the defaults that a strategy needs on this task.
STRATEGY_EXTRA: dict[str, dict[str, Any]] = {
    "nsga2": {"objectives": [{"metric": "fitness", "goal": "max"},
                             {"metric": "params", "goal": "min"}]},
}
#: NEAT's space and inner task (examples/xor_neat.yaml's), for CPPN genomes.
NEAT_SPACE: dict[str, Any] = {"name": "neat", "num_inputs": 2, "num_outputs": 1,
                              "activations": ["sigmoid"], "output_activations": ["sigmoid"]}
NEAT_INNER: dict[str, Any] = {"name": "xor"}
#: Most evaluations a default-sized run gets (NB201 has 6,466 distinct cells).
MAX_DEFAULT_EVALUATIONS = 3000


def config_for(strategy: str, workers: int, backend: str, evaluations: int, mean: float,
               sigma: float, seed: int, runs_dir: str) -> dict[str, Any]:
    neat = strategy == "neat"
    inner = dict(NEAT_INNER) if neat else {"name": "tabular", "table": TABLE,
                                           "metric": "cifar10_test_acc"}
    return {
        "seed": seed,
        "runs_dir": runs_dir,
        "space": dict(NEAT_SPACE) if neat else {"name": "nb201"},
        "task": {"name": "simulated", "inner": inner,
                 "duration": {"distribution": "lognormal", "mean": mean, "sigma": sigma}},
        "strategy": {"name": strategy, **STRATEGY_EXTRA.get(strategy, {})},
        "evaluator": {"workers": workers, "backend": backend},
        "budget": {"evaluations": evaluations},
        "campaign": {"progress": False, **({"stop_at_target": False} if neat else {})},
    }


# ---------------------------------------------------------------------------- process memory
def _memory_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of ``pid`` in kB, None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        pss = rss
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
        return rss, pss
    except (OSError, StopIteration, ValueError):
        return None


def _ray_actor_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read(64).startswith(b"ray::EvaluationActor"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def worker_memory(evaluator: Any) -> tuple[float, float, int]:
    """Mean RSS and PSS of one worker in MB, and how many workers were measured."""
    pids = getattr(evaluator, "worker_pids", None)  # the local pool's property
    pids = _ray_actor_pids() if pids is None else list(pids() if callable(pids) else pids)
    sizes = [m for m in map(_memory_kb, pids) if m is not None]
    if not sizes:
        return float("nan"), float("nan"), 0
    return (sum(s[0] for s in sizes) / len(sizes) / 1024,
            sum(s[1] for s in sizes) / len(sizes) / 1024, len(sizes))


# ---------------------------------------------------------------------------- one campaign
def run_campaign(config: dict[str, Any], name: str, order: str,
                 ready_timeout: float) -> dict[str, Any]:
    """Run one campaign through :func:`evonas.run`; return the marks taken around it."""
    marks: dict[str, Any] = {}
    build = api._evaluator_for

    def ready_evaluator(cfg: Any) -> Any:
        start = time.perf_counter()
        evaluator = build(cfg)
        if hasattr(evaluator, "wait_until_ready"):
            evaluator.wait_until_ready(ready_timeout)
        marks["startup"] = time.perf_counter() - start
        marks["ready_at"] = time.time()
        marks["cpu_ready"] = time.process_time()
        close = evaluator.close

        def measured_close() -> None:
            if "cpu_end" not in marks:
                marks["cpu_end"] = time.process_time()
                marks["end_at"] = time.time()
                marks["memory"] = worker_memory(evaluator)
            close()

        evaluator.close = measured_close
        return evaluator

    api._evaluator_for = ready_evaluator
    cpu = time.process_time()
    start = time.perf_counter()
    try:
        run = evonas.run(config, name=name, **{"campaign.order": order})
    finally:
        api._evaluator_for = build
    marks["total_seconds"] = time.perf_counter() - start
    marks["total_cpu"] = time.process_time() - cpu
    marks["run_dir"] = Path(run.path)
    run.close()
    return marks


def journal_figures(run_dir: Path, workers: int) -> dict[str, float]:
    """Utilization and friends, from the run's journal."""
    path = run_dir / JOURNAL_FILE
    with Journal.open(path, readonly=True) as journal:
        evaluated = {e.individual_id: e for e in journal.evaluations()
                     if e.source_id is None and e.status in ("ok", "failed")}
        individuals = journal.counts()["individuals"]
    busy = sum(e.seconds or 0.0 for e in evaluated.values())
    slept = sum(float(e.metrics.get("simulated_seconds") or 0.0) for e in evaluated.values())
    # Journal.events() has no timestamps: read the dispatched events' ``at`` and the
    # evaluations' ``finished_at`` (read-only).
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT kind, individual_id, at FROM events WHERE kind = 'dispatched' "
                          "UNION ALL SELECT 'finished', individual_id, finished_at "
                          "FROM evaluations").fetchall()
    dispatched = [at for kind, i, at in rows if kind == "dispatched" and i in evaluated]
    finished = [at for kind, i, at in rows if kind == "finished" and i in evaluated]
    if not dispatched or not finished:
        raise SystemExit(f"{path}: no dispatched/finished events for the evaluated individuals")
    wall = max(finished) - min(dispatched)
    start, end = min(dispatched), max(dispatched)
    done_at = {i: at for kind, i, at in rows if kind == "finished" and i in evaluated}
    steady_busy = sum(max(0.0, min(done_at[i], end) - max(done_at[i] - (e.seconds or 0.0), start))
                      for i, e in evaluated.items() if i in done_at)
    steady = steady_busy / (workers * (end - start)) if end > start else float("nan")
    return {"utilization": busy / (workers * wall) if wall > 0 else float("nan"),
            "steady": steady,
            "sleep": slept / (workers * wall) if wall > 0 else float("nan"),
            "evaluations": len(evaluated), "individuals": individuals, "wall": wall,
            "busy": busy, "drain": max(finished) - max(dispatched),
            "first_dispatch_at": min(dispatched)}


# ---------------------------------------------------------------------------- main
def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _ints(text: str) -> list[int]:
    try:
        values = [int(item) for item in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _set(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=_list, default=list(STRATEGIES),
                        help=f"comma-separated (default {','.join(STRATEGIES)})")
    parser.add_argument("--orders", type=_list, default=["async", "birth"],
                        help="campaign.order values, comma-separated (default async,birth)")
    parser.add_argument("--workers", type=_ints, default=[16, 64, 256],
                        help="local pool sizes, comma-separated (default 16,64,256)")
    parser.add_argument("--ray-workers", type=_ints, default=[16, 64],
                        help="Ray actor counts, comma-separated (default 16,64)")
    parser.add_argument("--backends", type=_list, default=["local", "ray"],
                        help="local and/or ray (default both; ray skipped when not installed)")
    parser.add_argument("--mean", type=float, default=1.0, help="mean seconds (default 1)")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal sigma (default 1)")
    parser.add_argument("--evaluations", type=int, default=None,
                        help="evaluations per campaign (default: --per-worker x workers, at most "
                             f"{MAX_DEFAULT_EVALUATIONS})")
    parser.add_argument("--per-worker", type=int, default=60,
                        help="evaluations per worker when --evaluations is not given (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", type=_set, action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every campaign, e.g. strategy.population=64")
    parser.add_argument("--runs-dir", default=None,
                        help="keep the runs here (default: a temporary folder, removed)")
    parser.add_argument("--ready-timeout", type=float, default=900.0,
                        help="seconds to wait for every worker to start (default 900)")
    args = parser.parse_args()
    for strategy in args.strategies:
        if strategy not in STRATEGIES:
            parser.error(f"--strategies: unknown {strategy!r} (choose from {STRATEGIES})")
    for backend in args.backends:
        if backend not in ("local", "ray"):
            parser.error(f"--backends: unknown {backend!r} (local, ray)")
    if not (args.mean > 0 and args.sigma > 0):
        parser.error("--mean and --sigma must be above 0")

    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print(f"settings: simulated task, lognormal durations mean {args.mean:g} s sigma "
          f"{args.sigma:g} over {TABLE}; seed {args.seed}; usable cores "
          f"{len(os.sched_getaffinity(0))}; overrides {dict(args.set) or 'none'}")
    setups = []
    for backend in args.backends:
        if backend == "ray" and not ray_available():
            print("ray: not importable in this environment; skipping the Ray runs")
            continue
        for workers in (args.workers if backend == "local" else args.ray_workers):
            setups.append((backend, workers))

    rows = []
    with tempfile.TemporaryDirectory(prefix="evonas-pool-utilization-") as tmp:
        runs_dir = args.runs_dir or tmp
        for backend, workers in setups:
            evaluations = args.evaluations or min(MAX_DEFAULT_EVALUATIONS,
                                                  args.per_worker * workers)
            for strategy in args.strategies:
                for order in args.orders:
                    name = f"{strategy}-{order}-{backend}-{workers}"
                    config = config_for(strategy, workers, backend, evaluations, args.mean,
                                        args.sigma, args.seed, runs_dir)
                    for key, value in args.set:
                        _apply(config, key, value)
                    try:
                        marks = run_campaign(config, name, order, args.ready_timeout)
                    except ConfigError as exc:
                        print(f"{name}: skipped: {exc}")
                        continue
                    figures = journal_figures(marks["run_dir"], workers)
                    rss, pss, measured = marks.get("memory", (float("nan"),) * 2 + (0,))
                    cpu = marks.get("cpu_end", float("nan")) - marks.get("cpu_ready", 0.0)
                    row = {"strategy": strategy, "order": order, "backend": backend,
                           "workers": workers, **figures, "startup": marks.get("startup", 0.0),
                           "overhead_ms": 1000 * cpu / max(1, figures["evaluations"]),
                           "total_cpu": marks["total_cpu"], "rss": rss, "pss": pss,
                           "measured": measured}
                    rows.append(row)
                    print(f"{name}: utilization {row['utilization']:.3f} "
                          f"(steady {row['steady']:.3f}, sleep {row['sleep']:.3f}), "
                          f"{row['evaluations']} evaluations ({row['individuals']} individuals), "
                          f"wall {row['wall']:.1f} s (drain {row['drain']:.1f} s), start-up "
                          f"{row['startup']:.1f} s, overhead {row['overhead_ms']:.2f} ms/eval "
                          f"(whole run {marks['total_cpu']:.2f} s CPU), worker RSS {rss:.1f} MB "
                          f"PSS {pss:.1f} MB ({measured} measured)", flush=True)
    print()
    print("| strategy | order | backend | workers | utilization | steady | sleep | evaluations | "
          "individuals | wall s | drain s | overhead ms/eval | worker RSS / PSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['strategy']} | {r['order']} | {r['backend']} | {r['workers']} | "
              f"{r['utilization']:.3f} | {r['steady']:.3f} | {r['sleep']:.3f} | "
              f"{r['evaluations']} | "
              f"{r['individuals']} | "
              f"{r['wall']:.1f} | "
              f"{r['drain']:.1f} | {r['overhead_ms']:.2f} | {r['rss']:.0f} / {r['pss']:.0f} |")


def _apply(config: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in the nested ``config``."""
    *path, last = key.split(".")
    node = config
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value


if __name__ == "__main__":
    main()
