"""The batched in-process evaluator: a whole generation scored in one call of the task.

For tasks so cheap that the per-genome Python work dominates (XOR, HyperNEAT on small data), a
task may offer ``evaluate_batch(genomes, seeds, device) -> list of metrics``: one tensor program
for the whole population (:class:`~evonas.compiler.cppn.PopulationCPPN`). This evaluator queues
up to ``batch_size`` jobs (its capacity, so the campaign hands it a whole generation) and scores
everything queued in one such call at the next :meth:`poll`.

Failures stay per genome: a genome that does not parse or validate fails alone; when the batch
call itself raises, every job of the batch is retried one by one through
:func:`~evonas.evaluation.execute.run_job`, so only the faulty genome fails. A task without
``evaluate_batch`` is evaluated one job at a time, like the in-process evaluator.
"""

from __future__ import annotations

import time
from typing import Any

from evonas.evaluation.base import STATUS_OK, EvalJob, EvalResult, Evaluator, evaluation_seconds
from evonas.evaluation.execute import describe_exception, json_safe_metrics, run_job
from evonas.tasks import EvaluationFailure, Task, build_task
from genomes import GenomeError, SearchSpace, space_from_dict


class BatchedInProcessEvaluator(Evaluator):
    """Evaluate queued jobs in this process, all of them in one batched task call per poll.

    Args:
        task: the task, or its ``task:`` config mapping.
        space: the search space, or its ``space:`` config mapping.
        device: the torch device to evaluate on.
        batch_size: the most jobs scored in one call (the evaluator's capacity).
    """

    def __init__(self, task: Task | dict[str, Any], space: SearchSpace | dict[str, Any],
                 device: str = "cpu", batch_size: int = 1024) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: must be at least 1, got {batch_size}")
        self.space = space_from_dict(space) if isinstance(space, dict) else space
        self.task = build_task(task, self.space) if isinstance(task, dict) else task
        self.device = device
        self.batch_size = batch_size
        self.worker = f"main-batched ({device})"
        self._pending: list[EvalJob] = []

    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it runs with the rest of the queue at the next :meth:`poll`."""
        self._pending.append(job)

    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        """Score up to ``batch_size`` queued jobs in one task call and return their results."""
        if not self._pending:
            return []
        jobs, self._pending = self._pending[:self.batch_size], self._pending[self.batch_size:]
        batch = getattr(self.task, "evaluate_batch", None)
        if batch is None or len(jobs) == 1:
            return [run_job(self.task, self.space, job, self.worker, self.device)
                    for job in jobs]
        start = time.perf_counter()
        results: dict[int, EvalResult] = {}
        valid: list[tuple[EvalJob, Any]] = []
        for job in jobs:
            try:
                genome = job.genome_object()
                self.space.validate(genome)
            except GenomeError as exc:
                results[job.individual_id] = EvalResult.failed(job, describe_exception(exc),
                                                               self.worker, 0.0)
            else:
                valid.append((job, genome))
        if valid:
            try:
                metrics = batch([g for _, g in valid], [job.seed for job, _ in valid],
                                self.device)
                if len(metrics) != len(valid):
                    raise EvaluationFailure("evaluate_batch returned the wrong number of results")
            except Exception:  # noqa: BLE001 (isolate the faulty genome by going one by one)
                for job, _ in valid:
                    results[job.individual_id] = run_job(self.task, self.space, job, self.worker,
                                                         self.device)
            else:
                seconds = evaluation_seconds((time.perf_counter() - start) / len(valid))
                for (job, _), m in zip(valid, metrics, strict=True):
                    try:
                        clean = json_safe_metrics(m)
                    except EvaluationFailure as exc:
                        results[job.individual_id] = EvalResult.failed(job, exc.reason,
                                                                       self.worker, seconds)
                    else:
                        results[job.individual_id] = EvalResult(
                            job.individual_id, STATUS_OK, clean, None, self.worker, seconds)
        return [results[job.individual_id] for job in jobs]

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    returns_in_order = True

    @property
    def capacity(self) -> int:
        return self.batch_size

    def close(self) -> None:
        self._pending.clear()
