"""Running one job in the current process: genome JSON in, :class:`EvalResult` out, never raising.

Shared by the in-process evaluator and the pool workers, so both turn the same failures into the
same short reasons.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections.abc import Mapping
from typing import Any

from evonas.evaluation.base import STATUS_OK, EvalJob, EvalResult
from evonas.tasks import EvaluationFailure, Task
from genomes import SearchSpace, genome_from_dict

#: Longest error message kept in a result.
MAX_ERROR_CHARS = 300


def run_job(task: Task, space: SearchSpace, job: EvalJob, worker: str,
            device: str = "cpu") -> EvalResult:
    """Parse, validate and evaluate ``job.genome``; any failure becomes a failed result.

    Failure reasons: an :class:`EvaluationFailure`'s reason; ``"out of memory"`` for a
    ``MemoryError`` or a CUDA out-of-memory error; otherwise ``"<ExceptionType>: <message>"``.
    ``KeyboardInterrupt`` and ``SystemExit`` propagate.
    """
    start = time.perf_counter()
    try:
        genome = genome_from_dict(job.genome)
        space.validate(genome)
        metrics = json_safe_metrics(task.evaluate(genome, job.seed, device))
    except EvaluationFailure as exc:
        error = exc.reason
    except MemoryError:
        error = "out of memory"
        _release_memory()
    except Exception as exc:  # noqa: BLE001 (every failure becomes a result)
        if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
            error = "out of memory"
            _release_memory()
        else:
            error = describe_exception(exc)
    else:
        seconds = time.perf_counter() - start
        return EvalResult(job.individual_id, STATUS_OK, metrics, None, worker, round(seconds, 4))
    return EvalResult.failed(job, error, worker, time.perf_counter() - start)


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
