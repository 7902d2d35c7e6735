"""SPOS, Guo et al. 2020, "Single Path One-Shot Neural Architecture Search with Uniform Sampling",
on the NB201 cell space.

1. **Supernet training.** The weight-sharing supernet (:mod:`evonas.strategies.one_shot`) trains
   ``epochs`` epochs on the task's train split; every batch trains one path drawn **uniformly**
   (each edge's op independently), so every cell's weights are trained about equally and the
   supernet does not favour the cells it has seen most (SGD with momentum, cosine-annealed).
2. **Evolutionary search on inherited weights.** Aging evolution
   (:class:`~evonas.strategies.regularized.RegularizedEvolution`: tournaments of ``sample`` among
   the last ``population`` members, mutation with ``mutation_weights``) proposes ``evaluations``
   cells, each cell's fitness its **supernet accuracy** (validation accuracy with the supernet's
   weights after batch-norm recalibration). A cell seen before is not scored again.
3. **Stand-alone training.** The ``top_k`` cells of highest supernet accuracy are proposed, best
   first; the campaign trains them from scratch with the task's recipe.

The supernet's training and every supernet accuracy are timed together and count as
device-seconds (``search_seconds`` in the first candidate's record). Config::

    strategy:
      name: spos
      epochs: 30         # supernet epochs
      evaluations: 200   # cells scored on the supernet by the evolutionary search
      top_k: 10          # trained from scratch
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from evonas.errors import ConfigError
from evonas.options import MAX_POPULATION, Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Evaluated, dag_genome
from evonas.strategies.one_shot import OneShotStrategy, check_options, supernet_options
from evonas.strategies.regularized import RegularizedEvolution
from genomes import DAGGenome, SearchSpace


def _check(options: dict[str, Any], label: str) -> None:
    check_options(options, label)
    if options["sample"] > options["population"]:
        raise ConfigError(f"{label}: strategy.sample: must not exceed strategy.population "
                          f"({options['population']}), got {options['sample']}")


class SPOS(OneShotStrategy):
    """Single-path one-shot search (see the module docstring for the algorithm).

    Args:
        space: the ``nb201`` space.
        rng: the strategy's generator: initial weights, batch orders, paths, evolution.
        epochs: supernet training epochs.
        population: P of the aging evolution on supernet accuracy.
        sample: S, its tournament size.
        evaluations: cells the evolution proposes, each scored on the supernet (a repeat
            reuses its score).
        mutation_weights: relative weights of the mutation operators by name.
        **supernet: the supernet's training and scoring options (see
            :class:`~evonas.strategies.one_shot.OneShotStrategy`).
    """

    name = "spos"
    record_op = "spos"
    options: ClassVar[OptionSchema] = OptionSchema(
        *supernet_options(30),
        shared.population(20, "P: members of the evolution on supernet accuracy"),
        Option("sample", 5, "S: members drawn for each parent tournament", low=1,
               high=MAX_POPULATION),
        Option("evaluations", 200, "cells the evolution proposes and scores on the supernet",
               low=1, high=1_000_000),
        shared.mutation_weights(),
        check=_check,
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, epochs: int = 30,
                 population: int = 20, sample: int = 5, evaluations: int = 200,
                 mutation_weights: dict[str, float] | None = None, **supernet: Any) -> None:
        super().__init__(space, rng, epochs=epochs, **supernet)
        if sample > population:
            raise ConfigError(f"strategy.sample: must not exceed strategy.population "
                              f"({population}), got {sample}")
        self.population = population
        self.sample = sample
        self.evaluations = evaluations
        self.mutation_weights = mutation_weights

    def _search(self) -> tuple[list[tuple[DAGGenome, float]], dict[str, Any]]:
        history = [self._train_epoch(self.uniform_path) for _ in range(self.epochs)]
        evolution = RegularizedEvolution(self.space, self.rng, population=self.population,
                                         sample=self.sample,
                                         mutation_weights=self.mutation_weights)
        scores: dict[str, float] = {}
        seen: list[DAGGenome] = []
        for index in range(self.evaluations):
            candidate, = evolution.ask(1)
            genome = dag_genome(candidate.genome, self.name)
            key = genome.canonical_hash()
            if key not in scores:
                scores[key] = self.supernet_accuracy(genome)
                seen.append(genome)
            evolution.tell([Evaluated(index, genome, scores[key])])
        ranking = self.rank(seen, scores)
        return ranking, {"history": history, "distinct": len(seen)}
