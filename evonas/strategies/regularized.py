"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search".

Steady state, one child at a time:

1. The first ``population`` individuals are random genomes.
2. After that, each child is a mutation of the winner of a tournament of ``sample`` members drawn
   at random from the population (DEAP's :func:`~deap.tools.selTournament`, run as
   :func:`~evonas.strategies.deap_bridge.deap_random` runs it: the same draws, the same winner).
3. Every evaluated child joins the population; when it holds more than ``population`` members the
   **oldest** dies, whatever its fitness.

Told asynchronously, a child whose genome was handed out lately (:mod:`evonas.strategies.recent`)
or that the campaign has already (:meth:`Strategy.known`) is mutated again from the same parent,
up to :data:`~evonas.strategies.recent.RETRIES` times, and when all of those are known, mutated
further from the last one, a step at a time: a converged population would otherwise keep
proposing cells the campaign already has (cached copies: individuals without evaluations, while
workers idle). Told in birth order, every child is the first mutation (the textbook algorithm).
"""

from __future__ import annotations

import random
import struct
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from evonas.errors import ConfigError
from evonas.options import MAX_POPULATION, Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, Strategy, dag_genome, dag_space
from evonas.strategies.deap_bridge import Member
from evonas.strategies.recent import RETRIES, RecentGenomes
from genomes import Genome, SearchSpace
from operators import mutate, random_genome


def _check_sample(options: dict[str, Any], label: str) -> None:
    if options["sample"] > options["population"]:
        raise ConfigError(f"{label}: strategy.sample: must not exceed strategy.population "
                          f"({options['population']}), got {options['sample']}")


def tournament(members: Sequence[Member], size: int, rng: np.random.Generator,
               private: random.Random) -> Member:
    """The winner of one tournament of ``size`` members drawn with replacement.

    Exactly ``with deap_random(rng): tools.selTournament(members, 1, size)[0]``: one draw from
    ``rng`` seeds Python's Mersenne Twister, ``size`` ``random.choice`` calls pick the
    aspirants, and the first of the fittest wins (DEAP's ``max`` over fitnesses, whose ``>``
    is ``not <=`` on the weighted values). It seeds ``private`` instead of the global
    ``random`` module, whose state DEAP's run saves and restores anyway, and reads the
    twister's words in one batch: ``random.choice(seq)`` is ``seq[r]`` for the first
    ``r = word >> (32 - k)`` below ``len(seq)``, ``k = len(seq).bit_length()``, one word a try
    (``private`` is seeded anew at every call, so drawing more words than used changes nothing).
    """
    private.seed(int(rng.integers(0, 2**63 - 1)))
    n = len(members)
    shift = 32 - n.bit_length()  # one word a try: populations hold fewer than 2**32 members
    batch = 2 * size + 8  # a try succeeds with probability n / 2**k > 1/2
    words = _words(private, batch)
    used = 0
    best: Member | None = None
    best_w: tuple[float, ...] = ()
    for _ in range(size):
        while True:
            if used == len(words):
                words, used = _words(private, batch), 0
            r = words[used] >> shift
            used += 1
            if r < n:
                break
        aspirant = members[r]
        w = aspirant.fitness.wvalues
        if best is None or not w <= best_w:
            best, best_w = aspirant, w
    assert best is not None  # size >= 1
    return best


def _words(private: random.Random, count: int) -> tuple[int, ...]:
    """The next ``count`` 32-bit outputs of ``private``, in order (``getrandbits(32 * count)``
    holds them little-endian, the first output lowest)."""
    return struct.unpack(f"<{count}I", private.getrandbits(32 * count).to_bytes(4 * count,
                                                                                 "little"))


class RegularizedEvolution(Strategy):
    """Aging evolution.

    Args:
        space: the search space.
        rng: the strategy's random generator.
        population: P, the number of living members.
        sample: S, the tournament size.
        mutation_weights: relative weights of the mutation operators by name.
    """

    name = "regularized_evolution"
    options: ClassVar[OptionSchema] = OptionSchema(
        shared.population(50, "P: living members; the oldest dies when a child joins"),
        Option("sample", 10, "S: members drawn for each parent tournament", low=1,
               high=MAX_POPULATION),
        shared.mutation_weights(),
        check=_check_sample,
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 50,
                 sample: int = 10, mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng)
        self.population_size = population
        self.sample = sample
        self.mutation_weights = mutation_weights
        self.population: deque[Member] = deque()
        self.asked = 0
        self._random = random.Random()  # seeded from rng before each tournament
        self._recent = RecentGenomes()  # told asynchronously: the latest genomes handed out
        # told asynchronously: avoid what the campaign has, walking on from known children
        self._avoid_known = True

    def ask(self, n: int) -> list[Candidate]:
        out = []
        for _ in range(n):
            if self.asked < self.population_size or not self.population:
                candidate = Candidate(random_genome(dag_space(self.space), self.rng))
            else:
                parent = tournament(self.population, self.sample, self.rng, self._random)
                candidate = self._child(parent)
                if self.asynchronous:
                    candidate = self._new_child(parent, candidate)
            if self.asynchronous:
                self._recent.add(RecentGenomes.key(candidate.genome))
            out.append(candidate)
            self.asked += 1
        return out

    def _new_child(self, parent: Member, candidate: Candidate) -> Candidate:
        """Told asynchronously: ``candidate``, or when its genome was handed out lately or the
        campaign has it, another mutation of ``parent`` (up to :data:`RETRIES` times); when
        every one of those is known too, a walk from the last of them, one more mutation at a
        time (up to :data:`RETRIES` steps), whose record lists the steps before its own
        (``via``). Neither the campaign's knowledge nor the walk is used in the state of a
        campaign begun before they existed, so its resume replays the asks it made."""
        for _ in range(RETRIES):
            if not self._handed_out(candidate.genome):
                return candidate
            candidate = self._child(parent)
        if not self._avoid_known:
            return candidate
        via: list[dict[str, Any]] = []
        for _ in range(RETRIES):
            if not self._handed_out(candidate.genome):
                break
            via.append(candidate.operator)
            child, record = mutate(dag_genome(candidate.genome, self.name), self.rng,
                                   dag_space(self.space), self.mutation_weights)
            candidate = Candidate(child, (parent.id,), {**record, "via": list(via)})
        return candidate

    def _handed_out(self, genome: Genome) -> bool:
        """Whether ``genome`` was handed out lately or the campaign has it."""
        return RecentGenomes.key(genome) in self._recent or (self._avoid_known
                                                              and self.known(genome))

    def _child(self, parent: Member) -> Candidate:
        child, record = mutate(dag_genome(parent.genome, self.name), self.rng,
                               dag_space(self.space), self.mutation_weights)
        return Candidate(child, (parent.id,), record)

    def discard(self, candidates: list[Candidate]) -> None:
        """Screened-out candidates give their places back: the first ``population`` genomes
        *kept* are the random ones, so a pre-screen draws a random population of full size."""
        self.asked = max(0, self.asked - len(candidates))

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            member = Member(r.genome, r.id)
            member.set_fitness(r.fitness)
            self.population.append(member)
            while len(self.population) > self.population_size:
                self.population.popleft()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(asked=self.asked, population=[m.to_dict() for m in self.population],
                     avoid_known=self._avoid_known)
        if self._recent:
            state["recent"] = self._recent.to_list()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked = state["asked"]
        self.population = deque(Member.from_dict(m) for m in state["population"])
        self._recent = RecentGenomes(state.get("recent", ()))
        # a state from before it: neither (its resume replays the asks it made)
        self._avoid_known = bool(state.get("avoid_known", False))

    def summary(self) -> dict[str, Any]:
        return {"population": len(self.population)}
