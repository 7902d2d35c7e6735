"""Compare runs on equal terms: best fitness against evaluations and against device-seconds.

Each run is read from its journal. Only real evaluations count (``ok`` and ``failed``; a ``cached``
copy costs nothing), in birth order; device-seconds are the running sum of their ``seconds`` plus
the search time strategies record (DARTS' supernet training, ``search_seconds``), counted at the
evaluation of the individual it proposed (or the next evaluation, when that one was a cache hit).
Runs are grouped by strategy (:func:`strategy_label`), so several seeds show as a mean and a spread.

``evonas compare RUN [RUN ...]`` (see :mod:`evonas.cli.compare`) prints :func:`format_table` of
:func:`compare_runs` and writes :func:`plot_comparison`'s PNG.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evonas.storage import JOURNAL_FILE, Journal, JournalError, Status, reading_journal


@dataclass
class RunCurve:
    """One run's best-so-far curve and headline numbers.

    Attributes:
        name: the run folder's name.
        path: the run folder.
        strategy: the group it is shown in (:func:`strategy_label` of its strategy config).
        seed: the campaign seed.
        evaluations: ``1..N``, one entry per real evaluation.
        seconds: cumulative device-seconds after each evaluation.
        best: best fitness so far after each evaluation (NaN before the first success).
        best_fitness: the final best (None when nothing succeeded).
        evaluations_to_best: evaluations spent when the final best was first reached.
        seconds_to_best: device-seconds spent by then.
        test_metric: name of the best individual's test metric, when the task reports one.
        test_value: its value.
    """

    name: str
    path: str
    strategy: str
    seed: int | None
    evaluations: np.ndarray
    seconds: np.ndarray
    best: np.ndarray
    best_fitness: float | None
    evaluations_to_best: int | None
    seconds_to_best: float | None
    test_metric: str | None
    test_value: float | None

    @property
    def total_evaluations(self) -> int:
        return int(len(self.evaluations))

    @property
    def total_seconds(self) -> float:
        return float(self.seconds[-1]) if len(self.seconds) else 0.0

    def row(self) -> dict[str, Any]:
        """The run's line of the comparison table (JSON-safe)."""
        return {"run": self.name, "path": self.path, "strategy": self.strategy, "seed": self.seed,
                "best_fitness": self.best_fitness,
                "evaluations_to_best": self.evaluations_to_best,
                "seconds_to_best": self.seconds_to_best,
                "evaluations": self.total_evaluations, "seconds": self.total_seconds,
                "test_metric": self.test_metric, "test_value": self.test_value}


def find_test_metric(metrics: dict[str, Any]) -> tuple[str | None, float | None]:
    """The test metric among a result's metrics: ``test_accuracy``, else the first (by name)
    numeric metric whose name contains ``test``; ``(None, None)`` when there is none."""
    names = sorted(k for k, v in metrics.items() if "test" in k and isinstance(v, int | float)
                   and not isinstance(v, bool))
    if not names:
        return None, None
    name = "test_accuracy" if "test_accuracy" in names else names[0]
    return name, float(metrics[name])


def strategy_label(strategy: dict[str, Any]) -> str:
    """The group a run is shown in: what the strategy's :meth:`~evonas.strategies.Strategy.label`
    says (``darts-2nd``), or its name.

    Only registered strategies are asked: a strategy named by import path is code from the run
    folder, which reading a run never imports.
    """
    from evonas.strategies import STRATEGIES, strategy_class

    name = str(strategy.get("name", "?"))
    if name not in STRATEGIES:
        return name
    return strategy_class(name).label({k: v for k, v in strategy.items() if k != "name"})


def cheaper_evaluations_label(config: dict[str, Any]) -> str:
    """What a run's config adds to its strategy's label, so that variants of one strategy are
    grouped apart: ``+asha``, ``+inherit``, ``+prescreen:synflow``, ``+warm_start:naswot``
    (empty for a plain run, and for configs frozen before these sections existed)."""
    parts = []
    fidelity = config.get("fidelity")
    if isinstance(fidelity, dict) and isinstance(fidelity.get("scheduler"), str):
        parts.append(f"+{fidelity['scheduler']}")
    inherit = config.get("inherit_weights")
    if isinstance(inherit, dict) and inherit.get("enabled") is True:
        parts.append("+inherit")
    for section in ("prescreen", "warm_start"):
        value = config.get(section)
        if isinstance(value, dict) and isinstance(value.get("proxy"), str):
            parts.append(f"+{section}:{value['proxy']}")
    return "".join(parts)


def load_curve(path: str | Path) -> RunCurve:
    """Read one run folder into a :class:`RunCurve`.

    Raises:
        JournalError: when ``path`` is not a run folder.
    """
    path = Path(path)
    journal_path = path / JOURNAL_FILE
    if not journal_path.is_file():
        raise JournalError(f"{path}: not a run folder (no {JOURNAL_FILE})")
    with Journal.open(journal_path, readonly=True) as journal, reading_journal(journal_path):
        config = journal.config()
        # evaluations actually run: a copy of an earlier result (a copied failure too) is free
        rows = [ev for ev in journal.evaluations()
                if ev.status in (Status.OK, Status.FAILED) and ev.source_id is None]
        search = journal.search_seconds()
    seconds = np.cumsum([ev.seconds or 0.0 for ev in rows], dtype=float)
    if search:  # a strategy's own search time (DARTS' supernet) counts from where it was spent
        ids = np.array([ev.individual_id for ev in rows], dtype=np.int64)
        search_ids = np.array(list(search), dtype=np.int64)
        spent = np.cumsum(list(search.values()), dtype=float)
        upto = np.searchsorted(search_ids, ids, side="right")  # search entries with id <= row's
        seconds += np.where(upto > 0, spent[np.maximum(upto - 1, 0)], 0.0)
        if len(seconds):  # search after the last evaluation (a cached last derivation) counts too
            seconds[-1] += spent[-1] - (spent[upto[-1] - 1] if upto[-1] > 0 else 0.0)
    seconds = np.nan_to_num(seconds, nan=0.0, posinf=np.finfo(float).max)  # sums overflow
    fitness = np.array([ev.fitness if ev.status == Status.OK and ev.fitness is not None
                        and math.isfinite(ev.fitness) else np.nan for ev in rows], dtype=float)
    best = np.fmax.accumulate(fitness) if len(fitness) else fitness
    best_fitness = evals_to_best = seconds_to_best = None
    test_metric = test_value = None
    if len(best) and not np.all(np.isnan(best)):
        best_fitness = float(np.nanmax(best))
        first = int(np.flatnonzero(best == best_fitness)[0])
        evals_to_best, seconds_to_best = first + 1, float(seconds[first])
        test_metric, test_value = find_test_metric(rows[first].metrics)
    strategy = config.get("strategy")
    seed = config.get("seed")
    return RunCurve(
        name=path.name, path=str(path),
        strategy=strategy_label(strategy if isinstance(strategy, dict) else {})
        + cheaper_evaluations_label(config),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        evaluations=np.arange(1, len(rows) + 1), seconds=seconds, best=best,
        best_fitness=best_fitness, evaluations_to_best=evals_to_best,
        seconds_to_best=seconds_to_best, test_metric=test_metric, test_value=test_value)


def compare_runs(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The comparison table: one row per run (see :meth:`RunCurve.row`), in the order given.

    Raises:
        JournalError: when a path is not a run folder.
    """
    return [load_curve(p).row() for p in paths]


@dataclass
class StrategySummary:
    """The runs of one strategy, summarised over seeds (means, and the std of the best)."""

    strategy: str
    runs: int
    best_mean: float | None
    best_std: float | None
    evaluations_to_best: float | None
    seconds_to_best: float | None
    test_mean: float | None


def summarize(rows: Sequence[dict[str, Any]]) -> list[StrategySummary]:
    """Group table rows by strategy, in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["strategy"], []).append(row)

    def mean(values: list[Any]) -> float | None:
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None

    out = []
    for strategy, members in groups.items():
        bests = [r["best_fitness"] for r in members if r["best_fitness"] is not None]
        out.append(StrategySummary(
            strategy, len(members), mean(bests),
            statistics.stdev(bests) if len(bests) > 1 else None,
            mean([r["evaluations_to_best"] for r in members]),
            mean([r["seconds_to_best"] for r in members]),
            mean([r["test_value"] for r in members])))
    return out


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The table as text: one line per run, then one per strategy (mean over its runs)."""
    header = (f"{'run':<24} {'strategy':<22} {'seed':>5} {'best':>10} {'evals@best':>10} "
              f"{'dev-s@best':>11} {'evals':>6} {'dev-s':>9}  test metric")
    lines = [header, "-" * len(header)]
    for r in rows:
        test = "-" if r["test_metric"] is None else f"{r['test_metric']}={r['test_value']:.4f}"
        lines.append(
            f"{r['run'][:24]:<24} {r['strategy'][:22]:<22} {_fmt(r['seed']):>5} "
            f"{_fmt(r['best_fitness']):>10} {_fmt(r['evaluations_to_best']):>10} "
            f"{_fmt(r['seconds_to_best'], '.2f'):>11} {r['evaluations']:>6} "
            f"{r['seconds']:>9.2f}  {test}")
    lines += ["", f"{'strategy':<22} {'runs':>4} {'best mean':>10} {'best std':>9} "
              f"{'evals@best':>10} {'dev-s@best':>11} {'test mean':>10}"]
    for s in summarize(rows):
        lines.append(f"{s.strategy[:22]:<22} {s.runs:>4} {_fmt(s.best_mean):>10} "
                     f"{_fmt(s.best_std):>9} {_fmt(s.evaluations_to_best, '.1f'):>10} "
                     f"{_fmt(s.seconds_to_best, '.2f'):>11} {_fmt(s.test_mean):>10}")
    return "\n".join(lines)


def _band(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, 25th and 75th percentiles over runs of step functions ``(x, best)`` at ``grid``.

    Past its last point a run's final best holds (a run that stopped early keeps what it found).
    The statistics start where every run has a value (before that, NaN): averaging only the runs
    that have started would let the mean fall when a slower run joins. Runs without a success are
    left out.
    """
    samples = np.full((len(curves), len(grid)), np.nan)
    for i, (x, y) in enumerate(curves):
        if not len(x):
            continue
        index = np.searchsorted(x, grid, side="right") - 1
        inside = index >= 0
        samples[i, inside] = y[index[inside]]
    samples = samples[~np.all(np.isnan(samples), axis=1)]
    if not len(samples):
        return (np.full(len(grid), np.nan),) * 3
    return (np.mean(samples, axis=0), np.percentile(samples, 25, axis=0),
            np.percentile(samples, 75, axis=0))


def plot_comparison(curves: Sequence[RunCurve], out: str | Path) -> Path:
    """Write a PNG: best-so-far against evaluations (left) and device-seconds (right), one line
    per strategy (the mean over its runs) with a band from the 25th to the 75th percentile.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    groups: dict[str, list[RunCurve]] = {}
    for c in curves:
        groups.setdefault(c.strategy, []).append(c)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_eval, ax_time = fig.subplots(1, 2, sharey=True)
    max_evals = max((c.total_evaluations for c in curves), default=0)
    max_seconds = max((c.total_seconds for c in curves), default=0.0)
    eval_grid = np.arange(1, max_evals + 1, dtype=float)
    time_grid = np.linspace(0.0, max_seconds, 400)
    floor = []  # the lowest band value after the first tenth of the x range, for the y limits
    for color, (strategy, members) in enumerate(groups.items()):
        label = f"{strategy} ({len(members)} run{'s' if len(members) > 1 else ''})"
        for ax, grid, key in ((ax_eval, eval_grid, "evaluations"),
                              (ax_time, time_grid, "seconds")):
            if not len(grid) or (key == "seconds" and max_seconds <= 0):
                continue
            mean, low, high = _band([(getattr(c, key).astype(float), c.best) for c in members],
                                    grid)
            ax.step(grid, mean, where="post", color=f"C{color}", label=label)
            if len(members) > 1:
                ax.fill_between(grid, low, high, step="post", color=f"C{color}", alpha=0.2,
                                linewidth=0)
            tail = low[len(grid) // 10:]
            if np.any(np.isfinite(tail)):
                floor.append(float(np.nanmin(tail)))
    top = max((float(np.nanmax(c.best)) for c in curves if np.any(np.isfinite(c.best))),
              default=None)
    if floor and top is not None and top > min(floor):
        margin = 0.05 * (top - min(floor))
        ax_eval.set_ylim(min(floor) - margin, top + margin)
    ax_eval.set_xlabel("evaluations")
    ax_eval.set_ylabel("best fitness so far")
    ax_time.set_xlabel("device-seconds (evaluations + search, e.g. DARTS' supernet)")
    if max_seconds <= 0:
        ax_time.text(0.5, 0.5, "no device time recorded", ha="center", va="center",
                     transform=ax_time.transAxes)
    for ax in (ax_eval, ax_time):
        ax.grid(alpha=0.3)
    if ax_eval.get_legend_handles_labels()[0]:
        ax_eval.legend(loc="lower right", fontsize="small")
    fig.suptitle("best fitness so far: mean over each strategy's runs, band = 25th-75th "
                 "percentile")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as exc:
        from evonas.config import ConfigError

        raise ConfigError(f"{out}: cannot write the plot ({exc.strerror or exc})") from None
    return out


def compare(paths: Sequence[str | Path], plot: str | Path | None = None
            ) -> tuple[list[dict[str, Any]], list[StrategySummary], Path | None]:
    """Load runs once and produce the table rows, the per-strategy summary and the plot.

    Returns:
        ``(rows, summary, png path or None)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # device-seconds of a damaged journal
        curves = [load_curve(p) for p in paths]
        rows = [c.row() for c in curves]
        png = plot_comparison(curves, plot) if plot is not None else None
    return rows, summarize(rows), png


def summary_dicts(summary: Sequence[StrategySummary]) -> list[dict[str, Any]]:
    """The summary as JSON-safe dicts."""
    return [asdict(s) for s in summary]
