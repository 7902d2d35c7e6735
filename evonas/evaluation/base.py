"""The Evaluator contract: submit evaluation jobs, collect results as they finish.

An evaluator runs a task on genomes somewhere (this process, a local process pool, later Ray). The
campaign keeps :attr:`Evaluator.capacity` jobs submitted and collects results with
:meth:`Evaluator.poll` or :meth:`Evaluator.results`; results come back in completion order, not
submission order, tagged with the job's ``individual_id``.

Jobs and results are plain JSON-able data: a job carries the genome's ``to_dict()`` form, never a
genome object, a DEAP individual or a module. Every submitted job yields exactly one result: a
failed evaluation (an exception, a NaN loss, a dead or hung worker) is a result with
``status == "failed"`` and a short ``error``, never an exception in the campaign.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from evonas.tasks.plan import TrainingPlan
from genomes import genome_from_dict

STATUS_OK = "ok"
STATUS_FAILED = "failed"
SECONDS_DIGITS = 6
"""Decimal places kept of an evaluation's seconds: microseconds, so that the budget's
device-seconds count evaluations as fast as a table lookup (at 4 places they read as 0)."""


def evaluation_seconds(seconds: float) -> float:
    """``seconds`` rounded as an evaluation result keeps them."""
    return round(seconds, SECONDS_DIGITS)


@dataclass
class EvalJob:
    """One evaluation to run.

    Attributes:
        individual_id: the journal id of the individual (results carry it back).
        genome: the genome's ``to_dict()`` JSON form; None when ``parsed`` is given, which then
            makes it on demand (:meth:`genome_dict`): an evaluator in the same process never
            needs it.
        seed: seeds everything random in the evaluation.
        parsed: the genome object itself, when the submitter has it: an evaluator in the same
            process uses it instead of parsing ``genome`` again (never sent to another process).
        plan: what to do with weights and how far to train, as :meth:`TrainingPlan.to_dict`
            gives it (JSON, sent to the worker with the job), or None: train the task's own
            recipe from scratch and keep nothing.
    """

    individual_id: int
    genome: dict[str, Any] | None
    seed: int
    parsed: Any = field(default=None, repr=False, compare=False)
    plan: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.genome is None and self.parsed is None:
            raise ValueError(f"job {self.individual_id}: neither a genome dict nor its object")

    def genome_dict(self) -> dict[str, Any]:
        """``genome``, made from the genome object (once) when the submitter gave only that."""
        if self.genome is None:
            self.genome = self.parsed.to_dict()
        return self.genome

    def genome_object(self) -> Any:
        """The genome, parsed from ``genome`` unless the submitter gave it."""
        return self.parsed if self.parsed is not None else genome_from_dict(self.genome_dict())

    def training_plan(self) -> TrainingPlan | None:
        """``plan`` as a :class:`TrainingPlan` (None when the job has none)."""
        return None if self.plan is None else TrainingPlan.from_dict(self.plan)


@dataclass
class EvalResult:
    """The outcome of one :class:`EvalJob`.

    Attributes:
        individual_id: the job's ``individual_id``.
        status: ``"ok"`` or ``"failed"``.
        metrics: the task's metrics (empty when failed).
        error: a short reason when failed (``"timeout after 30s"``), else None.
        worker: who ran it, e.g. ``"worker-0 (cpu)"`` or ``"worker-1 (cuda:1)"``.
        seconds: wall seconds the evaluation took.
    """

    individual_id: int
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        return cls(**data)

    @classmethod
    def failed(cls, job: EvalJob, error: str, worker: str, seconds: float) -> EvalResult:
        """A failed result for ``job``."""
        return cls(job.individual_id, STATUS_FAILED, {}, error, worker, evaluation_seconds(seconds))


class Evaluator(abc.ABC):
    """Runs evaluation jobs and hands back their results.

    Usable as a context manager (``close()`` on exit). Implementations must return exactly one
    result per submitted job and never raise because an evaluation failed.
    """

    @abc.abstractmethod
    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it starts as soon as a slot is free. Never blocks on the evaluation."""

    @abc.abstractmethod
    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        """Wait for results.

        Blocks until at least one result is available or ``timeout`` seconds pass (``None``:
        no limit), then returns every result available. Returns ``[]`` at once when nothing is
        in flight.
        """

    def results(self) -> Iterator[EvalResult]:
        """Yield results as they finish until nothing is in flight."""
        while self.in_flight:
            yield from self.poll(None)

    @property
    @abc.abstractmethod
    def in_flight(self) -> int:
        """Jobs submitted whose results have not been returned yet."""

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """How many jobs run at once (keep this many submitted to keep every slot busy)."""

    #: True when results come back in the order jobs were submitted (evaluators that run jobs
    #: in the caller's process): the campaign then tells them in birth order by default.
    returns_in_order: bool = False

    @abc.abstractmethod
    def close(self) -> None:
        """Stop all work and release resources; results still in flight are dropped."""

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
