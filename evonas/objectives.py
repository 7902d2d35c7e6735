"""Objectives and Pareto dominance: the one home of both, for NSGA-II, ``evonas best --pareto``
and the report.

An objective is a metric the task reports and a goal, ``max`` or ``min``; the metric ``fitness``
is the result's fitness (the journal's fitness column). A config lists them under
``strategy.objectives``::

    strategy:
      name: nsga2
      objectives:
        - {metric: fitness, goal: max}
        - {metric: params, goal: min}

:func:`parse_objectives` is the one reader of that list (``evonas.config`` validates through it,
by way of NSGA-II's :func:`~evonas.strategies.nsga2.check_config`); it returns
:data:`DEFAULT_OBJECTIVES` for a missing list. On the command line (``evonas report --objective``)
an objective is written ``METRIC[:max|:min]`` or ``[+|-]METRIC``, read by :func:`parse_objective`.

Dominance: ``a`` dominates ``b`` when it is at least as good on every objective and better on one
(:func:`dominates`); the Pareto front is the set no other point dominates (:func:`pareto_mask`,
:func:`front_indices`). Equal points do not dominate each other, so ties all stay on the front.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evonas.errors import ConfigError

#: The goals an objective may have.
GOALS = ("max", "min")
#: Spellings of a goal accepted on the command line (:func:`parse_objective`).
_MAX = {"max", "maximize", "maximise", "+"}
_MIN = {"min", "minimize", "minimise", "-"}


@dataclass(frozen=True)
class Objective:
    """One metric to optimise and its direction.

    Attributes:
        metric: a metric the task reports (``fitness``: the result's fitness).
        goal: ``max`` or ``min`` (``True``/``False`` are read as ``max``/``min``).
    """

    metric: str
    goal: str = "max"

    def __post_init__(self) -> None:
        if isinstance(self.goal, bool):
            object.__setattr__(self, "goal", "max" if self.goal else "min")
        if self.goal not in GOALS:
            raise ConfigError(f"objective {self.metric!r}: goal must be max or min, "
                              f"got {self.goal!r}")

    @property
    def maximize(self) -> bool:
        return self.goal == "max"

    @property
    def sign(self) -> float:
        """``1.0`` for ``max``, ``-1.0`` for ``min``: multiplied in, larger is better."""
        return 1.0 if self.goal == "max" else -1.0

    def value(self, fitness: Any, metrics: Mapping[str, Any]) -> float | None:
        """This objective's raw value in a result: a finite number, else None (missing, not a
        number, a bool, NaN or infinite)."""
        value = fitness if self.metric == "fitness" else metrics.get(self.metric)
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            return None
        return float(value)

    def to_dict(self) -> dict[str, str]:
        """The config form, ``{metric, goal}``."""
        return {"metric": self.metric, "goal": self.goal}

    def __str__(self) -> str:
        return f"{self.metric} ({self.goal})"


#: Objectives used when the config names none: accuracy up, size down.
DEFAULT_OBJECTIVES: tuple[Objective, ...] = (Objective("fitness", "max"),
                                             Objective("params", "min"))


def parse_objectives(value: Any, label: str | None = None,
                     field: str = "strategy.objectives") -> list[Objective]:
    """Validate a config's objectives list: a non-empty list of ``{metric, goal}`` mappings
    (``goal`` defaults to ``max``), no metric twice. :class:`Objective` items are taken as they
    are (after the same checks).

    Args:
        value: the list, or None for :data:`DEFAULT_OBJECTIVES`.
        label: the config file, to start messages with (``FILE: strategy.objectives...``).
        field: the config field, for messages.

    Raises:
        ConfigError: naming the entry at fault, e.g. ``strategy.objectives[1].goal``.
    """
    prefix = f"{label}: " if label else ""
    if value is None:
        return list(DEFAULT_OBJECTIVES)
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{prefix}{field}: must be a non-empty list of "
                          f"{{metric: NAME, goal: max|min}}, got {value!r}")
    out: list[Objective] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(item, Objective):
            item = item.to_dict()
        if not isinstance(item, dict):
            raise ConfigError(f"{prefix}{where}: must be a mapping {{metric: NAME, goal: "
                              f"max|min}}, got {item!r}")
        for key in item:
            if key not in ("metric", "goal"):
                raise ConfigError(f"{prefix}{where}.{key}: unknown key; allowed: goal, metric")
        metric = item.get("metric")
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{prefix}{where}.metric: must be the name of a task metric, "
                              f"got {metric!r}")
        if metric in seen:
            raise ConfigError(f"{prefix}{where}.metric: {metric!r} is listed twice")
        seen.add(metric)
        goal = item.get("goal", "max")
        if goal not in GOALS:
            raise ConfigError(f"{prefix}{where}.goal: must be max or min, got {goal!r}")
        out.append(Objective(metric, goal))
    return out


def parse_objective(text: Any, where: str = "objectives") -> Objective:
    """One objective from its command-line form: ``METRIC``, ``METRIC:max``, ``METRIC:min``
    (also ``maximize``/``minimise``...), ``+METRIC`` or ``-METRIC``. An :class:`Objective` is
    returned as it is.

    Raises:
        ConfigError: naming ``where`` when the text cannot be read.
    """
    if isinstance(text, Objective):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: expected a metric name, got {text!r}")
    text = text.strip()
    if ":" in text:
        metric, goal = (part.strip() for part in text.rsplit(":", 1))
    elif text[0] in "+-":
        metric, goal = text[1:].strip(), text[0]
    else:
        metric, goal = text, "max"
    if not metric:
        raise ConfigError(f"{where}: expected a metric name, got {text!r}")
    goal = goal.lower()
    if goal in _MAX:
        return Objective(metric, "max")
    if goal in _MIN:
        return Objective(metric, "min")
    raise ConfigError(f"{where}: goal must be max or min, got {goal!r}")


def declared_objectives(config: Mapping[str, Any]) -> Any:
    """The raw ``strategy.objectives`` of a (frozen) run config, None when it has none."""
    strategy = config.get("strategy")
    return strategy.get("objectives") if isinstance(strategy, dict) else None


def objectives_from_config(config: Mapping[str, Any]) -> list[Objective]:
    """The objectives a run is judged by in the report: those ``strategy.objectives`` names, an
    NSGA-II run without them gets :data:`DEFAULT_OBJECTIVES`, any other run none (empty: a
    single-objective run, judged by fitness alone).

    Raises:
        ConfigError: when the objectives are present but malformed.
    """
    declared = declared_objectives(config)
    strategy = config.get("strategy")
    if declared is None and not (isinstance(strategy, dict) and strategy.get("name") == "nsga2"):
        return []
    return parse_objectives(declared)


def signed(values: Any, objectives: Sequence[Objective | bool] | None = None) -> np.ndarray:
    """``values`` (one row per point, one column per objective) in maximisation form: columns
    of minimised objectives negated. ``objectives`` are :class:`Objective` or ``maximize``
    flags; None: every column is already to maximise."""
    points = np.asarray(values, dtype=float)
    if objectives is None:
        return points
    signs = np.array([o.sign if isinstance(o, Objective) else (1.0 if o else -1.0)
                      for o in objectives], dtype=float)
    return points * signs if points.size else points.reshape(-1, len(signs))


def dominates(a: Sequence[float], b: Sequence[float],
              objectives: Sequence[Objective | bool] | None = None) -> bool:
    """Whether point ``a`` dominates ``b``: at least as good on every objective, better on one.

    A point with a NaN dominates nothing and nothing dominates it (it is never compared).
    """
    x, y = signed([a], objectives)[0], signed([b], objectives)[0]
    if np.isnan(x).any() or np.isnan(y).any():
        return False
    return bool((x >= y).all() and (x > y).any())


def pareto_mask(values: Any, objectives: Sequence[Objective | bool] | None = None
                ) -> np.ndarray:
    """Which rows of ``values`` (one column per objective) no other row dominates.

    Args:
        values: ``(n, k)`` numbers.
        objectives: the goal of each column (:class:`Objective` or ``maximize`` flags); None:
            every column is to maximise (the points are already signed).

    Returns:
        A boolean mask. Equal rows do not dominate each other, so duplicates of a front point
        are on the front too; rows with a NaN are never on it (and dominate nothing). Sorting
        first makes each check one against the front found so far, which stays small.
    """
    scores = signed(values, objectives)
    n = len(scores)
    mask = np.zeros(n, dtype=bool)
    if not n:
        return mask
    valid = ~np.isnan(scores).any(axis=1)
    order = np.lexsort(tuple(-scores[:, k] for k in reversed(range(scores.shape[1]))))
    front: list[np.ndarray] = []
    for i in order:
        if not valid[i]:
            continue
        row = scores[i]
        if front:
            kept = np.asarray(front)
            if ((kept >= row).all(axis=1) & (kept > row).any(axis=1)).any():
                continue
            if (kept == row).all(axis=1).any():  # a duplicate of a front point: also on it
                mask[i] = True
                continue
        front.append(row)
        mask[i] = True
    return mask


def front_indices(values: Any, objectives: Sequence[Objective | bool] | None = None
                  ) -> list[int]:
    """Indices of the rows of ``values`` on the Pareto front, ascending (see
    :func:`pareto_mask`)."""
    return np.flatnonzero(pareto_mask(values, objectives)).tolist()

