"""Local search, White et al. 2020, "Local Search is State of the Art for Neural Architecture
Search Benchmarks".

Hill climbing with random restarts, as the authors' code (``naszilla``'s ``local_search``):

1. The first ``initial`` candidates are random genomes (``space.sample``); the best of them is the
   first *current* genome.
2. The neighbours of the current genome (every genome one step away, :func:`neighbours`) are
   evaluated, in random order (``shuffle``, as the reference code's shuffled neighbourhoods; else
   in the neighbourhood's own order); a neighbour evaluated before (the same canonical hash) is
   not asked again, its result is reused.
3. ``improvement: first`` (the default, the reference code's default ``query_full_nbhd=False``):
   as soon as a neighbour told beats the current genome, the search moves to it (the first such
   in hand-out order) and the rest of the old neighbourhood is not asked. ``improvement: best``
   (the paper's Algorithm 1, ``query_full_nbhd=True``): once the whole neighbourhood is told, the
   search moves to the best neighbour if it beats the current genome (ties: the first in
   hand-out order).
4. When no neighbour beats the current genome it is a local optimum and the search restarts: the
   best evaluated random genome not used as a start yet becomes current (one left over from the
   initial design, or an idle worker's filler), or, when there is none, a new random genome is
   asked and becomes current once told.

Neighbourhoods (:func:`neighbours`): a space with a ``neighbours(genome)`` method enumerates its
own; for the DAG spaces every edge's op changes to each other op of the space (for NB201: 6 edges
x 4 other ops = 24 neighbours), skipping changes the space refuses.

Asynchronous (``campaign.order: async``): neighbours are handed out as asked, whatever is still in
flight; a best-improvement move is decided when the last one is told, a first-improvement move as
soon as an improving one is (neighbours of the old genome still in flight are recorded when told
and reused if a later neighbourhood holds them). A worker that asks while nothing is left to hand
out (the end of a neighbourhood, a restart genome in flight) gets a random *filler*, whose result
joins the restart pool above; in birth order the strategy proposes nothing then (something is
always in flight, so the campaign waits).

The state is JSON: the RNG, every result told (canonical hash, id, fitness), what is in flight,
the current genome, its neighbourhood and the queue of neighbours not handed out yet.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from evonas.errors import ConfigError
from evonas.options import Option, OptionSchema
from evonas.strategies.base import Candidate, Evaluated, Strategy
from genomes import DAGGenome, Edge, Genome, GenomeError, SearchSpace, as_search_space
from genomes import genome_from_dict as _genome_from_dict

__all__ = ["LocalSearch", "neighbours"]

#: Draws for a random genome not seen before, before a repeat is accepted.
_RANDOM_TRIES = 100
#: Restarts from genomes already evaluated within one decision, before a start is asked anyway.
_MAX_FREE_RESTARTS = 100

#: One genome of the search and its outcome: ``(genome, individual id, fitness)``.
Point = tuple[Genome, int, float | None]


def neighbours(genome: Genome, space: SearchSpace) -> list[tuple[Genome, dict[str, Any]]]:
    """Every genome one step from ``genome`` in ``space``, with the JSON record of the step.

    The space's own ``neighbours(genome)`` when it has one (genomes, or ``(genome, record)``
    pairs); else, for DAG genomes, each edge's op changed to each other op of the space, edges in
    NAS-Bench-201 order (by destination, then source) and ops in the space's order; changes the
    space refuses (``space.validate``) are skipped.

    Raises:
        TypeError: for a space that has neither (``neat``).
    """
    space = as_search_space(space)
    own = getattr(space, "neighbours", None)
    if callable(own):
        out: list[tuple[Genome, dict[str, Any]]] = []
        for item in own(genome):
            if isinstance(item, tuple):
                out.append((item[0], dict(item[1])))
            else:
                out.append((item, {"op": "neighbour"}))
        return out
    ops = getattr(space, "ops", None)
    if not isinstance(genome, DAGGenome) or not ops:
        raise TypeError(f"space: local search needs a space with a neighbourhood (a "
                        f"neighbours method, or DAG genomes with edge ops); the {space.name} "
                        f"space has none")
    out = []
    for edge in sorted(genome.edges, key=lambda e: (e.dst, e.src)):
        for op in dict.fromkeys(ops):
            if op == edge.op:
                continue
            edges = tuple(Edge(e.src, e.dst, op) if e == edge else e for e in genome.edges)
            child = replace(genome, edges=edges)
            try:
                space.validate(child)
            except GenomeError:
                continue
            out.append((child, {"op": "local_search", "edge": [int(edge.src), int(edge.dst)],
                                "from": edge.op, "to": op}))
    return out


def _point_to_json(point: Point | None) -> list[Any] | None:
    return None if point is None else [point[0].to_dict(), point[1], point[2]]


def _point_from_json(data: list[Any] | None) -> Point | None:
    return None if data is None else (_genome_from_dict(data[0]), int(data[1]), data[2])


def _score(fitness: float | None) -> float:
    return -np.inf if fitness is None else float(fitness)


class LocalSearch(Strategy):
    """First- or best-improvement local search with random restarts (module docstring).

    Args:
        space: the search space (one with a neighbourhood, :func:`neighbours`).
        rng: the strategy's random generator.
        initial: random genomes evaluated first; the best is the first start.
        shuffle: hand out each neighbourhood in random order.
        improvement: ``first`` (move to the first neighbour that improves) or ``best`` (evaluate
            the whole neighbourhood, move to its best).

    Raises:
        ConfigError: for an unknown ``improvement``.
    """

    name = "local_search"
    prescreen_refusal = "waits for every neighbour it hands out"
    warm_start_refusal = "follows its candidates by genome (a replaced random genome would be lost)"
    options: ClassVar[OptionSchema] = OptionSchema(
        Option("initial", 10, "random genomes evaluated first; the best of them is the first "
               "start", low=1, high=1_000_000),
        Option("shuffle", True, "hand out each neighbourhood in random order (else in the "
               "neighbourhood's own order)"),
        Option("improvement", "first", "best: evaluate the whole neighbourhood, move to its best; "
               "first: move to the first neighbour told that beats the current genome",
               choices=("best", "first")),
    )

    @classmethod
    def check_space(cls, space: SearchSpace, label: str) -> None:
        """Refuse a space without a neighbourhood (``neat``)."""
        space = as_search_space(space)
        if not callable(getattr(space, "neighbours", None)) and not (
                getattr(space, "genome_kind", None) == "dag" and getattr(space, "ops", None)):
            raise ConfigError(f"{label}: strategy.name: local_search needs a space with a "
                              f"neighbourhood (nb201, free), not {space.name!r}")

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *,
                 initial: int = 10, shuffle: bool = True, improvement: str = "first") -> None:
        super().__init__(space, rng)
        if improvement not in ("best", "first"):
            raise ConfigError(f"strategy.improvement: must be best or first, got "
                              f"{improvement!r}")
        self.initial = initial
        self.shuffle = shuffle
        self.improvement = improvement
        self.asked = 0
        self.results: dict[str, tuple[int, float | None]] = {}  # hash -> (id, fitness), told
        self.in_flight: dict[str, str] = {}  # hash -> role: init, filler, start, neighbour
        self.spare: list[Point] = []  # evaluated random genomes not used as a start yet
        self.current: Point | None = None
        self.hood: list[tuple[str, Genome, dict[str, Any]]] = []  # the current neighbourhood
        self.queue: list[int] = []  # indices into hood not handed out yet
        self.start: Genome | None = None  # a restart genome to ask
        self.moves = 0
        self.restarts = 0

    def neighbours(self, genome: Genome) -> list[tuple[Genome, dict[str, Any]]]:
        """:func:`neighbours` in this strategy's space."""
        return neighbours(genome, self.space)

    # ----------------------------------------------------------------- contract
    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        self._advance()
        while len(out) < n:
            candidate = self._next()
            if candidate is None:
                break
            out.append(candidate)
        return out

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            key = r.genome.canonical_hash()
            self.results[key] = (r.id, r.fitness)
            role = self.in_flight.pop(key, None)
            if role in ("init", "filler"):
                self.spare.append((r.genome, r.id, r.fitness))
            elif role == "start":
                self._move_to((r.genome, r.id, r.fitness))
        self._advance()

    @property
    def done(self) -> bool:
        return False

    # ----------------------------------------------------------------- the walk
    def _next(self) -> Candidate | None:
        """The next candidate to hand out, or None (birth order, nothing to hand out)."""
        if self.asked < self.initial:
            genome = self._random_new()
            self.in_flight[genome.canonical_hash()] = "init"
            candidate = Candidate(genome)
        elif self.start is not None:
            genome, self.start = self.start, None
            self.in_flight[genome.canonical_hash()] = "start"
            candidate = Candidate(genome, (), {"op": "random", "restart": self.restarts})
        elif self.queue:
            key, genome, record = self.hood[self.queue.pop(0)]
            self.in_flight[key] = "neighbour"
            assert self.current is not None
            candidate = Candidate(genome, (self.current[1],), {**record, "step": self.moves})
        elif self.asynchronous:
            genome = self._random_new()
            self.in_flight.setdefault(genome.canonical_hash(), "filler")
            candidate = Candidate(genome, (), {"op": "random", "filler": True})
        else:
            return None
        self.asked += 1
        return candidate

    def _advance(self) -> None:
        """Move, restart or start wherever the results told so far allow."""
        free_restarts = 0
        while True:
            if self.current is None:
                if self.start is not None or "start" in self.in_flight.values():
                    return  # a restart genome is to be asked or in flight
                if self.asked < self.initial or "init" in self.in_flight.values():
                    return  # the initial design is not told yet
                if self.spare:
                    best = max(range(len(self.spare)), key=lambda i: _score(self.spare[i][2]))
                    self._move_to(self.spare.pop(best))
                    continue
                genome = self._random_new()
                known = self.results.get(genome.canonical_hash())
                if known is not None and free_restarts < _MAX_FREE_RESTARTS:
                    free_restarts += 1
                    self._move_to((genome, known[0], known[1]))
                    continue
                self.start = genome
                return
            if self.improvement == "first":
                better = next((i for i, (key, _, _) in enumerate(self.hood)
                               if key in self.results
                               and _score(self.results[key][1]) > _score(self.current[2])),
                              None)
                if better is not None:
                    key, genome, _ = self.hood[better]
                    self.moves += 1
                    self._move_to((genome, *self.results[key]))
                    continue
            waiting = [key for key, _, _ in self.hood if key not in self.results]
            if waiting:
                return
            best_index = max(range(len(self.hood)),
                             key=lambda i: _score(self.results[self.hood[i][0]][1]),
                             default=None)
            if best_index is not None:
                key, genome, _ = self.hood[best_index]
                ident, fitness = self.results[key]
                if _score(fitness) > _score(self.current[2]):
                    self.moves += 1
                    self._move_to((genome, ident, fitness))
                    continue
            self.restarts += 1
            self.current = None
            self.hood, self.queue = [], []

    def _move_to(self, point: Point) -> None:
        """Make ``point`` current and queue the neighbours of it not evaluated or in flight."""
        self.current = point
        own = point[0].canonical_hash()
        self.hood, seen = [], {own}
        for genome, record in self.neighbours(point[0]):
            key = genome.canonical_hash()
            if key not in seen:
                seen.add(key)
                self.hood.append((key, genome, record))
        if self.shuffle:
            self.hood = [self.hood[i] for i in self.rng.permutation(len(self.hood))]
        self.queue = [i for i, (key, _, _) in enumerate(self.hood)
                      if key not in self.results and key not in self.in_flight]

    def _random_new(self) -> Genome:
        """A random genome neither told nor in flight (a repeat only when many draws fail)."""
        genome = self.space.sample(self.rng)
        for _ in range(_RANDOM_TRIES):
            key = genome.canonical_hash()
            if key not in self.results and key not in self.in_flight:
                break
            genome = self.space.sample(self.rng)
        return genome

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            asked=self.asked, moves=self.moves, restarts=self.restarts,
            results=[[key, ident, fitness] for key, (ident, fitness) in self.results.items()],
            in_flight=dict(self.in_flight),
            spare=[_point_to_json(p) for p in self.spare],
            current=_point_to_json(self.current),
            hood=[[genome.to_dict(), record] for _, genome, record in self.hood],
            queue=list(self.queue),
            start=None if self.start is None else self.start.to_dict(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked = state["asked"]
        self.moves, self.restarts = state["moves"], state["restarts"]
        self.results = {key: (ident, fitness) for key, ident, fitness in state["results"]}
        self.in_flight = dict(state["in_flight"])
        self.spare = [p for p in (_point_from_json(d) for d in state["spare"]) if p is not None]
        self.current = _point_from_json(state["current"])
        self.hood = []
        for data, record in state["hood"]:
            genome = _genome_from_dict(data)
            self.hood.append((genome.canonical_hash(), genome, record))
        self.queue = list(state["queue"])
        self.start = None if state["start"] is None else _genome_from_dict(state["start"])

    def summary(self) -> dict[str, Any]:
        best = max((f for _, f in self.results.values() if f is not None), default=None)
        return {"moves": self.moves, "restarts": self.restarts,
                "best": None if best is None else round(best, 4)}
