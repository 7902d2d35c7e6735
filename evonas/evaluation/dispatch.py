"""Memory-aware dispatch for the local pool: send a job only to a device it fits on.

It is on when a device capacity is known: ``evaluator.device_memory`` is set (any device, CPU
included, which is how the tests exercise it), or the pool has CUDA devices (their total memory is
read in the parent with :func:`cuda_total_memory`). Otherwise (CPU or ``mps`` with no
``device_memory``, the default) it is off, and the pool neither builds the task nor imports torch
in the parent.

When on:

* **Capacity.** Each device has a budget in bytes for the evaluations running on it together:
  ``device_memory`` when given (used as is), else the CUDA device's total memory minus, per worker
  on it, :data:`CUDA_WORKER_RESERVE` (the worker's CUDA context) and the task's dataset (copied
  onto the device by each worker). A device with no known capacity (the CPU next to GPUs) is
  unlimited.
* **Estimate.** Every submitted job is estimated once with
  :func:`~evonas.evaluation.memory.estimate_peak_memory` (cached per architecture), which needs the
  task's input shape, class count and training recipe. The parent gets them by building the task
  once, from the same config as the workers (there is no lighter description of a task's shapes
  than the task itself; the campaign builds it in the parent anyway to check the config). Tasks
  with no network (table lookups, ``input_shape`` None), genomes the compiler cannot build
  and estimates that fail are charged 0 bytes: the worker reports the real problem.
* **Infeasible.** A job larger than the largest device's capacity fails at once, run by no
  worker: ``"infeasible: needs 3.10 GiB, the largest device has 2.00 GiB"``.
* **Waiting.** A job is given to an idle worker only when its estimate fits in the free capacity
  of the worker's device (capacity minus the estimates of the jobs running there). Pending jobs
  are tried in submission order and a job that does not fit now may be overtaken by later ones
  that do, but only :attr:`MemoryDispatcher.max_overtakes` times (default: the number of
  workers); after that, no device it could fit on starts any other pending job until it has
  started, so running jobs drain and a large job cannot be starved by a stream of small ones.
  A crashed job's retry goes back to its own (fresh) worker, under the same rule.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, cast

from evonas.evaluation.base import EvalJob
from evonas.evaluation.memory import DEFAULT_SAFETY_FACTOR, format_size

#: Device memory each CUDA worker process holds outside any evaluation (its CUDA context).
CUDA_WORKER_RESERVE = 512 * 2**20
#: Architectures whose estimate is remembered.
ESTIMATE_CACHE_SIZE = 4096

_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")

#: A job's estimated peak memory in bytes.
Estimator = Callable[[EvalJob], int]


def memory_dispatch_wanted(labels: list[str], device_memory: int | None) -> bool:
    """Whether a capacity is known for the pool's devices (``labels``, one per worker)."""
    return device_memory is not None or any(_CUDA_RE.match(label) for label in labels)


def cuda_total_memory(label: str) -> int:
    """Total memory in bytes of the parent's CUDA device ``label`` (``"cuda:1"``)."""
    import torch

    match = _CUDA_RE.match(label)
    if match is None:
        raise ValueError(f"not a CUDA device: {label!r}")
    return int(torch.cuda.get_device_properties(int(match.group(1) or 0)).total_memory)


def device_capacities(labels: list[str], device_memory: int | None,
                      resident_bytes: int = 0) -> dict[str, float]:
    """The memory budget of each device for the evaluations running on it together.

    Args:
        labels: each worker's device (a device with two workers appears twice).
        device_memory: the configured budget per device (bytes), or None to read CUDA devices.
        resident_bytes: what each CUDA worker keeps on its device besides evaluations (the
            task's dataset); added to :data:`CUDA_WORKER_RESERVE` per worker.

    Returns:
        ``{label: bytes}``; ``math.inf`` for a device whose capacity is unknown.
    """
    capacities: dict[str, float] = {}
    for label in dict.fromkeys(labels):
        if device_memory is not None:
            capacities[label] = float(device_memory)
        elif _CUDA_RE.match(label):
            reserve = labels.count(label) * (CUDA_WORKER_RESERVE + resident_bytes)
            capacities[label] = float(max(0, cuda_total_memory(label) - reserve))
        else:
            capacities[label] = math.inf
    return capacities


class MemoryDispatcher:
    """Estimates jobs and decides which pending job an idle worker may start.

    The pool owns the queue and the workers; this object only answers questions about them (see
    the module docstring for the policy).

    Args:
        capacities: ``{device label: bytes}`` (:func:`device_capacities`).
        estimate: a job's estimated peak memory in bytes.
        max_overtakes: how often a waiting job may be overtaken before its devices wait for it.
    """

    def __init__(self, capacities: dict[str, float], estimate: Estimator,
                 max_overtakes: int = 1) -> None:
        if not capacities:
            raise ValueError("capacities: no devices")
        self.capacities = dict(capacities)
        self.estimate = estimate
        self.max_overtakes = max(0, max_overtakes)
        self._needs: dict[int, int] = {}  # job id -> estimated bytes
        self._overtaken: dict[int, int] = {}  # pending job id -> times overtaken

    def admit(self, job: EvalJob) -> str | None:
        """Estimate ``job``; return the infeasible error when it fits no device, else None."""
        need = self.estimate(job)
        largest = max(self.capacities.values())
        if need > largest:
            return (f"infeasible: needs {format_size(need)}, the largest device has "
                    f"{format_size(largest)}")
        self._needs[job.individual_id] = need
        return None

    def need(self, job: EvalJob) -> int:
        """The admitted job's estimate in bytes (0 for a job never admitted)."""
        return self._needs.get(job.individual_id, 0)

    def free(self, label: str, running: list[EvalJob]) -> float:
        """Capacity of ``label`` left while ``running`` (the jobs on that device) run."""
        return self.capacities[label] - sum(self.need(job) for job in running)

    def take(self, pending: deque[EvalJob], label: str, running: list[EvalJob]) -> EvalJob | None:
        """Remove and return the pending job an idle worker on ``label`` should start, if any.

        Args:
            pending: the waiting jobs, oldest first (the chosen one is removed).
            label: the idle worker's device.
            running: the jobs running on that device.
        """
        free = self.free(label, running)
        for index, job in enumerate(pending):
            need = self.need(job)
            if need <= free:
                del pending[index]
                self._overtaken.pop(job.individual_id, None)
                for skipped in list(pending)[:index]:
                    key = skipped.individual_id
                    self._overtaken[key] = self._overtaken.get(key, 0) + 1
                return job
            if (self._overtaken.get(job.individual_id, 0) >= self.max_overtakes
                    and need <= self.capacities[label]):
                return None  # this device drains until the long-waiting job fits
        return None

    def fits(self, job: EvalJob, label: str, running: list[EvalJob]) -> bool:
        """Whether ``job`` fits on ``label`` now (used for a crashed job's pinned retry)."""
        return self.need(job) <= self.free(label, running)

    def forget(self, job_id: int) -> None:
        """Drop what is known about a job that has its result."""
        self._needs.pop(job_id, None)
        self._overtaken.pop(job_id, None)


def task_estimator(task_config: dict[str, Any], space_config: dict[str, Any],
                   safety_factor: float = DEFAULT_SAFETY_FACTOR) -> tuple[Estimator, int]:
    """Build the task once in this process and return a job estimator and its resident bytes.

    The estimator is the space's memory hook (``space.memory_hook``, see
    :mod:`genomes.protocol`); a space without one (``neat``) estimates 0.

    Returns:
        ``(estimate, resident_bytes)``: ``estimate(job)`` is the job's estimated peak memory in
        bytes (cached per architecture; 0 where the task or the genome has no network to
        estimate), ``resident_bytes`` the size of the task's dataset arrays (0 when unknown).

    Raises:
        TaskError: when the task config is invalid.
    """
    from evonas.tasks import build_task
    from genomes import load_hook, space_from_dict

    space = space_from_dict(space_config)
    task = build_task(task_config, space)
    resident = _resident_bytes(task)
    recipe = _find_attr(task, "recipe")
    input_shape, num_classes = task.input_shape, task.num_classes
    memory_hook = space.memory_hook
    if recipe is None or input_shape is None or num_classes is None or memory_hook is None:
        return (lambda job: 0), resident
    hook: str = memory_hook
    cache: OrderedDict[str, int] = OrderedDict()

    def estimate(job: EvalJob) -> int:
        key = json.dumps(job.genome_dict(), sort_keys=True)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        estimate_peak_memory = load_hook(hook)  # imported on first use (it loads torch)

        try:
            need = estimate_peak_memory(
                job.genome_object(), space,
                cast("tuple[int, int, int]", tuple(input_shape)), num_classes,
                recipe.batch_size, recipe.optimizer, eval_batch_size=recipe.eval_batch_size,
                safety_factor=safety_factor).total
        except Exception:  # noqa: BLE001 (the worker reports what is wrong with the genome)
            need = 0
        cache[key] = need
        if len(cache) > ESTIMATE_CACHE_SIZE:
            cache.popitem(last=False)
        return need

    return estimate, resident


def _find_attr(task: Any, name: str) -> Any:
    """``task.<name>``, looking through wrapper tasks (``task.inner``)."""
    while task is not None:
        value = getattr(task, name, None)
        if value is not None:
            return value
        task = getattr(task, "inner", None)
    return None


def _resident_bytes(task: Any) -> int:
    """Bytes of the task's dataset arrays (its ``splits``), which each worker copies to its
    device; 0 when the task keeps none."""
    splits = _find_attr(task, "splits")
    if splits is None or not is_dataclass(splits):
        return 0
    return sum(int(getattr(getattr(splits, f.name), "nbytes", 0)) for f in fields(splits))
