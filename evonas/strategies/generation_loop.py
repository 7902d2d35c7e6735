"""The generation loop shared by generational strategies ((mu + lambda), NSGA-II, NEAT).

A generational strategy breeds a whole generation at once, hands it out across ``ask`` calls,
waits until every member has been told, then closes the generation (selection, speciation...)
and breeds the next. Subclasses say how to breed, how to wrap a told result as a member, and how
to close a generation; this class keeps the queue and the counters and their resumable state.

Told asynchronously (:attr:`Strategy.asynchronous`), a generational strategy never idles the
workers at a generation's end: whenever its queue runs dry it breeds another batch from the
parents it has (the last closed generation), so every free worker gets a candidate at once, and
a generation closes as soon as
:meth:`~GenerationalStrategy.generation_size` results have been told, in the order they arrived
(later results count towards the next one). Generations overlap by what is in flight, as in
asynchronous evolution strategies: with more workers than a generation holds (64 workers,
``offspring: 20``), several batches bred from the same parents are out at once (a generation
size of at least the worker count keeps that to about one); told in birth order, they are the
textbook ones.

Told asynchronously, a strategy that can breed a single candidate again (:meth:`_rebreed`:
(mu + lambda) and NSGA-II mutate the child once more, generation 0 draws another random genome)
also keeps its proposals new: a bred candidate whose genome (canonical hash) the strategy has
handed out before, or that repeats one of its own batch, or that the campaign has already
(:meth:`Strategy.known`; not for a state saved before that check existed), is bred again, up to
:data:`DUPLICATE_RETRIES` times (:mod:`evonas.strategies.recent`). Told in birth order, nothing
is bred again (the textbook algorithm, bit-identical reruns).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from evonas.strategies.base import Candidate, Evaluated, Strategy
from evonas.strategies.deap_bridge import Member
from evonas.strategies.recent import RETRIES, RecentGenomes
from genomes import SearchSpace

#: Told asynchronously: how many times a bred candidate whose genome was handed out lately is
#: bred again (:meth:`GenerationalStrategy._rebreed`) before it is kept as it is.
DUPLICATE_RETRIES = RETRIES


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
        self._seen = RecentGenomes()  # told asynchronously: the latest genomes bred
        self._avoid_known = True  # told asynchronously: also breed again what the campaign has

    def _rebreed(self, candidate: Candidate) -> Candidate | None:
        """Another candidate in place of ``candidate``, whose genome was handed out before (told
        asynchronously; see the module docstring), or None to keep it (the default)."""
        return None

    def _bred(self) -> list[Candidate]:
        """:meth:`_breed`, then, told asynchronously, each candidate that repeats a genome handed
        out before bred again (up to :data:`DUPLICATE_RETRIES` times)."""
        candidates = self._breed()
        if not self.asynchronous or type(self)._rebreed is GenerationalStrategy._rebreed:
            return candidates
        seen = self._seen
        out = []
        for candidate in candidates:
            key = RecentGenomes.key(candidate.genome)
            for _ in range(DUPLICATE_RETRIES):
                if key not in seen and not (self._avoid_known and self.known(candidate.genome)):
                    break
                again = self._rebreed(candidate)
                if again is None:
                    break
                candidate = again
                key = RecentGenomes.key(candidate.genome)
            seen.add(key)
            out.append(candidate)
        return out

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
        # Told asynchronously, breed another batch whenever the queue is dry: a free worker
        # never waits for a generation to close.
        if not self._queue and (self._waiting == 0 or self.asynchronous) and not self.done:
            self._queue = self._bred()
        taken, self._queue = self._queue[:n], self._queue[n:]
        self._waiting += len(taken)
        return taken

    def _replace_discarded(self, candidates: list[Candidate]) -> None:
        """Forget screened-out candidates and queue as many new ones of the same generation
        (bred by :meth:`_breed` again, its first ones taken), so that the generation still
        closes with :meth:`generation_size` told members. For subclasses whose ``_breed`` has no
        effect but on the generator (their ``discard`` calls this)."""
        self._waiting = max(0, self._waiting - len(candidates))
        needed = len(candidates)
        while needed > 0 and not self.done:
            bred = self._breed()[:needed]
            if not bred:
                break
            self._queue.extend(bred)
            needed -= len(bred)

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
                     queue=[c.to_dict() for c in self._queue], waiting=self._waiting,
                     avoid_known=self._avoid_known)
        if self._seen:
            state["seen"] = self._seen.to_list()
        for name in self.member_lists:
            state[name] = [m.to_dict() for m in getattr(self, name)]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generation = state["generation"]
        self._told = [self._member_from_dict(m) for m in state["told"]]
        self._queue = [Candidate.from_dict(c) for c in state["queue"]]
        self._waiting = state["waiting"]
        self._seen = RecentGenomes(state.get("seen", ()))
        # a state from before it: no (its resume replays the asks it made)
        self._avoid_known = bool(state.get("avoid_known", False))
        for name in self.member_lists:
            setattr(self, name, [self._member_from_dict(m) for m in state[name]])
