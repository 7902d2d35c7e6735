"""Cheaper evaluations on equal terms (issue 15): the device-seconds each method needs to reach the
test accuracy that full-training regularized evolution reaches with a budget B.

For each dataset (``digits``: the embedded 8x8 digits; ``fm``: Fashion-MNIST from the idx files,
on a stratified train subset) and each seed, campaigns of the NAS-Bench-201 cell space with a small
macro network (``stem_channels: 4``, one cell per stage), regularized evolution (P=8, S=3 unless
``--population``/``--sample``), all
stopped by the same ``budget.device_seconds`` B:

* ``re``: every genome trains the task's full recipe (E epochs);
* ``asha``: the same + ``fidelity: {scheduler: asha, rungs: [...], eta: 3}``, the ladder ending at
  E (an individual's seconds are the sum over its rungs, its metrics its last rung's);
* ``asha_data``: the same with ``resource: data_fraction`` (rungs 1/9, 1/3 and all of the train
  split, each the full recipe from scratch);
* ``sh``: the same ladder under synchronous successive halving (cohorts of 9 deciding each rung
  together; the campaign in async order so a waiting result frees its worker);
* ``inherit``: the same + ``inherit_weights: {enabled: true, epochs: ~E/3}``;
* ``prescreen``: the same + ``prescreen: {proxy: synflow, keep: 0.25}``;
* ``spos``, ``enas`` (digits only, short supernet training): the one-shot strategies, their
  supernet seconds counted as device-seconds, then their top cells trained with the full recipe.

Each campaign is its own ``evonas run`` process (``workers: 0``, one torch thread), ``--jobs`` at a
time, so a campaign's device-seconds are the wall seconds of one (shared) core.

The measure, per method and seed: in the order results were told (rung events for ``asha``, so the
rungs of ladders still climbing count when they were spent), the test accuracy of the individual
with the best validation accuracy so far, against cumulative device-seconds (evaluations' seconds
plus the strategies' ``search_seconds``: proxies, supernets). The **target** of a seed is the
final value of that seed's ``re`` campaign (the test accuracy of its best-by-validation individual
at B); the bench reports the device-seconds at which each method first reaches it, as a fraction
of B (mean over the seeds that reached it, and how many did), and in training epochs as a fraction
of all the epochs ``re`` trained (a count the machine's load does not change: the seconds are wall
seconds of a shared core), beside the final best-by-validation test accuracy, evaluations,
device-seconds and epochs. Goal: ``asha`` in at most B/3.

Plots (``--out``, default ``/tmp/equal_terms``): ``<dataset>.png``, :func:`plot_comparison` of the
runs grouped by method (``evonas compare`` groups runs by strategy, so it would draw ``re``,
``asha``, ``inherit`` and ``prescreen`` as one line), and ``<dataset>-<method>.png`` written by
``evonas compare`` over that method's seeds.

Usage::

    .venv/bin/python bench/fidelity_equal_terms.py                    # 3 seeds, both datasets
    .venv/bin/python bench/fidelity_equal_terms.py --datasets digits --seeds 1 --digits-b 40
    .venv/bin/python bench/fidelity_equal_terms.py --report           # tables of runs under --out

Campaigns whose run folder exists under ``--out`` are kept, not run again, so ``--seeds 5`` after
``--seeds 3`` adds seeds 3 and 4.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

import evonas
from evonas.analysis.compare import load_curve, plot_comparison
from evonas.storage import JOURNAL_FILE
from evonas.strategies import search_seconds

FM_PATH = "/usr/share/datasets/fashion-mnist"
METHODS = ("re", "asha", "asha_data", "sh", "inherit", "prescreen", "spos", "enas")
#: ``asha_data``'s ladder: fractions of the train subset, each rung the full recipe from scratch.
DATA_RUNGS = [0.1111, 0.3333, 1.0]
ONE_SHOT = ("spos", "enas")


def task_section(dataset: str, epochs: int, fm_train: int, fm_val: int, fm_test: int
                 ) -> dict[str, Any]:
    if dataset == "digits":
        return {"name": "digits", "epochs": epochs, "lr": 0.01, "batch_size": 64}
    return {"name": "idx", "path": FM_PATH, "split_seed": 0, "val_fraction": 0.1,
            "max_train": fm_train, "max_val": fm_val, "max_test": fm_test,
            "epochs": epochs, "lr": 0.01, "batch_size": 128}


def campaign_config(dataset: str, method: str, seed: int, budget: float, epochs: int,
                    rungs: list[int], args: argparse.Namespace, runs_dir: Path
                    ) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": f"{dataset}-{method}-s{seed}", "seed": seed, "runs_dir": str(runs_dir),
        "space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        "task": task_section(dataset, epochs, args.fm_train, args.fm_val, args.fm_test),
        "strategy": {"name": "regularized_evolution", "population": args.population,
                     "sample": args.sample},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 10000, "device_seconds": budget},
        "campaign": {"progress": False, "order": "birth"},
    }
    if method == "asha":
        config["fidelity"] = {"scheduler": "asha", "resource": "epochs", "rungs": rungs,
                              "eta": 3}
    elif method == "sh":  # synchronous: results wait for their rung, so async order
        config["fidelity"] = {"scheduler": "successive_halving", "resource": "epochs",
                              "rungs": rungs, "eta": 3}
        config["campaign"]["order"] = "async"
    elif method == "asha_data":
        config["fidelity"] = {"scheduler": "asha", "resource": "data_fraction",
                              "rungs": DATA_RUNGS, "eta": 3}
    elif method == "inherit":
        config["inherit_weights"] = {"enabled": True, "epochs": max(1, epochs // 3), "keep": 64}
    elif method == "prescreen":
        config["prescreen"] = {"proxy": "synflow", "keep": 0.25}
    elif method == "spos":
        config["strategy"] = {"name": "spos", "epochs": args.supernet_epochs, "evaluations": 60,
                              "top_k": 40}
    elif method == "enas":
        config["strategy"] = {"name": "enas", "epochs": args.supernet_epochs, "samples": 40,
                              "top_k": 40}
    return config


def run_all(configs: list[Path], jobs: int) -> list[str]:
    """Run every config as an ``evonas run`` process, ``jobs`` at a time, one torch thread each;
    returns the names of those that failed (the others' results still count)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    queue = list(configs)
    running: list[tuple[Path, subprocess.Popen, float]] = []
    failed: list[str] = []
    while queue or running:
        while queue and len(running) < jobs:
            path = queue.pop(0)
            cmd = ["nice", "-n", "5", sys.executable, "-m", "evonas.cli", "run", str(path),
                   "--quiet"]
            log = path.with_suffix(".log").open("w")
            running.append((path, subprocess.Popen(cmd, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT),
                            time.perf_counter()))
        time.sleep(1.0)
        for item in list(running):
            code = item[1].poll()
            if code is not None:
                running.remove(item)
                if code != 0:
                    failed.append(item[0].stem)
                print(f"  {'done' if code == 0 else f'FAILED ({code})'}: {item[0].stem} "
                      f"({time.perf_counter() - item[2]:.0f} s wall)", flush=True)
    return failed


# --------------------------------------------------------------------------- measure
def timeline(run_dir: Path) -> tuple[list[tuple[float, float, float | None]], dict[str, Any]]:
    """``[(cumulative device-seconds, cumulative training epochs, test accuracy of the
    best-by-validation so far)]`` at each told result, in the order it happened, and the run's
    totals.

    Training epochs are the load-independent count: an evaluation's ``epochs`` metric (an
    inheriting child's shorter recipe), each rung's epochs above the rung below it (on a
    ``data_fraction`` ladder, its epochs times its fraction: it starts over), a one-shot
    strategy's supernet epochs (at its first candidate); a cached copy and a proxy score count 0.

    Without a ladder every evaluation is one step (at its ``finished_at``); with one, every
    ``rung`` event is a step (its seconds spent then) and the individual is told at its last
    rung. A strategy's ``search_seconds`` count at the first step of the individual whose
    record holds them. Cached copies cost nothing.
    """
    uri = f"file:{run_dir / JOURNAL_FILE}?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        config = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config'")
                            .fetchone()[0])
        operators = {i: json.loads(op) for i, op in
                     con.execute("SELECT id, operator FROM individuals")}
        evaluations = {row[0]: row for row in con.execute(
            "SELECT individual_id, status, fitness, metrics, seconds, source_id, finished_at "
            "FROM evaluations")}
        rungs = list(con.execute("SELECT at, individual_id, data, kind FROM events "
                                 "WHERE kind IN ('rung', 'rung_close') ORDER BY seq"))
    finally:
        con.close()
    ladder = bool((config.get("fidelity") or {}).get("scheduler"))
    # steps: (time, seconds spent, individual told or None, individual whose search counts)
    task_epochs = float((config.get("task") or {}).get("epochs") or 0)
    steps: list[tuple[float, float, float, int | None, int]] = []
    if ladder:
        climbed: dict[int, float] = {}
        waiting: dict[str, int] = {}  # successive halving: undecided rung -> its step
        for at, ind, text, kind in rungs:
            data = json.loads(text)
            for key, promoted in (data.get("released") or {}).items():
                if key in waiting and not promoted:  # stopped: told with that rung's result
                    index = waiting[key]
                    steps[index] = (*steps[index][:3], int(key), int(key))
                waiting.pop(key, None)
            if kind != "rung":
                continue
            top = float(data.get("epochs") or 0)
            if "data_fraction" in data:  # a rung trained from scratch on a share of the data
                spent_epochs = top * float(data["data_fraction"])
            else:  # a rung continued from the one below
                spent_epochs = top - climbed.get(ind, 0.0)
                climbed[ind] = top
            if data.get("promoted") is None and data.get("status") == "ok" \
                    and "released" in data:
                waiting[str(ind)] = len(steps)
            steps.append((at, float(data.get("seconds") or 0.0), spent_epochs,
                          None if data.get("promoted") is not False else ind, ind))
        laddered = {ind for _, ind, _, kind in rungs if kind == "rung"}
    else:
        laddered = set()
    for ind, (_, _, _, metrics, seconds, source, finished) in evaluations.items():
        if ind in laddered:
            continue
        spent = 0.0 if source is not None else float(seconds or 0.0)
        epochs = 0.0 if source is not None else \
            float(json.loads(metrics).get("epochs") or task_epochs)
        steps.append((finished, spent, epochs, ind, ind))
    steps.sort(key=lambda s: s[0])
    counted: set[int] = set()
    spent_total = epochs_total = 0.0
    supernet = float((config.get("strategy") or {}).get("epochs") or 0) \
        if (config.get("strategy") or {}).get("name") in ONE_SHOT else 0.0
    best_val: float | None = None
    best_test: float | None = None
    points: list[tuple[float, float, float | None]] = []
    told = 0
    for _, seconds, epochs, ind, owner in steps:
        spent_total += seconds
        epochs_total += epochs
        if owner not in counted:
            counted.add(owner)
            searched = search_seconds(operators.get(owner, {}))
            spent_total += searched
            if searched and supernet:
                epochs_total += supernet
                supernet = 0.0
        if ind is None or ind not in evaluations:
            points.append((spent_total, epochs_total, best_test))
            continue
        told += 1
        _, status, fitness, metrics, _, _, _ = evaluations[ind]
        if status in ("ok", "cached") and fitness is not None and \
                (best_val is None or fitness > best_val):
            best_val = fitness
            best_test = json.loads(metrics).get("test_accuracy")
        points.append((spent_total, epochs_total, best_test))
    real = sum(1 for r in evaluations.values() if r[5] is None and r[1] in ("ok", "failed"))
    return points, {"device_seconds": spent_total, "epochs": epochs_total,
                    "evaluations": real, "told": told,
                    "best_val": best_val, "final_test": best_test,
                    "rung_steps": sum(kind == "rung" for *_, kind in rungs) if ladder else 0}


def reached(points: list[tuple[float, float, float | None]], target: float | None
            ) -> tuple[float, float] | None:
    """``(device-seconds, epochs)`` when the best-by-validation's test accuracy first reaches
    ``target``, or None."""
    if target is None:
        return None
    for seconds, epochs, value in points:
        if value is not None and value >= target - 1e-12:
            return seconds, epochs
    return None


def fmt(values: list[float], spec: str = ".4f") -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], spec)
    return f"{statistics.mean(values):{spec}} ± {statistics.stdev(values):{spec}}"


def report(root: Path, dataset: str, methods: list[str], seeds: int, budget: float) -> str:
    runs_dir = root / "runs"
    lines = [f"{dataset}, B = {budget:g} device-seconds"]
    head = ("| method | reached target | fraction of B to target | epochs to target / re's "
            "epochs | final test acc (best val) | evaluations | device-s | epochs |")
    lines += [head, "|---|---|---|---|---|---|---|---|"]
    results: dict[str, dict[int, tuple[list, dict]]] = {}
    for method in methods:
        for seed in range(seeds):
            path = runs_dir / f"{dataset}-{method}-s{seed}"
            if (path / JOURNAL_FILE).is_file():
                results.setdefault(method, {})[seed] = timeline(path)
                journaled = evonas.open_run(path).status()["device_seconds"]
                counted = results[method][seed][1]["device_seconds"]
                if abs(journaled - counted) > 0.5:
                    lines.append(f"  (warning: {path.name}: the timeline adds up to {counted:.1f} "
                                 f"device-seconds, evonas status says {journaled:.1f})")
    targets = {seed: res[1]["final_test"] for seed, res in results.get("re", {}).items()}
    re_epochs = {seed: res[1]["epochs"] for seed, res in results.get("re", {}).items()}
    for method in methods:
        runs = results.get(method, {})
        if not runs:
            continue
        fractions, epoch_fractions, finals, evals, spent, epochs = [], [], [], [], [], []
        hits = 0
        for seed, (points, totals) in sorted(runs.items()):
            hit = reached(points, targets.get(seed))
            if hit is not None:
                hits += 1
                fractions.append(hit[0] / budget)
                if re_epochs.get(seed):
                    epoch_fractions.append(hit[1] / re_epochs[seed])
            if totals["final_test"] is not None:
                finals.append(totals["final_test"])
            evals.append(float(totals["evaluations"]))
            spent.append(totals["device_seconds"])
            epochs.append(totals["epochs"])
        lines.append(f"| {method} | {hits}/{len(runs)} | {fmt(fractions, '.2f')} | "
                     f"{fmt(epoch_fractions, '.2f')} | {fmt(finals)} | {fmt(evals, '.1f')} | "
                     f"{fmt(spent, '.0f')} | {fmt(epochs, '.0f')} |")
    lines.append("")
    lines.append("per seed: target (re's final test acc); each method's device-seconds and "
                 "training epochs to reach it (- : not within its run), final test acc, "
                 "evaluations")
    for seed in range(seeds):
        target = targets.get(seed)
        cells = []
        for method in methods:
            if seed not in results.get(method, {}):
                continue
            points, totals = results[method][seed]
            hit = reached(points, target)
            final = totals["final_test"]
            cells.append(f"{method} {'-' if hit is None else f'{hit[0]:.0f}s/{hit[1]:.0f}ep'} "
                         f"({'-' if final is None else f'{final:.4f}'}, {totals['evaluations']})")
        if not cells:
            continue  # no run of this seed
        lines.append(f"  seed {seed}: target "
                     f"{'-' if target is None else f'{target:.4f}'}: " + "; ".join(cells))
    return "\n".join(lines)


def plots(root: Path, dataset: str, methods: list[str], seeds: int) -> list[Path]:
    runs_dir = root / "runs"
    written: list[Path] = []
    curves = []
    for method in methods:
        paths = [runs_dir / f"{dataset}-{method}-s{seed}" for seed in range(seeds)]
        paths = [p for p in paths if (p / JOURNAL_FILE).is_file()]
        if not paths:
            continue
        out = root / f"{dataset}-{method}.png"
        done = subprocess.run([sys.executable, "-m", "evonas.cli", "compare", *map(str, paths),
                               "--plot", str(out)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            written.append(out)
        else:
            print(f"evonas compare {dataset}-{method}: exit {done.returncode}: "
                  f"{done.stderr.strip()[-300:]}")
        for path in paths:
            curve = load_curve(path)
            curve.strategy = method  # group by method, not by strategy name
            curves.append(curve)
    if curves:
        written.append(plot_comparison(curves, root / f"{dataset}.png"))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--datasets", default="digits,fm")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="spos and enas run on digits only")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--digits-b", type=float, default=100.0, help="B on digits (device-seconds)")
    p.add_argument("--fm-b", type=float, default=150.0, help="B on Fashion-MNIST")
    p.add_argument("--digits-epochs", type=int, default=9)
    p.add_argument("--digits-rungs", default="1,3,9")
    p.add_argument("--fm-epochs", type=int, default=6)
    p.add_argument("--fm-rungs", default="1,2,6")
    p.add_argument("--fm-train", type=int, default=2000, help="Fashion-MNIST training images")
    p.add_argument("--fm-val", type=int, default=1000)
    p.add_argument("--fm-test", type=int, default=1000)
    p.add_argument("--population", type=int, default=8, help="regularized evolution's P")
    p.add_argument("--sample", type=int, default=3, help="regularized evolution's S")
    p.add_argument("--supernet-epochs", type=int, default=5, help="spos/enas supernet epochs")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="/tmp/equal_terms")
    p.add_argument("--report", action="store_true", help="only report the runs under --out")
    args = p.parse_args(argv)
    datasets = args.datasets.split(",")
    methods = args.methods.split(",")
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    runs_dir = root / "runs"
    setting = {"digits": (args.digits_b, args.digits_epochs,
                          [int(r) for r in args.digits_rungs.split(",")]),
               "fm": (args.fm_b, args.fm_epochs, [int(r) for r in args.fm_rungs.split(",")])}

    def methods_of(dataset: str) -> list[str]:
        return [m for m in methods if dataset == "digits" or m not in ONE_SHOT]

    if not args.report:
        configs = []
        kept = 0
        # the evolution variants first, the one-shot strategies last
        for one_shot in (False, True):
            for dataset in datasets:
                for seed in range(args.seeds):
                    for method in methods_of(dataset):
                        if (method in ONE_SHOT) != one_shot:
                            continue
                        if (runs_dir / f"{dataset}-{method}-s{seed}").exists():
                            kept += 1  # run before: more seeds extend a set of runs
                            continue
                        budget, epochs, rungs = setting[dataset]
                        path = root / f"{dataset}-{method}-s{seed}.yaml"
                        path.write_text(yaml.safe_dump(campaign_config(
                            dataset, method, seed, budget, epochs, rungs, args, runs_dir)))
                        configs.append(path)
        if kept:
            print(f"{kept} campaigns already under {runs_dir}: kept as they are")
        print(f"{len(configs)} campaigns, {args.jobs} at a time, under {root}", flush=True)
        start = time.perf_counter()
        failed = run_all(configs, args.jobs)
        print(f"wall time: {time.perf_counter() - start:.0f} s; failed: {failed or 'none'}\n")
    for dataset in datasets:
        print(report(root, dataset, methods_of(dataset), args.seeds, setting[dataset][0]))
        for path in plots(root, dataset, methods_of(dataset), args.seeds):
            print(f"plot: {path}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
