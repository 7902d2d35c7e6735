"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search".

Steady state, one child at a time:

1. The first ``population`` individuals are random genomes.
2. After that, each child is a mutation of the winner of a tournament of ``sample`` members drawn
   at random from the population (DEAP's :func:`~deap.tools.selTournament`).
3. Every evaluated child joins the population; when it holds more than ``population`` members the
   **oldest** dies, whatever its fitness.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from deap import tools

from evonas.strategies.base import Candidate, Evaluated, Strategy, dag_genome, dag_space
from evonas.strategies.deap_bridge import Member, deap_random
from genomes import SearchSpace
from operators import mutate, random_genome


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

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 50,
                 sample: int = 10, mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng)
        self.population_size = population
        self.sample = sample
        self.mutation_weights = mutation_weights
        self.population: deque[Member] = deque()
        self.asked = 0

    def ask(self, n: int) -> list[Candidate]:
        out = []
        for _ in range(n):
            if self.asked < self.population_size or not self.population:
                out.append(Candidate(random_genome(dag_space(self.space), self.rng)))
            else:
                with deap_random(self.rng):
                    (parent,) = tools.selTournament(list(self.population), 1, self.sample)
                child, record = mutate(dag_genome(parent.genome, self.name), self.rng,
                                       dag_space(self.space), self.mutation_weights)
                out.append(Candidate(child, (parent.id,), record))
            self.asked += 1
        return out

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            member = Member(r.genome, r.id)
            member.set_fitness(r.fitness)
            self.population.append(member)
            while len(self.population) > self.population_size:
                self.population.popleft()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(asked=self.asked, population=[m.to_dict() for m in self.population])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked = state["asked"]
        self.population = deque(Member.from_dict(m) for m in state["population"])

    def summary(self) -> dict[str, Any]:
        return {"population": len(self.population)}
