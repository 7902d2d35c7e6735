"""NSGA-II, Deb et al. 2002, "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II".

Several objectives at once, each a metric the task reports, maximised or minimised::

    strategy:
      name: nsga2
      population: 20
      objectives:
        - {metric: fitness, goal: max}
        - {metric: params, goal: min}

Each generation:

1. Generation 0 is ``population`` random genomes. Once all are told, DEAP's
   :func:`~deap.tools.selNSGA2` sorts them into non-dominated fronts and gives each member its
   crowding distance.
2. Offspring: ``population`` parents drawn by :func:`~deap.tools.selTournamentDCD` (dominance
   first, then crowding distance), taken in pairs. A pair is crossed over with probability
   ``crossover_prob`` (two children, :func:`operators.crossover_dag` both ways round); then each
   child is mutated with probability ``mutation_prob``. A child that neither touched is a copy
   (``{"op": "reproduce"}``, which the campaign's cache answers for free), as in DEAP's
   ``varAnd``.
3. When the whole generation has been told, the next population is
   ``selNSGA2(population + offspring, population)``: the best fronts, the last one cut by crowding
   distance.

Told asynchronously, a child whose genome the strategy has handed out before (a copy included)
is mutated once more (generation 0: another random genome is drawn), up to
:data:`~evonas.strategies.generation_loop.DUPLICATE_RETRIES` times (see
:mod:`evonas.strategies.generation_loop`).

Failed evaluations (and results with a non-finite objective) rank below every success: they are
kept out of the non-dominated sort and only fill the population when there are too few successes.
Objectives, their parsing and dominance live in :mod:`evonas.objectives`; the Pareto front of a
whole run is :func:`evonas.analysis.pareto.pareto_front`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from deap import base, tools

from evonas.errors import ConfigError
from evonas.objectives import DEFAULT_OBJECTIVES as _DEFAULTS
from evonas.objectives import Objective, parse_objectives
from evonas.options import Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, dag_genome, dag_space
from evonas.strategies.deap_bridge import deap_random
from evonas.strategies.generation_loop import GenerationalStrategy
from genomes import DAGGenome, SearchSpace, genome_from_dict
from operators import crossover_dag, mutate, random_genome

#: Objectives used when the config names none (the config form of
#: :data:`evonas.objectives.DEFAULT_OBJECTIVES`): accuracy up, size down.
DEFAULT_OBJECTIVES: tuple[dict[str, str], ...] = tuple(o.to_dict() for o in _DEFAULTS)


def check_objectives(objectives: Any, label: str | None = None) -> list[dict[str, str]]:
    """:func:`evonas.objectives.parse_objectives` in the config form (``{metric, goal}`` dicts).

    Raises:
        ConfigError: naming the entry at fault, e.g. ``strategy.objectives[1].goal``.
    """
    return [o.to_dict() for o in parse_objectives(objectives, label)]


def check_config(config: dict[str, Any], label: str | None = None) -> None:
    """Checks of an ``nsga2`` strategy config beyond single-field ranges (for ``evonas.config``).

    Args:
        config: the ``strategy:`` mapping.
        label: the config file, to start messages with.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    prefix = f"{label}: " if label else ""
    parse_objectives(config.get("objectives"), label)
    population = config.get("population", 20)
    if population % 4:
        raise ConfigError(f"{prefix}strategy.population: NSGA-II's tournament "
                          f"(selTournamentDCD) needs a multiple of 4, got {population}")
    for prob in ("crossover_prob", "mutation_prob"):
        if config.get(prob, 0) > 1:
            raise ConfigError(f"{prefix}strategy.{prob}: must be at most 1, got {config[prob]}")


def objective_values(result: Evaluated, objectives: Sequence[Objective | dict[str, str]]
                     ) -> tuple[float, ...] | None:
    """The objectives of one result as raw metric values, or None when it failed.

    A result with a non-finite objective counts as failed.

    Raises:
        ConfigError: when a successful result does not report an objective's metric.
    """
    if result.fitness is None:
        return None
    values = []
    for i, objective in enumerate(parse_objectives(list(objectives))):
        if objective.metric != "fitness" and objective.metric not in result.metrics:
            reported = ", ".join(sorted(result.metrics)) or "none"
            raise ConfigError(f"strategy.objectives[{i}].metric: the task does not report "
                              f"{objective.metric!r} (individual {result.id} reports: "
                              f"{reported})")
        value = objective.value(result.fitness, result.metrics)
        if value is None:
            return None
        values.append(value)
    return tuple(values)


class ObjectiveFitness(base.Fitness):
    """A DEAP fitness over ``n`` objectives in maximisation form (weights all 1).

    Values are signed so that larger is better (a minimised metric is negated); a failed
    evaluation has every value ``-inf``, so any success dominates it.
    """

    def __init__(self, n: int, values: Sequence[float] = ()) -> None:
        self.weights = (1.0,) * n
        self.crowding_dist = 0.0
        super().__init__(values)

    def __deepcopy__(self, memo: dict) -> ObjectiveFitness:
        clone = ObjectiveFitness(len(self.weights))
        clone.wvalues = self.wvalues
        clone.crowding_dist = self.crowding_dist
        return clone


class MOMember:
    """A DEAP individual of NSGA-II: a genome, its place in the family tree and its objectives.

    Attributes:
        genome: the architecture.
        id: individual id.
        objectives: raw metric values (None for a failed evaluation).
        fitness: :class:`ObjectiveFitness` with signed values and ``crowding_dist``.
    """

    def __init__(self, genome: DAGGenome, id: int,  # noqa: A002
                 objectives: tuple[float, ...] | None, signs: Sequence[float]) -> None:
        self.genome = genome
        self.id = id
        self.objectives = objectives
        self.fitness = ObjectiveFitness(len(signs))
        if objectives is None:
            self.fitness.values = (-math.inf,) * len(signs)
        else:
            self.fitness.values = tuple(s * v for s, v in zip(signs, objectives, strict=True))

    @property
    def failed(self) -> bool:
        return self.objectives is None

    def to_dict(self) -> dict[str, Any]:
        crowding = self.fitness.crowding_dist
        return {"id": self.id, "genome": self.genome.to_dict(),
                "objectives": None if self.objectives is None else list(self.objectives),
                "crowding": None if math.isinf(crowding) else crowding}

    @classmethod
    def from_dict(cls, data: dict[str, Any], signs: Sequence[float]) -> MOMember:
        objectives = None if data["objectives"] is None else tuple(data["objectives"])
        member = cls(dag_genome(genome_from_dict(data["genome"]), "nsga2"), data["id"],
                     objectives, signs)
        crowding = data["crowding"]
        member.fitness.crowding_dist = math.inf if crowding is None else crowding
        return member


def rank_population(members: list[MOMember], k: int) -> list[MOMember]:
    """NSGA-II survivor selection: ``selNSGA2`` over the successes, failures after them."""
    ok = [m for m in members if not m.failed]
    failed = [m for m in members if m.failed]
    chosen = tools.selNSGA2(ok, min(k, len(ok))) if ok else []
    for m in failed:
        m.fitness.crowding_dist = 0.0
    return chosen + failed[:k - len(chosen)]


class NSGA2(GenerationalStrategy):
    """Multi-objective generational evolution (see the module docstring).

    Args:
        space: the search space.
        rng: the strategy's random generator.
        population: members kept each generation, and children per generation (a multiple of 4,
            as DEAP's ``selTournamentDCD`` needs).
        objectives: ``[{metric: NAME, goal: max|min}, ...]`` (or
            :class:`~evonas.objectives.Objective`): task metrics to optimise (``fitness``
            is the task's fitness). Default: fitness up, ``params`` down.
        crossover_prob: probability that a pair of parents is crossed over (the config also
            takes the older name ``crossover_rate``).
        mutation_prob: probability that a child is mutated (after crossover or not; the two
            chances are independent, as in DEAP's ``varAnd``; older name ``mutation_rate``).
        generations: stop after this many generations (None: the campaign budget decides).
        mutation_weights: relative weights of the mutation operators by name.

    Raises:
        ConfigError: on invalid objectives or a population that is not a multiple of 4.
    """

    name = "nsga2"
    member_lists = ("population",)
    options: ClassVar[OptionSchema] = OptionSchema(
        shared.population(20, "members kept each generation, and children per generation (a "
                          "multiple of 4)"),
        Option("objectives", None, "[{metric: NAME, goal: max|min}, ...] (null: fitness up, "
               "params down)", kind=list),
        shared.crossover_prob(0.5, "chance that a pair of parents is crossed over",
                              aliases=("crossover_rate",)),
        shared.mutation_prob(0.8, "chance that a child is mutated", aliases=("mutation_rate",)),
        shared.generations(),
        shared.mutation_weights(),
        check=check_config,
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 20,
                 objectives: list[dict[str, str] | Objective] | None = None,
                 crossover_prob: float = 0.5, mutation_prob: float = 0.8,
                 generations: int | None = None,
                 mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng, generations)
        check_config({"objectives": objectives, "population": population,
                      "crossover_prob": crossover_prob, "mutation_prob": mutation_prob})
        self.objectives = parse_objectives(objectives)
        self.signs = [o.sign for o in self.objectives]
        self.mu = population
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.mutation_weights = mutation_weights
        self.population: list[MOMember] = []

    def _member(self, result: Evaluated) -> MOMember:
        return MOMember(dag_genome(result.genome, self.name), result.id,
                        objective_values(result, self.objectives), self.signs)

    def _member_from_dict(self, data: dict[str, Any]) -> MOMember:
        return MOMember.from_dict(data, self.signs)

    # ----------------------------------------------------------------- steps
    def _breed(self) -> list[Candidate]:
        if self.generation == 0:
            return [Candidate(random_genome(dag_space(self.space), self.rng), generation=0)
                    for _ in range(self.mu)]
        with deap_random(self.rng):
            parents = tools.selTournamentDCD(self.population, len(self.population))
        children: list[Candidate] = []
        for a, b in zip(parents[0::2], parents[1::2], strict=True):
            if self.rng.random() < self.crossover_prob:
                pair = [self._crossover(a, b), self._crossover(b, a)]
            else:
                pair = [Candidate(a.genome, (a.id,), {"op": "reproduce"}),
                        Candidate(b.genome, (b.id,), {"op": "reproduce"})]
            for child in pair:
                if self.rng.random() < self.mutation_prob:
                    child = self._mutate(child)
                child.generation = self.generation
                children.append(child)
        return children

    def _crossover(self, a: MOMember, b: MOMember) -> Candidate:
        genome, record = crossover_dag(a.genome, b.genome, self.rng, dag_space(self.space))
        return Candidate(genome, (a.id, b.id), record)

    def _mutate(self, child: Candidate) -> Candidate:
        genome, record = mutate(dag_genome(child.genome, self.name), self.rng,
                                dag_space(self.space), self.mutation_weights)
        if child.operator["op"] != "reproduce":  # crossed over, then mutated
            record = {**child.operator, "mutation": record}
        return Candidate(genome, child.parents, record)

    def _rebreed(self, candidate: Candidate) -> Candidate | None:
        if self.generation == 0:
            return Candidate(random_genome(dag_space(self.space), self.rng), generation=0)
        child = self._mutate(candidate)
        child.generation = candidate.generation
        return child

    def generation_size(self) -> int:
        return self.mu

    def discard(self, candidates: list[Candidate]) -> None:
        """Replace screened-out candidates by new ones of their generation (random genomes in
        generation 0, children of a new round of tournaments later), so each generation is still
        whole."""
        self._replace_discarded(candidates)

    def _close_generation(self) -> None:
        self.population = rank_population(self.population + self._told, self.mu)
        self._told = []
        self.generation += 1

    def summary(self) -> dict[str, Any]:
        first = tools.sortNondominated([m for m in self.population if not m.failed],
                                       len(self.population), first_front_only=True)
        return {"generation": self.generation, "front": len(first[0]) if first else 0}
