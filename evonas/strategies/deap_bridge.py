"""Glue between DEAP's tools and the engine's explicit random generators.

DEAP's variation and selection functions draw from Python's global :mod:`random` module. The
engine's rule is one explicit ``numpy.random.Generator`` per component, so every call into DEAP runs
inside :func:`deap_random`, which seeds a private state from the strategy's generator and puts the
caller's global state back afterwards. DEAP then behaves deterministically under the strategy's
seed, and nothing leaks into (or out of) the global RNG.

DEAP individuals need a ``fitness`` attribute; :class:`Member` is a module-level class (no
``deap.creator`` runtime globals), so it pickles and documents itself.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
from deap import base

from genomes import Genome, genome_from_dict


class MaxFitness(base.Fitness):
    """A single maximised objective."""

    weights = (1.0,)


class Member:
    """A DEAP individual wrapping a genome and its place in the family tree.

    Attributes:
        genome: the architecture.
        id: individual id (a bred child keeps the id of the member it was cloned from until
            it is handed out as a candidate).
        parents: parent ids.
        operator: JSON record of the operator that made it.
        fitness: DEAP fitness; a failed evaluation is stored as ``-inf``.
    """

    def __init__(self, genome: Genome, id: int,  # noqa: A002
                 parents: tuple[int, ...] = (), operator: dict[str, Any] | None = None) -> None:
        self.genome = genome
        self.id = id
        self.parents = parents
        self.operator = operator or {"op": "random"}
        self.fitness = MaxFitness()

    def set_fitness(self, value: float | None) -> None:
        self.fitness.values = (-math.inf if value is None else float(value),)

    @property
    def fitness_value(self) -> float | None:
        if not self.fitness.valid:
            return None
        value = self.fitness.values[0]
        return None if value == -math.inf else value

    def __deepcopy__(self, memo: dict) -> Member:
        # toolbox.clone deep-copies; genomes are immutable so a shallow copy is enough.
        clone = Member(self.genome, self.id, self.parents, dict(self.operator))
        if self.fitness.valid:
            clone.fitness.values = self.fitness.values
        return clone

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "genome": self.genome.to_dict(), "parents": list(self.parents),
                "fitness": self.fitness_value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Member:
        """Rebuild an evaluated member from :meth:`to_dict`."""
        member = cls(genome_from_dict(data["genome"]), data["id"], tuple(data["parents"]))
        member.set_fitness(data["fitness"])
        return member


@contextlib.contextmanager
def deap_random(rng: np.random.Generator) -> Iterator[None]:
    """Run DEAP code with Python's ``random`` seeded from ``rng``, restoring it afterwards."""
    saved = random.getstate()
    random.seed(int(rng.integers(0, 2**63 - 1)))
    try:
        yield
    finally:
        random.setstate(saved)
