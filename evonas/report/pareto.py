"""Objectives and the Pareto front for the report.

A multi-objective campaign names its objectives in the config, as a list under
``strategy.objectives`` (or ``task.objectives``). Each entry names a metric the task reports and
whether to maximise it, written in any of these forms::

    objectives: [accuracy, -params]                  # a leading '-' minimises
    objectives: ["accuracy:max", "latency:min"]
    objectives: [{metric: accuracy, goal: max}, {metric: params, goal: min}]
    objectives: {accuracy: max, params: min}

An NSGA-II run without objectives uses NSGA-II's defaults. The metric ``fitness`` is the journal's
fitness column. With fewer than two objectives the report has no Pareto front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evonas.config import ConfigError

_MAX = {"max", "maximize", "maximise", "+"}
_MIN = {"min", "minimize", "minimise", "-"}


@dataclass(frozen=True)
class Objective:
    """One metric to optimise and its direction."""

    metric: str
    maximize: bool = True

    def __str__(self) -> str:
        return f"{self.metric} ({'max' if self.maximize else 'min'})"


def _goal(value: Any, where: str) -> bool:
    text = str(value).strip().lower()
    if text in _MAX:
        return True
    if text in _MIN:
        return False
    raise ConfigError(f"{where}: goal must be max or min, got {value!r}")


def parse_objective(item: Any, where: str = "objectives") -> Objective:
    """One objective from its config or command-line form (see the module docstring).

    Raises:
        ConfigError: naming ``where`` when the entry cannot be read.
    """
    if isinstance(item, dict):
        metric = item.get("metric", item.get("name"))
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{where}: each objective needs a metric name")
        return Objective(metric, _goal(item.get("goal", item.get("direction", "max")), where))
    if not isinstance(item, str) or not item.strip():
        raise ConfigError(f"{where}: expected a metric name, got {item!r}")
    text = item.strip()
    if ":" in text:
        metric, goal = text.rsplit(":", 1)
        return Objective(metric.strip(), _goal(goal, where))
    if text[0] in "+-":
        return Objective(text[1:].strip(), text[0] == "+")
    return Objective(text)


def objectives_from_config(config: dict[str, Any]) -> list[Objective]:
    """The objectives a run's config names (empty when it names none).

    Raises:
        ConfigError: when the objectives are present but malformed.
    """
    def section(name: str) -> dict[str, Any]:
        value = config.get(name)
        return value if isinstance(value, dict) else {}

    for section_name in ("strategy", "task"):
        value = section(section_name).get("objectives")
        if value is None:
            continue
        where = f"{section_name}.objectives"
        if isinstance(value, dict):
            return [Objective(str(k), _goal(v, f"{where}.{k}")) for k, v in value.items()]
        if isinstance(value, list):
            return [parse_objective(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return [parse_objective(value, where)]
    if section("strategy").get("name") == "nsga2":
        try:  # NSGA-II without objectives uses its defaults
            from evonas.strategies.nsga2 import DEFAULT_OBJECTIVES
        except ImportError:
            return []
        return [parse_objective(dict(o), "strategy.objectives") for o in DEFAULT_OBJECTIVES]
    return []


def pareto_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Which rows of ``values`` (one column per objective) no other row dominates.

    A row dominates another when it is at least as good on every objective and better on one.
    Rows with a NaN are never on the front. Sorting first makes each check against the front
    found so far, which stays small in practice.
    """
    signs = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    scores = np.asarray(values, dtype=float) * signs
    n = len(scores)
    mask = np.zeros(n, dtype=bool)
    valid = ~np.isnan(scores).any(axis=1) if n else np.zeros(0, dtype=bool)
    order = np.lexsort(tuple(-scores[:, k] for k in reversed(range(scores.shape[1])))) \
        if n else np.zeros(0, dtype=int)
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
