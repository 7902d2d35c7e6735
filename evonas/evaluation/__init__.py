"""Evaluators: where and how evaluation jobs run.

* :class:`InProcessEvaluator` (``workers: 0``): one job at a time in this process.
* :class:`LocalPoolEvaluator` (``workers >= 1``): persistent spawned worker processes, one device
  (GPU or CPU slot) each, surviving crashes and hangs of single evaluations; with a device memory
  capacity known, jobs are dispatched by their estimated peak memory (:mod:`.dispatch`,
  :mod:`.memory`).
* ``RayEvaluator`` (``backend: ray``, in :mod:`evonas.evaluation.ray_backend`): one Ray actor per
  slot, on a local Ray instance or a cluster; needs the optional ``ray`` extra.

Build one with :func:`make_evaluator`; the campaign talks to it through :class:`Evaluator`.
"""

from __future__ import annotations

from typing import Any

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator
from evonas.evaluation.batched import BatchedInProcessEvaluator
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.evaluation.memory import DEFAULT_SAFETY_FACTOR, MemoryEstimate, estimate_peak_memory
from evonas.evaluation.pool import LocalPoolEvaluator, WorkerStartupError
from evonas.tasks import build_task
from genomes import space_from_dict

__all__ = [
    "BatchedInProcessEvaluator",
    "EvalJob",
    "EvalResult",
    "Evaluator",
    "InProcessEvaluator",
    "LocalPoolEvaluator",
    "MemoryEstimate",
    "WorkerStartupError",
    "estimate_peak_memory",
    "make_evaluator",
]


def make_evaluator(task_config: dict[str, Any], space_config: dict[str, Any], workers: int,
                   timeout: float | None = None,
                   devices: list[str] | None = None, max_crashes: int = 2,
                   max_tasks_per_worker: int | None = None, backend: str = "local",
                   address: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0,
                   max_retries: int = 1, workers_per_device: int | None = None,
                   device_memory: int | str | None = None,
                   memory_safety_factor: float = DEFAULT_SAFETY_FACTOR) -> Evaluator:
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
        workers_per_device: pool only: workers on each device; when given it replaces
            ``workers`` (the pool has ``len(devices) * workers_per_device`` workers), except that
            ``workers: 0`` (in-process) cannot be combined with it.
        device_memory: pool only: memory budget per device (bytes or ``"8GiB"``) for
            memory-aware dispatch; None: CUDA devices' own memory, no memory-aware dispatch on CPU.
        memory_safety_factor: pool only: multiplies every memory estimate.

    Returns:
        An :class:`InProcessEvaluator` (a :class:`BatchedInProcessEvaluator` for a task with
        ``evaluate_batch``), a :class:`LocalPoolEvaluator` or a ``RayEvaluator``.

    Raises:
        ValueError: on a negative ``workers``, an unknown backend, a bad device or timeout, or
            ``workers_per_device`` with in-process evaluation or the Ray backend.
        ConfigError: when ``backend`` is ``"ray"`` and Ray is not installed.
        TaskError: when ``workers`` is 0 and the task config is invalid.
    """
    if backend == "ray":
        if workers_per_device is not None:
            raise ValueError("workers_per_device: the local pool only; with backend: ray, set "
                             "workers (and num_gpus per actor)")
        from evonas.evaluation.ray_backend import RayEvaluator

        return RayEvaluator(task_config, space_config, workers, timeout, address=address,
                            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)
    if backend != "local":
        raise ValueError(f"evaluator.backend: must be local or ray, got {backend!r}")
    if workers < 0:
        raise ValueError(f"workers: must be 0 (in-process) or more, got {workers}")
    if workers == 0:
        if workers_per_device is not None:
            raise ValueError("workers_per_device: needs the worker pool, but workers is 0 "
                             "(in-process evaluation); set workers to 1 or more")
        device = (devices or ["cpu"])[0]
        space = space_from_dict(space_config)
        task = build_task(task_config, space)
        if hasattr(task, "evaluate_batch"):  # one call scores a whole generation
            return BatchedInProcessEvaluator(task, space, device)
        return InProcessEvaluator(task, space, device)
    return LocalPoolEvaluator(task_config, space_config, workers, timeout, devices,
                              max_crashes=max_crashes, max_tasks_per_worker=max_tasks_per_worker,
                              workers_per_device=workers_per_device, device_memory=device_memory,
                              memory_safety_factor=memory_safety_factor)
