"""The Pareto front of a run: individuals no other individual beats on every objective.

Objectives are the run's ``strategy.objectives`` when its strategy has them (NSGA-II), else
:data:`evonas.objectives.DEFAULT_OBJECTIVES` (fitness up, ``params`` down); parsing and dominance
are :mod:`evonas.objectives`'. Only successful evaluations count (``ok``; a ``cached`` copy
repeats an earlier individual, a failed one has no metrics). ``evonas best RUN --pareto`` prints
the front with :func:`print_pareto`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from evonas.config import ConfigError
from evonas.objectives import Objective, declared_objectives, pareto_mask, parse_objectives
from evonas.run import Individual, Run
from evonas.storage import JOURNAL_FILE, Status


def run_objectives(run: Run) -> list[Objective]:
    """The objectives a run is judged by (see the module docstring).

    Raises:
        ConfigError: naming the journal when the frozen config's objectives cannot be read.
    """
    try:
        return parse_objectives(declared_objectives(run.config))
    except ConfigError as exc:
        raise ConfigError(f"{run.path / JOURNAL_FILE}: meta.config: {exc}") from None


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points`` (one row per candidate, larger is better in every column) no other
    row dominates: :func:`evonas.objectives.pareto_mask` of points already signed."""
    return pareto_mask(points)


def _value(ind: Individual, objective: Objective) -> float | None:
    return objective.value(ind.fitness, ind.metrics)


def _objectives(run: Run, objectives: Sequence[Objective | dict[str, str]] | None
                ) -> list[Objective]:
    return parse_objectives(list(objectives)) if objectives is not None else run_objectives(run)


def pareto_front(run: Run, objectives: Sequence[Objective | dict[str, str]] | None = None
                 ) -> list[Individual]:
    """The non-dominated successful individuals of ``run``, best first objective first.

    Args:
        run: an open run.
        objectives: :class:`~evonas.objectives.Objective` or ``{metric, goal}`` dicts;
            default: :func:`run_objectives`.

    Returns:
        The front, sorted by the first objective (best first), then by id.

    Raises:
        ConfigError: when no successful individual reports every objective metric.
    """
    objectives = _objectives(run, objectives)
    candidates, rows = [], []
    ok = [ind for ind in run.individuals() if ind.status == Status.OK]
    for ind in ok:
        values = [_value(ind, o) for o in objectives]
        if all(v is not None for v in values):
            candidates.append(ind)
            rows.append(values)
    if not candidates:
        if not ok:
            return []
        missing = [o.metric for o in objectives if _value(ok[0], o) is None]
        raise ConfigError(f"{run.path}: strategy.objectives: the individuals do not report "
                          f"{', '.join(repr(m) for m in missing)}; they report: "
                          f"{', '.join(sorted(ok[0].metrics))}")
    mask = pareto_mask(np.array(rows), objectives)
    front = [ind for ind, keep in zip(candidates, mask, strict=True) if keep]
    first = objectives[0]

    def key(ind: Individual) -> tuple[float, int]:
        value = _value(ind, first)
        assert value is not None  # every candidate reports every objective
        return -first.sign * value, ind.id

    return sorted(front, key=key)


def front_rows(run: Run, objectives: Sequence[Objective | dict[str, str]] | None = None
               ) -> list[dict[str, Any]]:
    """The front as JSON-safe rows: id, the objective values, the genome and every metric."""
    objectives = _objectives(run, objectives)
    return [{"id": ind.id, "objectives": {o.metric: _value(ind, o)
                                          for o in objectives},
             "genome": ind.genome.describe(), "metrics": ind.metrics, "parents": list(ind.parents)}
            for ind in pareto_front(run, objectives)]


def print_pareto(run: Run, as_json: bool = False, file: TextIO | None = None) -> None:
    """Print the Pareto front of ``run`` as a table (or JSON), as ``evonas best RUN --pareto``.

    Args:
        run: an open run.
        as_json: print a JSON list of :func:`front_rows` instead of a table.
        file: where to print (default: standard output).
    """
    out = file or sys.stdout
    objectives = run_objectives(run)
    rows = front_rows(run, objectives)
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
        return
    names = [o.metric for o in objectives]
    goals = ", ".join(str(o) for o in objectives)
    print(f"Pareto front of {run.path}: {len(rows)} individual(s); objectives: {goals}", file=out)
    if not rows:
        return
    widths = [max(len(n), 12) for n in names]
    header = f"{'id':>6}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
    print(header + "  genome", file=out)
    for row in rows:
        values = "  ".join(f"{row['objectives'][n]:>{w}.6g}"
                           for n, w in zip(names, widths, strict=True))
        print(f"{row['id']:>6}  {values}  {row['genome']}", file=out)
