"""Running one job in the current process: genome JSON in, :class:`EvalResult` out, never raising.

Shared by the in-process evaluator and the pool workers, so both turn the same failures into the
same short reasons, and both handle running out of memory the same way: an evaluation that raises
``MemoryError`` or ``torch.cuda.OutOfMemoryError`` is run once more, in the same process, with
half the training batch (``task.evaluate(..., batch_scale=0.5)``, for tasks whose
``scales_batch`` attribute is true); a success reports ``batch_scale: 0.5`` among its metrics, a
second out-of-memory error fails the job with :data:`OOM_HALF_BATCH`. A task that cannot scale its
batch fails with :data:`OOM_NO_RETRY` at once (running it again would change nothing).
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Mapping
from typing import Any, cast

from evonas.evaluation.base import STATUS_OK, EvalJob, EvalResult, evaluation_seconds
from evonas.tasks import EvaluationFailure, Task
from evonas.tasks.base import BatchScalingTask, accepts_plan
from evonas.tasks.plan import TrainingPlan
from genomes import SearchSpace
from genomes.dag import check_member

#: Longest error message kept in a result.
MAX_ERROR_CHARS = 300
#: The batch scale of the out-of-memory retry.
OOM_RETRY_BATCH_SCALE = 0.5
#: The error of a job out of memory at full and at half batch.
OOM_HALF_BATCH = "infeasible: out of memory (also at half batch)"
#: The error of a job out of memory whose task cannot scale its batch.
OOM_NO_RETRY = "infeasible: out of memory"


def run_job(task: Task, space: SearchSpace, job: EvalJob, worker: str,
            device: str = "cpu") -> EvalResult:
    """Parse, validate and evaluate ``job.genome``; any failure becomes a failed result.

    Failure reasons: an :class:`EvaluationFailure`'s reason (``"nan loss"``);
    :data:`OOM_HALF_BATCH` or :data:`OOM_NO_RETRY` when out of memory (see the module docstring);
    otherwise ``"<ExceptionType>: <message>"``. None of these is retried by the pool (only a dead
    or hung worker is). ``KeyboardInterrupt`` and ``SystemExit`` propagate.
    """
    start = time.perf_counter()
    try:
        genome = job.genome_object()
        check_member(genome, space)  # space.validate, unless this genome passed it already
        metrics = _evaluate(task, genome, job.seed, device, job.training_plan())
    except EvaluationFailure as exc:
        error = exc.reason
    except Exception as exc:  # noqa: BLE001 (every failure becomes a result)
        error = describe_exception(exc)
    else:
        seconds = evaluation_seconds(time.perf_counter() - start)
        return EvalResult(job.individual_id, STATUS_OK, metrics, None, worker, seconds)
    return EvalResult.failed(job, error, worker, time.perf_counter() - start)


def _evaluate(task: Task, genome: Any, seed: int, device: str,
              plan: TrainingPlan | None = None) -> dict[str, Any]:
    """``task.evaluate`` with the half-batch retry on out of memory; metrics made JSON-safe.

    A job with a plan goes only to a task that accepts plans (the campaign makes plans only for
    those); another task fails the job with a reason.
    """
    extra: dict[str, Any] = {}
    if plan is not None:
        if not accepts_plan(task):
            raise EvaluationFailure(f"task {getattr(task, 'name', '?')} trains no weights: it "
                                    "cannot keep, continue or inherit them")
        extra["plan"] = plan
    try:
        return json_safe_metrics(task.evaluate(genome, seed, device, **extra))
    except Exception as exc:  # noqa: BLE001 (re-raised unless out of memory)
        if not is_out_of_memory(exc):
            raise
    _release_memory()  # the failed attempt's tensors are unreachable once the handler is left
    if not getattr(task, "scales_batch", False):
        raise EvaluationFailure(OOM_NO_RETRY)
    try:
        scaling = cast(BatchScalingTask, task)  # its scales_batch says it takes batch_scale
        metrics = scaling.evaluate(genome, seed, device, batch_scale=OOM_RETRY_BATCH_SCALE,
                                   **extra)
    except Exception as exc:  # noqa: BLE001 (re-raised unless out of memory)
        if not is_out_of_memory(exc):
            raise
        _release_memory()
        raise EvaluationFailure(OOM_HALF_BATCH) from None
    return json_safe_metrics({**metrics, "batch_scale": OOM_RETRY_BATCH_SCALE})


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is ``MemoryError`` or ``torch.cuda.OutOfMemoryError`` (by name, so torch
    need not be imported)."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def json_safe_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Check a task's metrics and turn them into plain JSON numbers.

    numpy scalars become Python numbers; a non-finite metric other than fitness becomes None.

    Raises:
        EvaluationFailure: when ``fitness`` is missing or not a finite number, or a metric is not
            a number.
    """
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
            value = value.item()
        if not isinstance(value, int | float):
            raise EvaluationFailure(f"metric {key!r} is not a number: {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        clean[str(key)] = value
    fitness = clean.get("fitness")
    if fitness is None or isinstance(fitness, bool):
        raise EvaluationFailure("no finite fitness in the task's metrics")
    return clean


def describe_exception(exc: BaseException) -> str:
    """``"<Type>: <first line of the message>"``, cut to :data:`MAX_ERROR_CHARS`."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def _release_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
