"""The generation loop shared by generational strategies ((mu + lambda), NSGA-II, NEAT).

A generational strategy breeds a whole generation at once, hands it out across ``ask`` calls,
waits until every member has been told, then closes the generation (selection, speciation...)
and breeds the next. Subclasses say how to breed, how to wrap a told result as a member, and how
to close a generation; this class keeps the queue and the counters and their resumable state.

Told asynchronously (:attr:`Strategy.asynchronous`), a generational strategy never idles the
workers at a generation's end: when its queue runs dry and fewer than a generation's worth of
candidates are out, it breeds another batch from the parents it has (the last closed generation),
and a generation closes as soon as
:meth:`~GenerationalStrategy.generation_size` results have been told, in the order they arrived
(later results count towards the next one). Generations overlap by what is in flight, as in
asynchronous evolution strategies; told in birth order, they are the textbook ones.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from evonas.strategies.base import Candidate, Evaluated, Strategy
from evonas.strategies.deap_bridge import Member
from genomes import SearchSpace


class GenerationalStrategy(Strategy):
    """Base class: ``ask`` hands out the current generation, ``tell`` collects it.

    Args:
        space: the search space.
        rng: the strategy's random generator.
        generations: stop after this many generations (None: the campaign budget decides).
    """

    def __init__(self, space: SearchSpace, rng: np.random.Generator,
                 generations: int | None = None) -> None:
        super().__init__(space, rng)
        self.generations = generations
        self.generation = 0
        self._told: list[Any] = []
        self._queue: list[Candidate] = []
        self._waiting = 0

    @abc.abstractmethod
    def _breed(self) -> list[Candidate]:
        """The candidates of generation ``self.generation``."""

    def _member(self, result: Evaluated) -> Any:
        """A told result as a member of this strategy's population (default: a DEAP
        :class:`~evonas.strategies.deap_bridge.Member`)."""
        member = Member(result.genome, result.id)
        member.set_fitness(result.fitness)
        return member

    def _member_from_dict(self, data: dict[str, Any]) -> Any:
        """Rebuild a member from its ``to_dict()`` form."""
        return Member.from_dict(data)

    @abc.abstractmethod
    def generation_size(self) -> int:
        """How many told results make generation ``self.generation`` (what it breeds)."""

    @abc.abstractmethod
    def _close_generation(self) -> None:
        """Consume ``self._told`` (the whole generation), then advance ``self.generation``."""

    @property
    def done(self) -> bool:
        return self.generations is not None and self.generation >= self.generations

    def ask(self, n: int) -> list[Candidate]:
        # Told asynchronously, breed ahead while fewer than a generation's worth are out (more
        # workers than that would otherwise draw the whole budget from the parents at hand).
        ahead = self.asynchronous and self._waiting < self.generation_size()
        if not self._queue and (self._waiting == 0 or ahead) and not self.done:
            self._queue = self._breed()
        taken, self._queue = self._queue[:n], self._queue[n:]
        self._waiting += len(taken)
        return taken

    def tell(self, results: list[Evaluated]) -> None:
        self._told.extend(self._member(r) for r in results)
        self._waiting -= len(results)
        if not self.asynchronous:
            if self._waiting == 0 and not self._queue and self._told:
                self._close_generation()
            return
        while not self.done and len(self._told) >= (size := self.generation_size()):
            later = self._told[size:]
            self._told = self._told[:size]
            self._close_generation()
            self._told = later + self._told

    #: Attributes holding lists of members (the population...), saved and restored with them.
    member_lists: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(generation=self.generation, told=[m.to_dict() for m in self._told],
                     queue=[c.to_dict() for c in self._queue], waiting=self._waiting)
        for name in self.member_lists:
            state[name] = [m.to_dict() for m in getattr(self, name)]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generation = state["generation"]
        self._told = [self._member_from_dict(m) for m in state["told"]]
        self._queue = [Candidate.from_dict(c) for c in state["queue"]]
        self._waiting = state["waiting"]
        for name in self.member_lists:
            setattr(self, name, [self._member_from_dict(m) for m in state[name]])
