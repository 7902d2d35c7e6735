"""Generational (mu + lambda) evolution with DEAP's variation loop and selection.

Each generation:

1. Generation 0 is ``population`` random genomes.
2. Later generations are ``offspring`` children from :func:`deap.algorithms.varOr`: each child is a
   crossover of two random members (probability ``crossover_prob``, DEAP's ``cxpb``), a mutation
   of one (``mutation_prob``, DEAP's ``mutpb``), or a
   copy (the rest; copies cost nothing, the campaign's cache answers them).
3. When the whole generation has been told, the next population is ``select(population +
   offspring, mu)`` with :func:`deap.tools.selBest` or :func:`deap.tools.selTournament`, as in
   :func:`deap.algorithms.eaMuPlusLambda`.

Told asynchronously, a child whose genome the strategy has handed out before is mutated once
more (generation 0: another random genome is drawn), up to
:data:`~evonas.strategies.generation_loop.DUPLICATE_RETRIES` times, so a converged population
keeps proposing cells the campaign has not evaluated yet (see
:mod:`evonas.strategies.generation_loop`). Copies (``{"op": "reproduce"}``, when
``crossover_prob + mutation_prob < 1``) are kept as they are.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from deap import algorithms, base, tools

from evonas.errors import ConfigError
from evonas.options import MAX_POPULATION, Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, dag_genome, dag_space
from evonas.strategies.deap_bridge import Member, deap_random
from evonas.strategies.generation_loop import GenerationalStrategy
from genomes import SearchSpace
from operators import crossover_dag, mutate, random_genome


def _check_probabilities(options: dict[str, Any], label: str) -> None:
    """DEAP's varOr picks crossover, mutation or a copy: the two chances may not exceed 1."""
    if options["crossover_prob"] + options["mutation_prob"] > 1:
        raise ConfigError(f"{label}: strategy.mutation_prob: crossover_prob + mutation_prob "
                          "(cxpb + mutpb) must be at most 1")


class GenerationalEvolution(GenerationalStrategy):
    """(mu + lambda) evolution.

    Args:
        space: the search space.
        rng: the strategy's random generator.
        population: mu, the number of survivors kept each generation (and the initial size).
        offspring: lambda, children per generation.
        crossover_prob: probability that a child comes from crossover (DEAP's ``cxpb``; the
            config also takes that name).
        mutation_prob: probability that a child comes from mutation (``mutpb``;
            ``crossover_prob + mutation_prob <= 1``).
        selection: ``best`` (truncation, DEAP's selBest) or ``tournament`` (selTournament).
        tournament_size: contestants per tournament when ``selection`` is ``tournament``.
        generations: stop after this many generations (None: the campaign budget decides).
        mutation_weights: relative weights of the mutation operators by name.
    """

    name = "generational"
    member_lists = ("population",)
    options: ClassVar[OptionSchema] = OptionSchema(
        shared.population(20, "mu: survivors kept each generation (and the first size)"),
        Option("offspring", 20, "lambda: children per generation", low=1, high=MAX_POPULATION),
        shared.crossover_prob(0.3, aliases=("cxpb",)),
        shared.mutation_prob(0.7, aliases=("mutpb",)),
        Option("selection", "best", "survivor selection: best (selBest) or tournament",
               choices=("best", "tournament")),
        shared.tournament_size(),
        shared.generations(),
        shared.mutation_weights(),
        check=_check_probabilities,
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 20,
                 offspring: int = 20, crossover_prob: float = 0.3, mutation_prob: float = 0.7,
                 selection: str = "best", tournament_size: int = 3,
                 generations: int | None = None,
                 mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng, generations)
        self.mu = population
        self.lambda_ = offspring
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
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
                                        self.crossover_prob, self.mutation_prob)
        out = []
        for child in children:
            if child.fitness.valid:  # varOr's reproduction branch: an unchanged member
                out.append(Candidate(child.genome, (child.id,), {"op": "reproduce"},
                                     self.generation))
            else:
                out.append(Candidate(child.genome, child.parents, child.operator,
                                     self.generation))
        return out

    def _rebreed(self, candidate: Candidate) -> Candidate | None:
        if candidate.operator.get("op") == "reproduce":
            return None  # a copy is what varOr's reproduction branch asks for
        space = dag_space(self.space)
        if self.generation == 0:
            return Candidate(random_genome(space, self.rng), generation=0)
        genome, record = mutate(dag_genome(candidate.genome, self.name), self.rng, space,
                                self.mutation_weights)
        return Candidate(genome, candidate.parents, {**candidate.operator, "mutation": record},
                         candidate.generation)

    def generation_size(self) -> int:
        return self.mu if self.generation == 0 else self.lambda_

    def discard(self, candidates: list[Candidate]) -> None:
        """Replace screened-out candidates by new ones of their generation (random genomes in
        generation 0, children bred by ``varOr`` later), so each generation is still whole."""
        self._replace_discarded(candidates)

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

