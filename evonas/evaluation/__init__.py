"""Evaluators: where and how evaluation jobs run.

* :class:`InProcessEvaluator` (``workers: 0``): one job at a time in this process.
* :class:`LocalPoolEvaluator` (``workers >= 1``): persistent spawned worker processes, one device
  (GPU or CPU slot) each, surviving crashes and hangs of single evaluations; with a device memory
  capacity known, jobs are dispatched by their estimated peak memory (:mod:`.dispatch`,
  :mod:`.memory`).
* ``RayEvaluator`` (``backend: ray``, in :mod:`evonas.evaluation.ray_backend`): one Ray actor per
  slot, on a local Ray instance or a cluster; needs the optional ``ray`` extra.

Build one with :func:`make_evaluator`; the campaign talks to it through :class:`Evaluator`. A
backend is a factory registered by name with :func:`register_backend` (``evaluator.backend`` in a
config names it); ``local`` and ``ray`` are registered here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator
from evonas.evaluation.batched import BatchedInProcessEvaluator
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.evaluation.memory import DEFAULT_SAFETY_FACTOR, MemoryEstimate, estimate_peak_memory
from evonas.evaluation.pool import LocalPoolEvaluator, WorkerStartupError
from evonas.tasks import Task, build_task
from genomes import space_from_dict

__all__ = [
    "BACKENDS",
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
    "register_backend",
]

#: ``factory(task_config, space_config, **evaluator_options) -> Evaluator``: the options are the
#: ``evaluator:`` section (:data:`evonas.evaluation.options.EVALUATOR_OPTIONS`) but ``backend``.
BackendFactory = Callable[..., Evaluator]

#: Backend name (``evaluator.backend``) -> its factory, or the factory's ``module:attr`` path
#: (imported when the backend is first used, so that Ray loads only for ``backend: ray``).
BACKENDS: dict[str, BackendFactory | str] = {}


def register_backend(name: str, factory: BackendFactory | str) -> None:
    """Make ``evaluator.backend: <name>`` build evaluators with ``factory``.

    Args:
        name: the config name.
        factory: called as ``factory(task_config, space_config, **options)`` with every
            ``evaluator:`` option but ``backend``; or its ``module:attr`` import path.
    """
    BACKENDS[name] = factory


def _backend(name: str) -> BackendFactory:
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"evaluator.backend: must be one of {', '.join(sorted(BACKENDS))}, "
                         f"got {name!r}")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = BACKENDS[name] = getattr(importlib.import_module(module), attr)
    return factory


def make_evaluator(task_config: dict[str, Any], space_config: dict[str, Any], workers: int,
                   timeout: float | None = None,
                   devices: list[str] | None = None, max_crashes: int = 2,
                   max_tasks_per_worker: int | None = None, backend: str = "local",
                   address: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0,
                   max_retries: int = 1, workers_per_device: int | None = None,
                   device_memory: int | str | None = None,
                   memory_safety_factor: float = DEFAULT_SAFETY_FACTOR,
                   task: Task | None = None) -> Evaluator:
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
        task: in-process only: the task already built from ``task_config`` (a caller that
            built it to check the config), used instead of building it again; workers build
            their own.

    Returns:
        An :class:`InProcessEvaluator` (a :class:`BatchedInProcessEvaluator` for a task with
        ``evaluate_batch``), a :class:`LocalPoolEvaluator` or a ``RayEvaluator``.

    Raises:
        ValueError: on a negative ``workers``, an unknown backend, a bad device or timeout, or
            ``workers_per_device`` with in-process evaluation or the Ray backend.
        ConfigError: when ``backend`` is ``"ray"`` and Ray is not installed.
        TaskError: when ``workers`` is 0 and the task config is invalid.
    """
    built = {"built_task": task} if task is not None and backend == "local" else {}
    return _backend(backend)(task_config, space_config, workers=workers, timeout=timeout,
                             devices=devices, max_crashes=max_crashes,
                             max_tasks_per_worker=max_tasks_per_worker, address=address,
                             num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                             workers_per_device=workers_per_device, device_memory=device_memory,
                             memory_safety_factor=memory_safety_factor, **built)


def _local_evaluator(task_config: dict[str, Any], space_config: dict[str, Any], *, workers: int,
                     timeout: float | None, devices: list[str] | None, max_crashes: int,
                     max_tasks_per_worker: int | None, workers_per_device: int | None,
                     device_memory: int | str | None, memory_safety_factor: float,
                     built_task: Task | None = None, **_ray_only: Any) -> Evaluator:
    """The ``local`` backend: in-process (``workers: 0``) or a pool of worker processes."""
    if workers < 0:
        raise ValueError(f"workers: must be 0 (in-process) or more, got {workers}")
    if workers == 0:
        if workers_per_device is not None:
            raise ValueError("workers_per_device: needs the worker pool, but workers is 0 "
                             "(in-process evaluation); set workers to 1 or more")
        device = (devices or ["cpu"])[0]
        space = space_from_dict(space_config)
        task = built_task if built_task is not None else build_task(task_config, space)
        if hasattr(task, "evaluate_batch"):  # one call scores a whole generation
            return BatchedInProcessEvaluator(task, space, device)
        return InProcessEvaluator(task, space, device)
    return LocalPoolEvaluator(task_config, space_config, workers, timeout, devices,
                              max_crashes=max_crashes, max_tasks_per_worker=max_tasks_per_worker,
                              workers_per_device=workers_per_device, device_memory=device_memory,
                              memory_safety_factor=memory_safety_factor)


def _ray_evaluator(task_config: dict[str, Any], space_config: dict[str, Any], *, workers: int,
                   timeout: float | None, address: str | None, num_cpus: float, num_gpus: float,
                   max_retries: int, workers_per_device: int | None, **_pool_only: Any
                   ) -> Evaluator:
    """The ``ray`` backend: one Ray actor per slot (needs the optional ``ray`` extra)."""
    if workers_per_device is not None:
        raise ValueError("workers_per_device: the local pool only; with backend: ray, set "
                         "workers (and num_gpus per actor)")
    from evonas.evaluation.ray_backend import RayEvaluator  # local: Ray loads only when used

    return RayEvaluator(task_config, space_config, workers, timeout, address=address,
                        num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)


register_backend("local", _local_evaluator)
register_backend("ray", _ray_evaluator)
