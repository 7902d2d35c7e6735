"""The Strategy contract shared by every search strategy.

A strategy proposes candidates and learns from their results; it never evaluates anything itself.
The campaign drives it:

1. ``ask(n)`` returns up to ``n`` new candidates (a genome, the ids of its parents and a JSON record
   of the operator that made it). It may return fewer, or none while it waits for results (a
   generational strategy waits for its whole generation).
2. The campaign gives every candidate an individual id (birth order), evaluates it, and calls
   ``tell(results)`` with the results **in birth order**. Because asks only happen between tells,
   the whole sequence of asks and tells is a deterministic function of the results, which is what
   makes resume-by-replay exact.
3. ``state_dict()`` / ``load_state_dict()`` capture everything, RNG state included, as JSON-safe
   data; ``done`` says the strategy has nothing more to propose.
4. ``bind_task(task_config)`` comes first, once: a strategy that trains on the task's data (DARTS)
   builds it there. The time such a strategy spends proposing a candidate goes in its operator
   record as ``search_seconds`` and counts as device time (:func:`search_seconds`).
5. ``discard(candidates)``: candidates it asked for that will never be evaluated nor told (a
   pre-screen, :mod:`evonas.strategies.prescreen`, asks for more than it keeps). A strategy that
   keeps state per candidate handed out (pending samples, a generation waiting to be told) drops
   it there, so that it neither leaks nor waits for them; by default there is nothing to do.
   Discards happen inside an ask of the wrapper, never between a tell and the next ask, so the
   state a snapshot captures never holds a discarded candidate.

Randomness comes only from the ``numpy.random.Generator`` the strategy is built with.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

import numpy as np

from evonas.options import OptionSchema
from genomes import (
    CPPNGenome,
    DAGGenome,
    DAGSpace,
    Genome,
    GenomeError,
    SearchSpace,
    as_search_space,
    genome_from_dict,
    genome_kind_of,
)


@dataclass
class Candidate:
    """A genome proposed by a strategy, not yet evaluated.

    Attributes:
        genome: the proposed architecture.
        parents: individual ids of its parents (empty for random genomes).
        operator: JSON record of how it was made (``{"op": "random"}``, a mutation record...).
        generation: the generation it belongs to, where the strategy has generations.
    """

    genome: Genome
    parents: tuple[int, ...] = ()
    operator: dict[str, Any] = field(default_factory=lambda: {"op": "random"})
    generation: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for strategy states that hold candidates not yet handed out)."""
        return {"genome": self.genome.to_dict(), "parents": list(self.parents),
                "operator": self.operator, "generation": self.generation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(genome_from_dict(data["genome"]), tuple(data["parents"]), data["operator"],
                   data["generation"])


@dataclass
class Evaluated:
    """An individual with its outcome, as a strategy is told it.

    Attributes:
        id: the individual id (birth order).
        genome: its genome.
        fitness: the value to maximise, or None when the evaluation failed.
        metrics: every metric the task reported.
    """

    id: int
    genome: Genome
    fitness: float | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Fitness for comparisons: a failed evaluation ranks below every success."""
        return -math.inf if self.fitness is None else self.fitness

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "genome": self.genome.to_dict(), "fitness": self.fitness}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluated:
        return cls(data["id"], genome_from_dict(data["genome"]), data["fitness"])


def dag_space(space: SearchSpace) -> DAGSpace:
    """``space``, checked to be one the DAG operators work in (for strategies that breed DAGs
    only): it holds DAG genomes (``genome_kind: dag``) and says whether its topology is fixed
    (``fixed_topology``, see :mod:`genomes.space`).

    Raises:
        TypeError: for another space (as the DAG operators do).
    """
    if getattr(space, "genome_kind", None) != "dag" or not hasattr(space, "fixed_topology"):
        raise TypeError(f"space: expected NB201Space or FreeSpace, got {type(space).__name__}")
    return cast("DAGSpace", space)


_G = TypeVar("_G", DAGGenome, CPPNGenome)


def genome_of_kind(genome: Genome, kind: type[_G], strategy: str) -> _G:
    """``genome``, checked to be a ``kind`` (for strategies that breed one kind only).

    Raises:
        GenomeError: when it is another kind of genome.
    """
    if not isinstance(genome, kind):
        raise GenomeError(f"the {strategy} strategy breeds {genome_kind_of(kind).label} genomes, "
                          f"got {type(genome).__name__}")
    return genome


def dag_genome(genome: Genome, strategy: str) -> DAGGenome:
    """``genome``, checked to be a DAG genome (see :func:`genome_of_kind`)."""
    return genome_of_kind(genome, DAGGenome, strategy)


def cppn_genome(genome: Genome, strategy: str) -> CPPNGenome:
    """``genome``, checked to be a CPPN genome (see :func:`genome_of_kind`)."""
    return genome_of_kind(genome, CPPNGenome, strategy)


class Strategy(abc.ABC):
    """Base class of search strategies (see the module docstring for the contract).

    Args:
        space: the search space genomes are drawn from.
        rng: the strategy's own random generator, seeded from the campaign seed.
    """

    #: Name used in configs (``strategy.name``).
    name: str = ""
    #: Set by the campaign before the first ask: True when results are told as they arrive
    #: (``campaign.order: async``), not in birth order. A strategy that would wait for a whole
    #: batch of results before it proposes more should then keep proposing instead.
    asynchronous: bool = False
    #: The options ``strategy:`` may set (the constructor's keyword arguments), with defaults,
    #: ranges and docs; the config layer validates a config's ``strategy:`` mapping with it.
    options: ClassVar[OptionSchema] = OptionSchema()
    #: Why the ``prescreen:`` wrapper cannot screen this strategy's candidates (it would lose
    #: or wait for a candidate it handed out that never comes back); empty: it can.
    prescreen_refusal: ClassVar[str] = ""
    #: Why the ``warm_start:`` wrapper cannot replace this strategy's random genomes; empty: it
    #: can.
    warm_start_refusal: ClassVar[str] = ""

    @classmethod
    def label(cls, options: dict[str, Any]) -> str:
        """How comparisons name runs of this strategy with these options (default: its name;
        DARTS adds its order, ``darts-2nd``)."""
        return cls.name

    @classmethod
    def check_space(cls, space: SearchSpace, label: str) -> None:
        """Refuse a search space this strategy cannot search (a :class:`ConfigError` naming
        ``strategy.name`` or ``space.name``); every space is accepted by default."""
        return None

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self.space: SearchSpace = as_search_space(space)
        self.rng = rng

    @abc.abstractmethod
    def ask(self, n: int) -> list[Candidate]:
        """Propose up to ``n`` new candidates (possibly none while waiting for results)."""

    @abc.abstractmethod
    def tell(self, results: list[Evaluated]) -> None:
        """Learn from evaluated individuals, given in birth order."""

    @property
    def done(self) -> bool:
        """True when the strategy will propose nothing more."""
        return False

    def discard(self, candidates: list[Candidate]) -> None:
        """Forget candidates returned by :meth:`ask` that will never be evaluated or told.

        Called by a wrapper that screens what this strategy proposes (the pre-screen of
        :mod:`evonas.strategies.prescreen`) with the candidates it screened out, exactly as
        :meth:`ask` returned them, before it asks again. A strategy whose state counts or holds
        the candidates it handed out (a generation it waits for, pending samples of a policy)
        undoes that here; the default does nothing, which is right for a strategy that learns
        only from what it is told.

        Args:
            candidates: the screened-out candidates, each returned by an earlier ``ask``.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state, RNG included. Subclasses extend it."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rng.bit_generator.state = state["rng"]

    def summary(self) -> dict[str, Any]:
        """A few numbers for progress displays (generation, population size...)."""
        return {}

    @classmethod
    def check_task(cls, task: Any) -> None:
        """Reject a task this strategy cannot work with (raise ``ConfigError``). Default: any.

        Called on the task built from the config, before a run folder is created.
        """
        return None

    def bind_task(self, task_config: dict[str, Any]) -> None:
        """Receive the campaign's ``task:`` config before the first ask or state load.

        Strategies that never look at the task (every evolutionary one) ignore it; DARTS builds
        the task in the campaign process to train its supernet on the task's data.
        """
        return None

    def known(self, genome: Genome) -> bool:
        """Whether the campaign has ``genome`` already: an individual born before this ask with
        the same canonical hash (evaluated, in flight or a cached copy). Default: nothing is
        known; a campaign binds its own answer with :meth:`bind_known`.

        Told asynchronously, a strategy that can breed a candidate again asks it so that it
        proposes genomes the campaign does not have (a known one costs an individual and no
        evaluation, and a converged population would propose little else).
        """
        answer = self.__dict__.get("_known")
        return answer is not None and answer(genome)

    def bind_known(self, known: Callable[[Genome], bool]) -> None:
        """Answer :meth:`known` with ``known`` (the campaign binds it before the first ask).

        Its answers depend only on the individuals born before each ask, so the asks a resumed
        campaign replays get the answers the first run got.
        """
        self.__dict__["_known"] = known


def search_seconds(operator: dict[str, Any]) -> float:
    """Device-seconds a strategy spent to propose a candidate, from its operator record.

    A strategy that computes to propose (DARTS trains a supernet) puts ``search_seconds`` in the
    record; the campaign and every report add it to the run's device-seconds, so budgets and
    comparisons count it. Zero for the rest.
    """
    value = operator.get("search_seconds") if isinstance(operator, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
