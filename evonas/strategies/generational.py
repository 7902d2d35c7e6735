"""Generational (mu + lambda) evolution with DEAP's variation loop and selection.

Each generation:

1. Generation 0 is ``population`` random genomes.
2. Later generations are ``offspring`` children from :func:`deap.algorithms.varOr`: each child is a
   crossover of two random members (probability ``cxpb``), a mutation of one (``mutpb``), or a
   copy (the rest; copies cost nothing, the campaign's cache answers them).
3. When the whole generation has been told, the next population is ``select(population +
   offspring, mu)`` with :func:`deap.tools.selBest` or :func:`deap.tools.selTournament`, as in
   :func:`deap.algorithms.eaMuPlusLambda`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from deap import algorithms, base, tools

from evonas.strategies.base import Candidate, dag_genome, dag_space
from evonas.strategies.deap_bridge import Member, deap_random
from evonas.strategies.generations import GenerationalStrategy
from genomes import SearchSpace
from operators import crossover_dag, mutate, random_genome


class GenerationalEvolution(GenerationalStrategy):
    """(mu + lambda) evolution.

    Args:
        space: the search space.
        rng: the strategy's random generator.
        population: mu, the number of survivors kept each generation (and the initial size).
        offspring: lambda, children per generation.
        cxpb: probability that a child comes from crossover.
        mutpb: probability that a child comes from mutation (``cxpb + mutpb <= 1``).
        selection: ``best`` (truncation, DEAP's selBest) or ``tournament`` (selTournament).
        tournament_size: contestants per tournament when ``selection`` is ``tournament``.
        generations: stop after this many generations (None: the campaign budget decides).
        mutation_weights: relative weights of the mutation operators by name.
    """

    name = "generational"
    member_lists = ("population",)

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 20,
                 offspring: int = 20, cxpb: float = 0.3, mutpb: float = 0.7,
                 selection: str = "best", tournament_size: int = 3,
                 generations: int | None = None,
                 mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng, generations)
        self.mu = population
        self.lambda_ = offspring
        self.cxpb = cxpb
        self.mutpb = mutpb
        self.selection = selection
        self.tournament_size = tournament_size
        self.mutation_weights = mutation_weights
        self.population: list[Member] = []
        self._toolbox = self._make_toolbox()

    def _make_toolbox(self) -> base.Toolbox:
        toolbox = base.Toolbox()
        toolbox.register("mate", self._mate)
        toolbox.register("mutate", self._mutate)
        if self.selection == "tournament":
            toolbox.register("select", tools.selTournament, tournsize=self.tournament_size)
        else:
            toolbox.register("select", tools.selBest)
        return toolbox

    def _mate(self, a: Member, b: Member) -> tuple[Member, Member]:
        child, record = crossover_dag(dag_genome(a.genome, self.name),
                                      dag_genome(b.genome, self.name), self.rng,
                                      dag_space(self.space))
        a.genome, a.parents, a.operator = child, (a.id, b.id), record
        return a, b

    def _mutate(self, a: Member) -> tuple[Member]:
        child, record = mutate(dag_genome(a.genome, self.name), self.rng, dag_space(self.space),
                               self.mutation_weights)
        a.genome, a.parents, a.operator = child, (a.id,), record
        return (a,)


    def _breed(self) -> list[Candidate]:
        if self.generation == 0:
            return [Candidate(random_genome(dag_space(self.space), self.rng), generation=0)
                    for _ in range(self.mu)]
        with deap_random(self.rng):
            children = algorithms.varOr(self.population, self._toolbox, self.lambda_,
                                        self.cxpb, self.mutpb)
        out = []
        for child in children:
            if child.fitness.valid:  # varOr's reproduction branch: an unchanged member
                out.append(Candidate(child.genome, (child.id,), {"op": "reproduce"},
                                     self.generation))
            else:
                out.append(Candidate(child.genome, child.parents, child.operator,
                                     self.generation))
        return out

    def generation_size(self) -> int:
        return self.mu if self.generation == 0 else self.lambda_

    def _close_generation(self) -> None:
        if self.generation == 0:
            self.population = list(self._told)
        else:
            with deap_random(self.rng):
                self.population = self._toolbox.select(self.population + self._told, self.mu)
        self._told = []
        self.generation += 1

    def summary(self) -> dict[str, Any]:
        return {"generation": self.generation}
