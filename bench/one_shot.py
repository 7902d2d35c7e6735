"""One-shot weight sharing on digits: SPOS and ENAS, their supernets' ranking, and search at equal
device-seconds against regularized evolution.

Two parts, on the NAS-Bench-201 cell space with ``examples/digits_darts.yaml``'s small macro
network (8, 16, 32 channels, one cell per stage) and its task recipe (digits, 8 epochs, Adam 0.01):

* ``correlation``: ``--n`` distinct random cells (sample seed ``--seed``) are trained stand-alone
  with the task's recipe (``build_task`` + ``task.evaluate``, seed 0). For SPOS and ENAS the
  strategy's search runs as in a campaign (``bind_task``, first ``ask``); then every sampled cell's
  supernet accuracy (validation accuracy with inherited weights, batch norm recalibrated) is taken
  and Spearman's rho with the stand-alone validation (and test) accuracy printed, with the
  supernet's seconds. ``--stem`` and ``--task-epochs`` change the network and the stand-alone
  recipe (a smaller, shorter-trained network spreads the accuracies that digits saturates).
  Stand-alone results are cached in ``--out``/standalone-<setting>.json.
* ``budget``: campaigns of ``spos``, ``enas`` and ``regularized_evolution`` (``--seeds`` seeds),
  each its own ``evonas run`` process with one torch thread and ``workers: 0``, stopped by
  ``budget.device_seconds`` (evaluation seconds plus the one-shot search); per strategy the mean
  and spread of the best validation accuracy, the test accuracy of that genome, evaluations and
  device-seconds, then the ``evonas compare`` table.
* ``cost``: CPU seconds (process time, one thread) of each search and of a stand-alone training,
  so the price of a search in trainings can be read on a loaded machine, where wall-clock
  device-seconds inflate.

Usage::

    .venv/bin/python bench/one_shot.py correlation --n 25 --supernet-seeds 2
    .venv/bin/python bench/one_shot.py correlation --supernet-seeds 2 --stem 4 --task-epochs 4
    .venv/bin/python bench/one_shot.py budget --seeds 3 --device-seconds 150 --jobs 2
    .venv/bin/python bench/one_shot.py cost     # CPU seconds of a search, in trainings
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.digits_strategies import describe, run_all, spread  # noqa: E402
from evonas.analysis.compare import format_table, load_curve  # noqa: E402
from evonas.strategies import strategy_class  # noqa: E402
from evonas.tasks import build_task  # noqa: E402
from genomes import DAGGenome, NB201Space  # noqa: E402
from operators import random_genome  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_darts.yaml"

#: Strategy label -> its ``strategy:`` section (the one-shot ones propose up to ``top_k`` cells;
#: the device-seconds budget ends the campaign first).
STRATEGIES: dict[str, dict[str, Any]] = {
    "spos": {"name": "spos", "epochs": 30, "evaluations": 200, "top_k": 60},
    "enas": {"name": "enas", "epochs": 30, "samples": 100, "top_k": 60},
    "regularized_evolution": {"name": "regularized_evolution", "population": 10, "sample": 3},
}


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


# --------------------------------------------------------------------------- correlation
def sample_cells(space: NB201Space, n: int, seed: int) -> list[DAGGenome]:
    """``n`` random cells of distinct canonical hash, drawn with ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    cells: dict[str, DAGGenome] = {}
    while len(cells) < n:
        genome = random_genome(space, rng)
        cells.setdefault(genome.canonical_hash(), genome)
    return list(cells.values())


def standalone(space: NB201Space, task_config: dict[str, Any], cells: list[DAGGenome],
               cache: Path) -> list[dict[str, Any]]:
    """Every cell trained from scratch with the task's recipe (cached by NB201 string)."""
    done: dict[str, dict[str, Any]] = json.loads(cache.read_text()) if cache.exists() else {}
    task = build_task(task_config, space)
    rows = []
    for i, genome in enumerate(cells):
        key = genome.describe()
        if key not in done:
            metrics = task.evaluate(genome, 0)
            done[key] = {k: metrics[k] for k in ("val_accuracy", "test_accuracy",
                                                 "train_seconds", "params")}
            cache.write_text(json.dumps(done, indent=1))
            print(f"  [{i + 1}/{len(cells)}] {key}: val {done[key]['val_accuracy']:.4f} "
                  f"({done[key]['train_seconds']:.1f} s)", file=sys.stderr, flush=True)
        rows.append({"arch": key, "genome": genome.to_dict(), **done[key]})
    return rows


def supernet_scores(label: str, options: dict[str, Any], space: NB201Space,
                    task_config: dict[str, Any], cells: list[DAGGenome],
                    seed: int) -> dict[str, Any]:
    """Run one strategy's search as a campaign would; score ``cells`` on its supernet."""
    cls = strategy_class(options["name"])
    kwargs = {k: v for k, v in options.items() if k != "name"}
    strategy = cls(space, np.random.default_rng(seed), **kwargs)
    strategy.bind_task(task_config)
    first = strategy.ask(1)[0]
    record = first.operator
    start = time.perf_counter()
    with strategy._torch():  # noqa: SLF001 (the strategy's thread count)
        scores = [strategy.supernet_accuracy(g) for g in cells]  # type: ignore[attr-defined]
    return {"label": label, "search_seconds": record["search_seconds"],
            "supernet_seconds": record["supernet_seconds"],
            "scoring_seconds": record["scoring_seconds"], "epochs": record["epoch"],
            "final_train_accuracy": record["history"][-1]["train_accuracy"],
            "score_seconds_each": (time.perf_counter() - start) / len(cells),
            "top": first.genome.describe(), "scores": scores}


def correlation(args: argparse.Namespace) -> int:
    from scipy.stats import kendalltau, spearmanr

    config = example()
    if args.stem is not None:
        config["space"]["stem_channels"] = args.stem
    if args.task_epochs is not None:
        config["task"]["epochs"] = args.task_epochs
    space = NB201Space(**{k: v for k, v in config["space"].items() if k != "name"})
    cells = sample_cells(space, args.n, args.seed)
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    setting = f"stem{space.stem_channels}-epochs{config['task']['epochs']}"
    print(f"training {len(cells)} cells stand-alone ({space.stem_channels} stem channels, "
          f"{config['task']})", flush=True)
    rows = standalone(space, config["task"], cells, root / f"standalone-{setting}.json")
    val = np.array([r["val_accuracy"] for r in rows])
    test = np.array([r["test_accuracy"] for r in rows])
    print(f"stand-alone val accuracy {val.min():.4f}-{val.max():.4f} (median "
          f"{np.median(val):.4f}); median {np.median([r['train_seconds'] for r in rows]):.1f} s "
          "each")
    report: dict[str, Any] = {"n": args.n, "seed": args.seed, "rows": rows, "strategies": []}
    print(f"\n{'strategy':<8} {'options':<42} {'seed':>4} {'search s':>8} {'supernet s':>10} "
          f"{'rho val':>8} {'rho test':>8} {'tau val':>8}")
    for label in args.strategies.split(","):
        options = dict(STRATEGIES[label])
        for key, value in (("epochs", args.epochs),):
            if value is not None:
                options[key] = value
        for seed in range(args.supernet_seeds):
            out = supernet_scores(label, options, space, config["task"], cells, seed)
            scores = np.array(out["scores"])
            out.update(rho_val=float(spearmanr(scores, val).statistic),
                       rho_test=float(spearmanr(scores, test).statistic),
                       tau_val=float(kendalltau(scores, val).statistic), seed=seed,
                       options=options)
            report["strategies"].append(out)
            shown = ", ".join(f"{k}={v}" for k, v in options.items() if k not in ("name",
                                                                                   "top_k"))
            print(f"{label:<8} {shown:<42} {seed:>4} {out['search_seconds']:>8.1f} "
                  f"{out['supernet_seconds']:>10.1f} {out['rho_val']:>+8.3f} "
                  f"{out['rho_test']:>+8.3f} {out['tau_val']:>+8.3f}", flush=True)
    (root / f"correlation-{setting}.json").write_text(json.dumps(report, indent=1))
    return 0


# --------------------------------------------------------------------------- cost
def cost(args: argparse.Namespace) -> int:
    """CPU seconds (process time, one torch thread) of each search and of one stand-alone
    training: what the searches cost in trainings, whatever the machine's load."""
    import torch

    torch.set_num_threads(1)
    config = example()
    space = NB201Space(**{k: v for k, v in config["space"].items() if k != "name"})
    task = build_task(config["task"], space)
    cells = sample_cells(space, args.trainings + 1, args.seed)
    task.evaluate(cells[0], 0)  # warm-up: imports, data on the device
    cpu, wall = time.process_time(), time.perf_counter()
    for genome in cells[1:]:
        task.evaluate(genome, 0)
    train_cpu = (time.process_time() - cpu) / args.trainings
    print(f"stand-alone training: {train_cpu:.2f} CPU s each "
          f"({(time.perf_counter() - wall) / args.trainings:.2f} s wall), {args.trainings} cells")
    for label in args.strategies.split(","):
        options = dict(STRATEGIES[label])
        cls = strategy_class(options.pop("name"))
        options.pop("top_k", None)
        strategy = cls(space, np.random.default_rng(args.seed), **options)
        strategy.bind_task(config["task"])
        cpu, wall = time.process_time(), time.perf_counter()
        record = strategy.ask(1)[0].operator
        used = time.process_time() - cpu
        print(f"{label}: search {used:.1f} CPU s = {used / train_cpu:.1f} stand-alone trainings "
              f"({time.perf_counter() - wall:.1f} s wall; supernet training "
              f"{record['supernet_seconds']:.1f} s wall of it, {record['scored']} supernet "
              "accuracies)")
    return 0


# --------------------------------------------------------------------------- budget
def campaign_config(label: str, seed: int, device_seconds: float, runs_dir: Path) -> dict:
    config = example()
    config.update(name=f"{label}-s{seed}", seed=seed, runs_dir=str(runs_dir))
    config["strategy"] = dict(STRATEGIES[label])
    config["evaluator"] = {"workers": 0}
    config["budget"] = {"evaluations": 1000, "device_seconds": device_seconds}
    config["campaign"] = {"progress": False}
    return config


def one_shot_figures(run_dir: Path) -> dict[str, Any]:
    """The search record of a one-shot campaign (None entries for other strategies)."""
    import evonas

    run = evonas.open_run(run_dir)
    first = next((ind for ind in run.individuals() if "search_seconds" in ind.operator), None)
    if first is None:
        return {}
    return {"one_shot_seconds": first.operator["search_seconds"],
            "top_test": first.metrics.get("test_accuracy"),
            "top_arch": first.genome.describe()}


def budget(args: argparse.Namespace) -> int:
    labels = args.strategies.split(",")
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    runs_dir = root / "runs"
    configs = []
    for seed in range(args.seeds):
        for label in labels:
            if (runs_dir / f"{label}-s{seed}").exists():
                continue
            path = root / f"{label}-s{seed}.yaml"
            path.write_text(yaml.safe_dump(campaign_config(label, seed, args.device_seconds,
                                                           runs_dir)))
            configs.append(path)
    print(f"{len(configs)} campaigns, {args.device_seconds:g} device-seconds each, "
          f"{args.jobs} at a time, under {root}", flush=True)
    start = time.perf_counter()
    run_all(configs, args.jobs)
    print(f"wall time: {time.perf_counter() - start:.0f} s\n")
    print(f"{'strategy':<22} {'best val acc':>17} {'its test acc':>17} {'evals':>6} "
          f"{'dev-s':>7}  one-shot: search s, rank-0 cell's test acc")
    for label in labels:
        rows = []
        for seed in range(args.seeds):
            run_dir = runs_dir / f"{label}-s{seed}"
            rows.append({**describe(run_dir), **one_shot_figures(run_dir)})
        extra = ""
        if all("top_test" in r for r in rows):
            extra = (f"{statistics.mean(r['one_shot_seconds'] for r in rows):.1f} s, "
                     f"{spread([r['top_test'] for r in rows])}")
        print(f"{label:<22} {spread([r['best'] for r in rows]):>17} "
              f"{spread([r['best_test'] for r in rows]):>17} "
              f"{statistics.mean(r['evaluations'] for r in rows):>6.1f} "
              f"{statistics.mean(r['device_seconds'] for r in rows):>7.1f}  {extra}")
        for seed, r in enumerate(rows):
            top = f"  rank 0: {r['top_arch']}" if "top_arch" in r else ""
            print(f"    seed {seed}: best {r['best_arch']}{top}")
    curves = [load_curve(runs_dir / f"{label}-s{seed}") for label in labels
              for seed in range(args.seeds)]
    print()
    print(format_table([c.row() for c in curves]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    corr = sub.add_parser("correlation", help="supernet vs stand-alone accuracy")
    corr.add_argument("--n", type=int, default=25, help="sampled cells")
    corr.add_argument("--seed", type=int, default=0, help="seed of the cell sample")
    corr.add_argument("--supernet-seeds", type=int, default=1, help="searches per strategy")
    corr.add_argument("--epochs", type=int, default=None, help="override supernet epochs")
    corr.add_argument("--stem", type=int, default=None,
                      help="nb201 stem channels (default: the example's 8)")
    corr.add_argument("--task-epochs", type=int, default=None,
                      help="stand-alone training epochs (default: the example's 8)")
    corr.add_argument("--strategies", default="spos,enas")
    corr.add_argument("--threads", type=int, default=1, help="torch threads (stand-alone)")
    corr.add_argument("--out", default=None)
    price = sub.add_parser("cost", help="CPU seconds of the searches, in trainings")
    price.add_argument("--trainings", type=int, default=3, help="stand-alone trainings timed")
    price.add_argument("--seed", type=int, default=0)
    price.add_argument("--strategies", default="spos,enas")
    bud = sub.add_parser("budget", help="best accuracy at equal device-seconds")
    bud.add_argument("--seeds", type=int, default=3)
    bud.add_argument("--device-seconds", type=float, default=150.0)
    bud.add_argument("--jobs", type=int, default=2, help="campaigns run side by side")
    bud.add_argument("--strategies", default=",".join(STRATEGIES))
    bud.add_argument("--out", default=None, help="folder for the runs (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.part == "cost":
        return cost(args)
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="one-shot-")
    if args.part == "correlation":
        import torch

        torch.set_num_threads(args.threads)
        return correlation(args)
    return budget(args)


if __name__ == "__main__":
    raise SystemExit(main())
