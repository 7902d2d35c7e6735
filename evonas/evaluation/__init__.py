"""Evaluators: where and how evaluation jobs run.

* :class:`InProcessEvaluator` (``workers: 0``): one job at a time in this process.
* :class:`LocalPoolEvaluator` (``workers >= 1``): persistent spawned worker processes, one device
  (GPU or CPU slot) each, surviving crashes and hangs of single evaluations.

Build one with :func:`make_evaluator`; the campaign talks to it through :class:`Evaluator`.
"""

from __future__ import annotations

from typing import Any

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.evaluation.pool import LocalPoolEvaluator, WorkerStartupError

__all__ = [
    "EvalJob",
    "EvalResult",
    "Evaluator",
    "InProcessEvaluator",
    "LocalPoolEvaluator",
    "WorkerStartupError",
    "make_evaluator",
]


def make_evaluator(task_config: dict[str, Any], space_config: dict[str, Any], workers: int,
                   timeout: float | None = None,
                   devices: list[str] | None = None) -> Evaluator:
    """The evaluator a campaign config asks for.

    Args:
        task_config: the ``task:`` mapping.
        space_config: the ``space:`` mapping.
        workers: 0 for in-process evaluation, else the number of worker processes.
        timeout: seconds an evaluation may run before its worker is killed (pool only).
        devices: devices for the workers (default: every visible GPU, else CPU); in-process
            evaluation uses the first (default ``"cpu"``).

    Returns:
        An :class:`InProcessEvaluator` or a :class:`LocalPoolEvaluator`.

    Raises:
        ValueError: on a negative ``workers`` or a bad device or timeout.
        TaskError: when ``workers`` is 0 and the task config is invalid.
    """
    if workers < 0:
        raise ValueError(f"workers: must be 0 (in-process) or more, got {workers}")
    if workers == 0:
        return InProcessEvaluator(task_config, space_config, (devices or ["cpu"])[0])
    return LocalPoolEvaluator(task_config, space_config, workers, timeout, devices)
