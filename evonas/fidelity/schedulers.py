"""Multi-fidelity schedulers: which evaluations deserve more training.

An individual climbs a *ladder* of rungs, each an amount of the ladder's resource: a number of
epochs of one learning-rate schedule (``min``, ``min * eta``, ... up to ``max``), or a fraction of
the training data (``max / eta**k`` down to ``min``). When its result at a rung arrives, the
scheduler decides at once whether it continues to the next rung or stops there (the "stopping"
form of the asynchronous schedulers, as Syne Tune calls it): no decision waits for a rung to
fill, so no worker idles.

* :class:`ASHA` (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning"): an
  individual continues when its result ranks in the top ``1/eta`` of all results recorded at
  that rung so far (itself included), or is the best there so far.
* :class:`Hyperband` (asynchronous, Li et al. 2017 and 2020): several ASHA brackets; bracket
  ``s`` starts its individuals at rung ``s`` (more epochs, fewer promotions), so a task where low
  rungs mislead still has some individuals trained longer from the start. Each individual's
  bracket is drawn, with Hyperband's bracket weights, from a generator seeded by the campaign
  seed and its id (a resume draws the same).
* :class:`MedianStopping` (Golovin et al. 2017, "Google Vizier"): an individual stops at a rung
  when its result is below the median of the results recorded at that rung so far; rungs are
  usually every epoch.

With several objectives (NSGA-II campaigns), "ranks in the top" means: sorted by non-dominated
front, then by crowding distance within the front (NSGA-II's own order), among the results at
that rung.

A scheduler's state is the list of rung results it has seen; the campaign rebuilds it on resume
by replaying the journal's ``rung`` events in their order.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from evonas.objectives import Objective, pareto_mask

#: A result's point: the objective values in maximisation form (one value: fitness).
Point = tuple[float, ...]
#: Stream id for drawing Hyperband brackets from the campaign seed.
BRACKET_STREAM = 3
#: What a rung can spend, and how a description names its amounts.
RESOURCES = {"epochs": "epochs", "data_fraction": "of the training data"}


def geometric_rungs(low: int, high: int, eta: float) -> list[int]:
    """``low, low * eta, ...`` (rounded, strictly increasing) with ``high`` as the last rung."""
    rungs: list[int] = []
    value = float(low)
    while round(value) < high:
        if not rungs or round(value) > rungs[-1]:
            rungs.append(int(round(value)))
        value *= eta
    rungs.append(high)
    return rungs


def geometric_fractions(low: float, high: float, eta: float) -> list[float]:
    """``high, high / eta, ...`` down to the last at or above ``low``, lowest first (rounded to
    4 places), as Hyperband spaces a data-subsampling resource."""
    fractions = [high]
    while fractions[-1] / eta >= low * (1 - 1e-9):
        fractions.append(fractions[-1] / eta)
    return [round(f, 4) for f in reversed(fractions)]


class Scheduler(abc.ABC):
    """Decides, rung by rung, how far each individual trains.

    Args:
        rungs: the resource's amount at each rung, increasing (epochs, or fractions of the
            training data).
        objectives: what a result is judged by: one objective or several (Pareto ranking).
        eta: the reduction factor (ASHA, Hyperband): the top ``1/eta`` continue.
        resource: what the rungs count, a key of :data:`RESOURCES`.
    """

    name: ClassVar[str] = ""

    def __init__(self, rungs: Sequence[float], objectives: Sequence[Objective],
                 eta: float = 3.0, resource: str = "epochs") -> None:
        self.rungs = list(rungs)
        self.objectives = list(objectives)
        self.eta = eta
        self.resource = resource
        self._seen: dict[tuple[int, int], list[Point]] = {}  # (bracket, rung) -> points

    def bracket(self, individual_id: int) -> int:
        """The bracket of an individual (0 but for Hyperband)."""
        return 0

    def first_rung(self, individual_id: int) -> int:
        """The rung an individual starts at."""
        return self.bracket(individual_id)

    def point(self, fitness: float | None, metrics: dict[str, Any]) -> Point | None:
        """A result's objective values, signed to maximise; None when one is missing."""
        values = []
        for objective in self.objectives:
            value = objective.value(fitness, metrics)
            if value is None:
                return None
            values.append(objective.sign * value)
        return tuple(values)

    def decide(self, individual_id: int, rung: int, fitness: float | None,
               metrics: dict[str, Any]) -> bool:
        """Record a result at ``rung`` and say whether the individual continues to the next.

        A failed result (no point) and the top rung never continue.
        """
        point = self.point(fitness, metrics)
        key = (self.bracket(individual_id), rung)
        if point is None:
            return False
        seen = self._seen.setdefault(key, [])
        seen.append(point)
        if rung >= len(self.rungs) - 1:
            return False
        return self._continues(seen, len(seen) - 1)

    @abc.abstractmethod
    def _continues(self, seen: list[Point], index: int) -> bool:
        """Whether ``seen[index]`` (just recorded) continues, given all ``seen`` at its rung."""

    def rungs_text(self) -> str:
        """The rungs and their unit: ``1, 3, 9, 27 epochs``."""
        return f"{', '.join(f'{r:g}' for r in self.rungs)} {RESOURCES[self.resource]}"

    def describe(self) -> str:
        """One line for logs: ``asha: rungs 1, 3, 9, 27 epochs, eta 3``."""
        return f"{self.name}: rungs {self.rungs_text()}, eta {self.eta:g}"


def preference_order(points: Sequence[Point]) -> list[int]:
    """Indices of ``points`` from best to worst: by value for one objective; for several, by
    non-dominated front, then by crowding distance (larger first), then by arrival."""
    values = np.asarray(points, dtype=float)
    if values.shape[1] == 1:
        return sorted(range(len(points)), key=lambda i: (-values[i, 0], i))
    remaining = np.arange(len(points))
    order: list[int] = []
    while remaining.size:
        mask = pareto_mask(values[remaining])
        front = remaining[mask]
        crowding = _crowding(values[front])
        order.extend(int(front[j]) for j in sorted(range(len(front)),
                                                   key=lambda j: (-crowding[j], front[j])))
        remaining = remaining[~mask]
    return order


def _crowding(values: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row (infinite at each objective's extremes)."""
    n, k = values.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for col in range(k):
        order = np.argsort(values[:, col], kind="stable")
        low, high = values[order[0], col], values[order[-1], col]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high > low:
            gaps = (values[order[2:], col] - values[order[:-2], col]) / (high - low)
            distance[order[1:-1]] += gaps
    return distance


class ASHA(Scheduler):
    """Asynchronous successive halving: continue when in the top ``1/eta`` of the rung so far,
    and always when the best there so far (so the first result at a rung continues: with
    decisions final on arrival, a strict ``floor(n / eta)`` would stop the first ``eta - 1``
    results of every rung, and at small budgets nothing would be trained in full for long)."""

    name = "asha"

    def _continues(self, seen: list[Point], index: int) -> bool:
        keep = max(1, int(len(seen) / self.eta))
        return index in preference_order(seen)[:keep]


class Hyperband(ASHA):
    """Asynchronous Hyperband: ASHA brackets starting at successive rungs.

    Args:
        seed: the campaign seed (brackets are drawn from it and the individual's id).
        brackets: how many brackets (bracket ``s`` starts at rung ``s``); None: one per rung but
            the top.
    """

    name = "hyperband"

    def __init__(self, rungs: Sequence[float], objectives: Sequence[Objective], eta: float = 3.0,
                 resource: str = "epochs", seed: int = 0, brackets: int | None = None) -> None:
        super().__init__(rungs, objectives, eta, resource)
        count = max(1, min(brackets or len(self.rungs) - 1, len(self.rungs) - 1))
        top = len(self.rungs) - 1
        # Hyperband's bracket sizes: n_s proportional to eta^(top - s) / (top - s + 1)
        weights = np.array([eta ** (top - s) / (top - s + 1) for s in range(count)])
        self.weights = weights / weights.sum()
        self.seed = seed

    def bracket(self, individual_id: int) -> int:
        rng = np.random.default_rng([self.seed, BRACKET_STREAM, individual_id])
        return int(rng.choice(len(self.weights), p=self.weights))

    def describe(self) -> str:
        return f"{super().describe()}, {len(self.weights)} brackets"


class MedianStopping(Scheduler):
    """Stop an individual whose result is below the median of its rung so far.

    Args:
        min_results: results a rung must hold before the rule stops anyone there.
    """

    name = "median"

    def __init__(self, rungs: Sequence[float], objectives: Sequence[Objective], eta: float = 3.0,
                 resource: str = "epochs", min_results: int = 3) -> None:
        super().__init__(rungs, objectives, eta, resource)
        self.min_results = min_results

    def _continues(self, seen: list[Point], index: int) -> bool:
        if len(seen) < self.min_results:
            return True
        rank = preference_order(seen).index(index)
        return rank < math.ceil(len(seen) / 2)

    def describe(self) -> str:
        return (f"{self.name}: rungs {self.rungs_text()}, stops below the median once a rung "
                f"has {self.min_results} results")


SCHEDULERS: dict[str, type[Scheduler]] = {
    "asha": ASHA, "hyperband": Hyperband, "median": MedianStopping}
