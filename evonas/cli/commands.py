"""The ``evonas`` command line.

``evonas run CONFIG``, ``evonas resume RUN``, ``evonas status RUN``, ``evonas best RUN``. Bad input
(config, genome, journal, dataset) prints one line naming the file and field and exits with code 2;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from evonas.analysis.pareto import print_pareto
from evonas.api import resume_campaign, start_campaign
from evonas.cli.compare import add_compare_command
from evonas.cli.export import compile_for_task, export_best
from evonas.cli.lineage import add_commands as add_lineage_commands
from evonas.cli.options import add_options_command
from evonas.cli.train import add_train_command
from evonas.config import load_config
from evonas.errors import EvonasError
from evonas.objectives import objectives_from_config
from evonas.retrain import latest_models
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, Journal, json_safe
from genomes import CPPNGenome, DAGGenome, GenomeError, genome_from_dict, genome_kind_of

#: What the CLI reports as one line and exit code 2 (every other exception is a bug: a traceback).
USER_ERRORS: tuple[type[Exception], ...] = (EvonasError,)


class ProgressBar:
    """A tqdm bar over evaluations showing the best fitness so far and the ETA."""

    def __init__(self, total: int, initial: int = 0) -> None:
        from tqdm import tqdm  # local: only a campaign with a progress bar loads tqdm

        self._bar = tqdm(total=total, initial=initial, unit="eval", dynamic_ncols=True,
                         file=sys.stderr, desc="evaluations")
        self._drawn = 0.0

    def __call__(self, counters: dict[str, Any]) -> None:
        self._bar.n = min(counters["evaluations"], self._bar.total)
        now = time.monotonic()
        if now - self._drawn < 0.1 and self._bar.n < self._bar.total:
            return  # a campaign tells thousands a second; the bar redraws ten times a second
        self._drawn = now
        best = counters["best_fitness"]
        postfix = {"best": "-" if best is None else f"{best:.4f}",
                   "individuals": counters["told"]}
        if counters["failed"]:
            postfix["failed"] = counters["failed"]
        if "generation" in counters:
            postfix["gen"] = counters["generation"]
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _progress(config_data: dict[str, Any], quiet: bool) -> ProgressBar | None:
    if quiet or not config_data["campaign"]["progress"]:
        return None
    return ProgressBar(config_data["budget"]["evaluations"])


class _LazyBar:
    """The progress bar, drawn from the first progress report on: a command that fails before
    its campaign starts prints its one error line and nothing else."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._bar: ProgressBar | None = None
        self._made = False

    def __call__(self, counters: dict[str, Any]) -> None:
        if not self._made:
            self._made = True
            self._bar = self._make()
        if self._bar is not None:
            self._bar(counters)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _print_summary(run_dir: Path, summary: Any) -> None:
    with Run(run_dir) as run:
        best = run.best()
        status = run.status()
        several = len(objectives_from_config(run.config)) > 1
    print(f"run: {run_dir}")
    print(f"individuals: {status['individuals']}  evaluations: {status['evaluations']}  "
          f"cached: {status['cached']}  failed: {status['failed']}  "
          f"time: {summary.seconds:.1f}s")
    if best is None:
        print("best: none (no successful evaluation)")
    else:
        shown = {k: v for k, v in best.metrics.items() if isinstance(v, int | float)}
        metrics = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in shown.items())
        print(f"best: individual {best.id}  fitness={best.fitness:.4f}")
        print(f"  genome: {best.genome.describe()}")
        print(f"  metrics: {metrics}")
    if several and best is not None:  # judged by several objectives: the front, not one best
        with Run(run_dir) as run:
            print_pareto(run)
    if summary.stopped:
        print(f"stopped before the end; continue with: evonas resume {run_dir}")


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set or [])
    bar = None if args.quiet else _LazyBar(lambda: _progress(config.data, args.quiet))
    try:
        run_dir, summary = start_campaign(config, args.name, bar)
    finally:
        if bar is not None:
            bar.close()
    _print_summary(run_dir, summary)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    def make_bar() -> ProgressBar | None:
        path = Path(args.run) / JOURNAL_FILE
        with Journal.open(path, readonly=True) as journal:
            data = journal.config()
            snapshot = journal.last_snapshot()
        try:
            bar = _progress(data, args.quiet)
        except (KeyError, TypeError, AttributeError):
            return None
        if bar is not None and snapshot is not None:
            bar({"evaluations": snapshot.evaluations, "best_fitness": None,
                  "told": snapshot.told, "failed": 0})
        return bar

    bar = None if args.quiet else _LazyBar(make_bar)
    try:
        run_dir, summary = resume_campaign(
            args.run, bar, args.set or [], args.force,
            report=lambda line: print(f"config change: {line}", file=sys.stderr))
    finally:
        if bar is not None:
            bar.close()
    _print_summary(run_dir, summary)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with Run(args.run) as run:
        status = run.status()
        kept = sorted(run.kept_weights().values(), key=lambda w: (-w.fitness, w.individual_id))
    trained = latest_models(args.run)
    status["trained"] = json_safe([
        {"individual": m.individual_id, "task": m.task_name, "metrics": m.metrics,
         "weights": str(m.weights), "intact": m.intact()} for m in trained])
    status["kept_weights"] = json_safe([
        {"individual": w.individual_id, "fitness": w.fitness, "weights": str(w.path),
         "intact": w.intact()} for w in kept])
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"run: {status['path']}  ({status['state']})")
    print(f"strategy: {status['strategy']}  task: {status['task']}")
    print(f"individuals: {status['individuals']}  evaluations: {status['evaluations']}"
          f"/{status['budget_evaluations']}  cached: {status['cached']}  "
          f"failed: {status['failed']}  pending: {status['pending']}  "
          f"device-seconds: {status['device_seconds']:.1f}")
    search = status.get("search")
    if search:
        collapse = search["skip_collapse_epoch"]
        print(f"search: epoch {search['epoch']}, supernet {search['seconds']:.1f} s, skip "
              f"collapse: {'no' if collapse is None else f'yes, from epoch {collapse}'}"
              f"{'  (the supernet diverged: search ended)' if search['diverged'] else ''}")
    best = status["best"]
    if best is None:
        print("best: none yet")
    else:
        print(f"best: individual {best['id']}  fitness={best['fitness']:.4f}  {best['genome']}")
    if kept:
        shown = ", ".join(f"#{w.individual_id} ({w.fitness:.4f})"
                          + ("" if w.intact() else " [missing or damaged]") for w in kept)
        print(f"kept weights: {shown}  (in {Path(args.run) / 'weights'})")
    for model, shown in zip(trained, status["trained"], strict=True):
        damage = "" if shown["intact"] else "  [weights missing or damaged: rerun evonas train]"
        print(f"trained: {model.summary()}  ({model.weights}){damage}")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    if args.pareto:
        with Run(args.run) as run:
            print_pareto(run, args.json)
        return 0
    with Run(args.run) as run:
        best = run.best()
        config = run.config
    if best is None:
        print(f"{args.run}: no successful evaluation yet", file=sys.stderr)
        return 1
    if args.export:
        note = export_best(best, config, Path(args.export), run_dir=Path(args.run))
        print(f"exported individual {best.id} to {args.export} ({note})", file=sys.stderr)
    if args.json:
        print(json.dumps(best.to_dict(), indent=2))
    else:
        print(f"individual {best.id}  fitness={best.fitness:.4f}  status={best.status}")
        print(f"genome: {best.genome.describe()}")
        print(f"parents: {list(best.parents)}  operator: {json.dumps(best.operator)}")
        for key, value in best.metrics.items():
            print(f"  {key}: {value}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    path = Path(args.genome)
    if not path.is_file():
        raise GenomeError(f"{path}: genome file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenomeError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise GenomeError(f"{path}: not a genome (JSON nested too deeply)") from None
    except OSError as exc:
        raise GenomeError(f"{path}: cannot read the genome ({exc.strerror or exc})") from None
    config = load_config(args.config)
    try:
        genome = genome_from_dict(data)
        space = config.space()
        kind = genome_kind_of(type(genome))
        if kind.kind != space.genome_kind:
            raise GenomeError(f"kind: a {kind.label} genome does not belong to the {space.name} "
                              f"space of {args.config} (space.name)")
        space.validate(genome)
    except GenomeError as exc:
        raise GenomeError(f"{path}: {exc}") from None
    except RecursionError:
        raise GenomeError(f"{path}: not a genome (nested too deeply)") from None
    from evonas.compiler import count_params  # local: the compiler imports torch

    print(f"genome: {genome.describe()}")
    print(f"canonical hash: {genome.canonical_hash()}")
    if isinstance(genome, CPPNGenome):
        from evonas.compiler.cppn import compile_cppn  # local: imports torch

        module = compile_cppn(genome)
        print(f"network: CPPN, {genome.num_inputs} inputs, {genome.num_outputs} outputs "
              f"(weights are constants of the code, {count_params(module)} parameters)")
    else:
        assert isinstance(genome, DAGGenome)  # the only other kind a config's space holds
        module, shape, classes = compile_for_task(genome, config.data, seed=config.seed)
        print(f"network: input {shape}, {classes} classes, {count_params(module)} parameters")
    if args.code:
        print(module.code)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evonas", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start a campaign from a YAML config")
    p.add_argument("config", help="campaign YAML file")
    p.add_argument("--name", help="run name (folder under runs_dir)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set budget.evaluations=50")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a stopped or killed campaign")
    p.add_argument("run", help="run folder, e.g. runs/NAME")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change a setting: budget, evaluator and campaign keys are safe")
    p.add_argument("--force", action="store_true",
                   help="accept changes to the space, task, strategy or seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="counts and best so far of a run")
    p.add_argument("run", help="run folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("best", help="the best individual of a run")
    p.add_argument("run", help="run folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--export", metavar="FILE", help="write the network: .py source, "
                   ".pt weights or .onnx")
    p.add_argument("--pareto", action="store_true",
                   help="print the Pareto front of the run's objectives instead")
    p.set_defaults(func=cmd_best)

    p = sub.add_parser("compile", help="check a genome JSON file and compile it for a config")
    p.add_argument("genome", help="genome JSON file ({\"kind\": \"dag\", ...})")
    p.add_argument("--config", required=True, help="campaign YAML giving the space and task")
    p.add_argument("--code", action="store_true", help="print the generated forward code")
    p.set_defaults(func=cmd_compile)

    add_lineage_commands(sub)
    add_compare_command(sub)
    add_options_command(sub)
    add_train_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``evonas`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        if args.debug:
            traceback.print_exc()
        message = " ".join(str(exc).splitlines()) or type(exc).__name__
        print(f"evonas: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
