"""Evaluators: where and how evaluation jobs run.

* :class:`InProcessEvaluator` (``workers: 0``): one job at a time in this process.
* :class:`LocalPoolEvaluator` (``workers >= 1``): persistent spawned worker processes, one device
  (GPU or CPU slot) each, surviving crashes and hangs of single evaluations.
* ``RayEvaluator`` (``backend: ray``, in :mod:`evonas.evaluation.ray_backend`): one Ray actor per
  slot, on a local Ray instance or a cluster; needs the optional ``ray`` extra.

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
                   devices: list[str] | None = None, max_crashes: int = 2,
                   max_tasks_per_worker: int | None = None, backend: str = "local",
                   address: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0,
                   max_retries: int = 1) -> Evaluator:
    """The evaluator a campaign config asks for.

    Args:
        task_config: the ``task:`` mapping.
        space_config: the ``space:`` mapping.
        workers: 0 for in-process evaluation, else the number of worker processes.
        timeout: seconds an evaluation may run before its worker is killed (pool only).
        devices: devices for the workers (default: every visible GPU, else CPU); in-process
            evaluation uses the first (default ``"cpu"``). Not used by the Ray backend.
        max_crashes: attempts a job gets when its worker dies or hangs before it is quarantined
            (pool only).
        max_tasks_per_worker: evaluations after which a pool worker is replaced (None: never).
        backend: ``"local"`` (in-process or a local pool) or ``"ray"`` (Ray actors).
        address: Ray only: None starts a local Ray instance, ``"auto"`` joins this machine's
            cluster, ``"ray://host:port"`` a remote one.
        num_cpus: Ray only: CPUs each actor asks for (fractions allowed).
        num_gpus: Ray only: GPUs each actor asks for (fractions allowed).
        max_retries: Ray only: re-submissions of a job whose actor died.

    Returns:
        An :class:`InProcessEvaluator`, a :class:`LocalPoolEvaluator` or a ``RayEvaluator``.

    Raises:
        ValueError: on a negative ``workers``, an unknown backend or a bad device or timeout.
        ConfigError: when ``backend`` is ``"ray"`` and Ray is not installed.
        TaskError: when ``workers`` is 0 and the task config is invalid.
    """
    if backend == "ray":
        from evonas.evaluation.ray_backend import RayEvaluator

        return RayEvaluator(task_config, space_config, workers, timeout, address=address,
                            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)
    if backend != "local":
        raise ValueError(f"evaluator.backend: must be local or ray, got {backend!r}")
    if workers < 0:
        raise ValueError(f"workers: must be 0 (in-process) or more, got {workers}")
    if workers == 0:
        return InProcessEvaluator(task_config, space_config, (devices or ["cpu"])[0])
    return LocalPoolEvaluator(task_config, space_config, workers, timeout, devices,
                              max_crashes=max_crashes, max_tasks_per_worker=max_tasks_per_worker)
