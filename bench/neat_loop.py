"""NEAT runs for the benchmarks: the real campaign over an in-memory journal, to a target.

Each run is a :class:`~evonas.campaign.Campaign` (birth order, the engine's NEAT strategy) whose
journal lives in memory (:meth:`evonas.storage.Journal.in_memory`: nothing written to disk) and
whose evaluator scores a whole generation in one call of the task's batched form when it has one
(:class:`~evonas.evaluation.batched.BatchedInProcessEvaluator`). The campaign stops at the target
(``task.target``); the paper-style counts (evaluations to solve) are read back from the journal.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from evonas.campaign import Campaign
from evonas.config import load_config
from evonas.evaluation.batched import BatchedInProcessEvaluator
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.storage import Journal, Status
from evonas.tasks.base import Task
from genomes import CPPNGenome, NEATSpace, genome_from_dict


@dataclass
class Outcome:
    """One run to the target.

    Attributes:
        solved: whether some genome reached the target.
        evaluations: genomes scored up to and including the first solver (birth order),
            elite copies included, as the NEAT paper counts.
        unique_evaluations: the same without the copies the campaign's cache answers (elites,
            and any other genome seen before): what the campaign pays.
        generations: generations started.
        seconds: wall time of the campaign.
        cpu_seconds: CPU time of this process during the campaign (robust to other load).
        champion: the solver (or the best genome of the run).
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
    """Evolve until a genome's fitness reaches ``target`` or ``max_generations`` pass.

    ``task`` evaluates every genome; the campaign's config names its kind (``task.name``) and
    the target only, which is all the campaign loop reads of it.
    """
    strategy = {"name": "neat", **(strategy or {}), "generations": max_generations}
    population = strategy.get("population", 150)
    finite = math.isfinite(target)
    config = load_config({
        "name": None, "seed": seed, "runs_dir": "runs", "space": space.to_dict(),
        "task": {"name": task.name, "target": target if finite else None},
        "strategy": strategy, "evaluator": {"workers": 0},
        "budget": {"evaluations": population * (max_generations + 1)},
        "campaign": {"progress": False, "order": "birth", "stop_at_target": finite,
                     "checkpoint_every": 1 << 30}})
    evaluator = BatchedInProcessEvaluator(task, space) if batched \
        else InProcessEvaluator(task, space)
    with Journal.in_memory(config.data) as journal:
        start, cpu_start = time.perf_counter(), time.process_time()
        campaign = Campaign(config, journal, evaluator)
        campaign.run()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        rows = list(journal.evaluations())
        solver = next((ev.individual_id for ev in rows
                       if ev.fitness is not None and ev.fitness >= target), None)
        last = rows[-1].individual_id if solver is None else solver
        unique = sum(1 for ev in rows if ev.individual_id <= last and ev.status != Status.CACHED)
        best = journal.best(1)
        champion_id = solver if solver is not None else (best[0].individual_id if best else None)
        champion = None
        generations = campaign.strategy.generation
        if champion_id is not None:
            row = journal.individual(champion_id)
            champion = genome_from_dict(row.genome)
            if solver is not None and row.generation is not None:
                generations = row.generation + 1
    return Outcome(solver is not None, last + 1, unique, generations, seconds, cpu_seconds,
                   champion)  # type: ignore[arg-type]
