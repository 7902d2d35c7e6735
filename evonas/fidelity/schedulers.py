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
* :class:`SuccessiveHalving` (synchronous; Jamieson & Talwalkar 2016, the inner loop of Li et
  al. 2017's Hyperband): individuals start in cohorts of ``cohort`` in the order they start; a
  rung of a cohort is decided once every member that reached it has a result there, and then
  its top ``1/eta`` continue. Until then a result *waits* (the campaign gives the free worker a
  new individual, of the next cohort), so decisions see the whole rung, at the price of holding
  back the waiting members' promotions.
* :class:`SynchronousHyperband` (Li et al. 2017's Hyperband as published): successive halving
  in brackets; cohorts go to the brackets in turn (bracket 0, 1, ..., then 0 again), bracket
  ``s`` starts its cohort at rung ``s``, and its cohort holds Hyperband's
  ``ceil((S + 1) / (S - s + 1) * eta ** (S - s))`` members (``S`` the top rung's index), so
  every bracket spends about the same.

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
from dataclasses import dataclass, field
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
    #: Whether a result may wait for others at its rung before it is decided (:meth:`report`
    #: then leaves it undecided, and :meth:`close` decides what waits when nothing else will
    #: come).
    synchronous: ClassVar[bool] = False

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

    def join(self, individual_id: int) -> None:
        """An individual starts its ladder (a synchronous scheduler puts it in a cohort; again
        for one already started changes nothing)."""
        return None

    def report(self, individual_id: int, rung: int, fitness: float | None,
               metrics: dict[str, Any]) -> dict[int, bool]:
        """Record a result at ``rung``; returns the decisions made now, individual id -> whether
        it continues to the next rung. An asynchronous scheduler decides the reporting
        individual at once (:meth:`decide`); a synchronous one may leave it waiting (absent from
        the answer) and decide others that waited for it."""
        return {individual_id: self.decide(individual_id, rung, fitness, metrics)}

    def close(self) -> dict[int, bool]:
        """Decide every rung that has individuals waiting, as it is: nothing more will reach it
        (nothing is in flight and no new individual can start). Asynchronous: nothing waits."""
        return {}

    def waiting(self) -> int:
        """How many individuals wait for their rung's decision."""
        return 0

    def is_waiting(self, individual_id: int) -> bool:
        """Whether this individual waits for its rung's decision."""
        return False

    def decide(self, individual_id: int, rung: int, fitness: float | None,
               metrics: dict[str, Any]) -> bool:
        """Record a result at ``rung`` and say whether the individual continues to the next
        (asynchronous schedulers).

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


@dataclass
class _Rung:
    """One rung of one cohort: who is expected there, and the results in so far."""

    expected: int
    results: list[tuple[int, Point | None]] = field(default_factory=list)


class SuccessiveHalving(Scheduler):
    """Synchronous successive halving: the top ``1/eta`` of a full rung continue.

    Individuals join cohorts of ``cohort`` in the order they start their ladders (the last
    cohort of a campaign may be smaller). A result waits until every member expected at its rung
    has one: all the cohort at the first rung, those promoted from the rung below higher up;
    then the best ``max(1, floor(n / eta))`` of the rung's ``n`` continue, the rest stop. A
    failure stops at once and counts as the rung's worst; the top rung stops at once.
    :meth:`close` decides rungs that cannot fill (the budget is spent) with what they have, and
    seals the cohort being filled, so later starters form a new one.

    Args:
        cohort: members of a cohort; None: ``eta ** (rungs - 1)``, so that one reaches the top.
    """

    name = "successive_halving"
    synchronous = True

    def __init__(self, rungs: Sequence[float], objectives: Sequence[Objective], eta: float = 3.0,
                 resource: str = "epochs", cohort: int | None = None) -> None:
        super().__init__(rungs, objectives, eta, resource)
        self.cohort = cohort or max(2, round(eta ** (len(self.rungs) - 1)))
        self._cohort_of: dict[int, int] = {}  # individual -> its cohort
        self._filling, self._filled = 0, 0  # the cohort being filled, and its members so far
        self._rungs: dict[tuple[int, int], _Rung] = {}
        self._waiting: dict[int, tuple[int, int]] = {}  # individual -> (cohort, rung)

    def join(self, individual_id: int) -> None:
        if individual_id in self._cohort_of:
            return
        self._cohort_of[individual_id] = self._filling
        self._filled += 1
        if self._filled == self.cohort_size(self._filling):
            self._filling, self._filled = self._filling + 1, 0

    def cohort_size(self, cohort: int) -> int:
        """Members of cohort number ``cohort`` (all of them: the last may be sealed short)."""
        return self.cohort

    def cohort_bracket(self, cohort: int) -> int:
        """The bracket (first rung) of cohort number ``cohort``."""
        return 0

    def bracket(self, individual_id: int) -> int:
        cohort = self._cohort_of.get(individual_id)
        if cohort is None:
            raise ValueError(f"individual {individual_id} has not started its ladder")
        return self.cohort_bracket(cohort)

    def report(self, individual_id: int, rung: int, fitness: float | None,
               metrics: dict[str, Any]) -> dict[int, bool]:
        cohort = self._cohort_of.get(individual_id)
        if cohort is None:
            raise ValueError(f"individual {individual_id} reported a rung without starting")
        key = (cohort, rung)
        state = self._rungs.setdefault(key, _Rung(self.cohort_size(cohort)))
        point = self.point(fitness, metrics)
        state.results.append((individual_id, point))
        decisions: dict[int, bool] = {}
        if point is None or rung >= len(self.rungs) - 1:
            decisions[individual_id] = False
        else:
            self._waiting[individual_id] = key
        if len(state.results) >= state.expected:
            decisions.update(self._decide(key))
        return decisions

    def close(self) -> dict[int, bool]:
        decisions: dict[int, bool] = {}
        for key in sorted({key for key in self._waiting.values()}):
            decisions.update(self._decide(key))
        if self._filled:
            self._filling, self._filled = self._filling + 1, 0
        return decisions

    def _decide(self, key: tuple[int, int]) -> dict[int, bool]:
        state = self._rungs[key]
        judged = [(i, p) for i, p in state.results if p is not None]
        keep = min(len(judged), max(1, int(len(state.results) / self.eta)))
        promoted = {judged[j][0] for j in preference_order([p for _, p in judged])[:keep]
                    } if judged else set()
        if key[1] < len(self.rungs) - 1:
            self._rungs[(key[0], key[1] + 1)] = _Rung(len(promoted))
        decisions = {}
        for ind_id, _ in state.results:
            if self._waiting.pop(ind_id, None) is not None:
                decisions[ind_id] = ind_id in promoted
        return decisions

    def waiting(self) -> int:
        return len(self._waiting)

    def is_waiting(self, individual_id: int) -> bool:
        return individual_id in self._waiting

    def decide(self, individual_id: int, rung: int, fitness: float | None,
               metrics: dict[str, Any]) -> bool:
        raise TypeError("successive halving decides whole rungs: call report()")

    def _continues(self, seen: list[Point], index: int) -> bool:  # pragma: no cover
        raise TypeError("successive halving decides whole rungs: call report()")

    def describe(self) -> str:
        return f"{super().describe()}, cohorts of {self.cohort}"


class SynchronousHyperband(SuccessiveHalving):
    """Hyperband as Li et al. 2017 publish it: brackets of synchronous successive halving.

    Cohorts go to the brackets in turn; bracket ``s`` starts at rung ``s`` with a cohort of
    ``ceil((S + 1) / (S - s + 1) * eta ** (S - s))`` (``S`` the top rung's index), Hyperband's
    ``n`` for a bracket of ``S - s`` halvings, so that the brackets spend about the same.

    Args:
        brackets: how many brackets (bracket ``s`` starts at rung ``s``); None: one per rung but
            the top (the last bracket of the paper, which trains everything in full without
            halving, is left out unless asked for: ``brackets`` = the number of rungs).
    """

    name = "synchronous_hyperband"

    def __init__(self, rungs: Sequence[float], objectives: Sequence[Objective], eta: float = 3.0,
                 resource: str = "epochs", brackets: int | None = None) -> None:
        super().__init__(rungs, objectives, eta, resource, cohort=None)
        top = len(self.rungs) - 1
        count = max(1, min(brackets or top, top + 1))
        # (less a hair: a float product such as 4 / 3 * 3 may land just above a whole number)
        self.sizes = [math.ceil((top + 1) / (top - s + 1) * eta ** (top - s) - 1e-9)
                      for s in range(count)]

    def cohort_size(self, cohort: int) -> int:
        return self.sizes[cohort % len(self.sizes)]

    def cohort_bracket(self, cohort: int) -> int:
        return cohort % len(self.sizes)

    def describe(self) -> str:
        return (f"{self.name}: rungs {self.rungs_text()}, eta {self.eta:g}, brackets starting at "
                f"rungs 0-{len(self.sizes) - 1} with cohorts of "
                f"{', '.join(map(str, self.sizes))}")


SCHEDULERS: dict[str, type[Scheduler]] = {
    "asha": ASHA, "hyperband": Hyperband, "median": MedianStopping,
    "successive_halving": SuccessiveHalving, "synchronous_hyperband": SynchronousHyperband}
