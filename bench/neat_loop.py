"""A bare NEAT generation loop for the benchmarks: the engine's strategy and task, no journal.

The campaign adds a journal write per individual (the price of exact resume and lineage); the
paper-style figures (evaluations to solve, wall time against neat-python) measure the algorithm,
so they drive :class:`~evonas.strategies.neat.NEAT` and the task directly: ask a generation,
score it (with the task's batched form when it has one), tell it, stop at the target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from evonas.strategies import Evaluated
from evonas.strategies.neat import NEAT
from evonas.tasks.base import Task
from genomes import CPPNGenome, NEATSpace


@dataclass
class Outcome:
    """One run to the target.

    Attributes:
        solved: whether some genome reached the target.
        evaluations: genomes scored up to and including the first solver (birth order),
            elite copies included, as the NEAT paper counts.
        unique_evaluations: the same without elite copies (what the campaign's cache pays).
        generations: generations started.
        seconds: wall time of the loop.
        cpu_seconds: CPU time of this process during the loop (robust to other load).
        champion: the solver (or the last generation's best).
    """

    solved: bool
    evaluations: int
    unique_evaluations: int
    generations: int
    seconds: float
    cpu_seconds: float
    champion: CPPNGenome | None


def run_neat(task: Task, space: NEATSpace, seed: int, target: float, max_generations: int,
             strategy: dict[str, Any] | None = None, batched: bool = True) -> Outcome:
    """Evolve until a genome's fitness reaches ``target`` or ``max_generations`` pass."""
    start, cpu_start = time.perf_counter(), time.process_time()
    neat = NEAT(space, np.random.default_rng(seed), **(strategy or {}))
    evaluations = unique = next_id = 0
    best: tuple[float, CPPNGenome] | None = None
    while neat.generation < max_generations:
        candidates = neat.ask(1 << 30)
        genomes = [c.genome for c in candidates]
        if batched and hasattr(task, "evaluate_batch"):
            metrics = task.evaluate_batch(genomes, [0] * len(genomes))
        else:
            metrics = [task.evaluate(g, 0) for g in genomes]
        results = []
        for c, m in zip(candidates, metrics, strict=True):
            evaluations += 1
            unique += c.operator.get("op") != "elite"
            fitness = m["fitness"]
            if best is None or fitness > best[0]:
                best = (fitness, c.genome)
            if fitness >= target:
                return Outcome(True, evaluations, unique, neat.generation + 1,
                               time.perf_counter() - start, time.process_time() - cpu_start,
                               c.genome)
            results.append(Evaluated(next_id, c.genome, fitness, m))
            next_id += 1
        neat.tell(results)
    return Outcome(False, evaluations, unique, neat.generation, time.perf_counter() - start,
                   time.process_time() - cpu_start, None if best is None else best[1])
