"""Which device each pool worker owns, and the environment its process starts with.

Worker ``i`` owns ``devices[i % len(devices)]``. With ``workers_per_device`` given, the pool has
``len(devices) * workers_per_device`` workers, so every device gets exactly that many. A CUDA
worker sees only its own GPU (``CUDA_VISIBLE_DEVICES`` is set before the process starts, so
inside it the GPU is ``cuda:0``).
Every worker gets ``cores // workers`` torch threads, so the pool does not oversubscribe the CPU
(``cores`` counts the cores this process may use, which is less than ``os.cpu_count()`` under
``taskset`` or a container CPU set).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(:(\d+))?$")


@dataclass(frozen=True)
class WorkerDevice:
    """One worker's device.

    Attributes:
        label: the device as the user names it (``"cpu"``, ``"cuda:1"``); used in worker names.
        local: the device as the worker process sees it (``"cpu"``, ``"cuda:0"``).
        threads: torch intra-op threads for the worker.
        env: environment variables set for the worker process before it starts.
    """

    label: str
    local: str
    threads: int
    env: dict[str, str] = field(default_factory=dict)


def _no_gpu_device_nodes() -> bool:
    """True on Linux when no NVIDIA or ROCm device node exists (no GPU, whatever torch says)."""
    if not sys.platform.startswith("linux"):
        return False
    return not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd"))


def default_devices() -> list[str]:
    """``cuda:0 .. cuda:n-1`` when torch sees GPUs, else ``["cpu"]``.

    On a Linux machine without GPU device nodes this answers without importing torch (seconds
    of start-up saved in the campaign process)."""
    if _no_gpu_device_nodes():
        return ["cpu"]
    try:
        import torch

        count = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 (no usable CUDA: CPU slots)
        count = 0
    return [f"cuda:{k}" for k in range(count)] or ["cpu"]


def usable_cpus() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def plan_devices(workers: int, devices: list[str] | None = None, cpu_count: int | None = None,
                 threads: int | None = None,
                 workers_per_device: int | None = None) -> list[WorkerDevice]:
    """The device of each of ``workers`` workers.

    Args:
        workers: number of worker processes (>= 1); ignored when ``workers_per_device`` is given.
        devices: devices to share out round-robin; default :func:`default_devices` (on a machine
            without GPUs, ``["cpu"]``: the CPU counts as one device).
        cpu_count: cores to share among all workers (default :func:`usable_cpus`).
        threads: torch threads per worker, instead of ``cpu_count // workers``.
        workers_per_device: workers on each device; the plan then has
            ``len(devices) * workers_per_device`` workers.

    Raises:
        ValueError: on an empty list, a device string that is not ``cpu``, ``cuda[:k]`` or
            ``mps``, or fewer than one worker (per device).
    """
    devices = list(devices) if devices is not None else default_devices()
    if not devices:
        raise ValueError("devices: the list is empty")
    if workers_per_device is not None:
        if workers_per_device < 1:
            raise ValueError(f"workers_per_device: need at least 1, got {workers_per_device}")
        workers = len(devices) * workers_per_device
    if workers < 1:
        raise ValueError(f"workers: need at least 1 worker, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads: need at least 1 thread per worker, got {threads}")
    threads = threads or max(1, (cpu_count or usable_cpus()) // workers)
    plan = []
    for i in range(workers):
        label = devices[i % len(devices)]
        match = _DEVICE_RE.match(label)
        if match is None:
            raise ValueError(f"devices[{i % len(devices)}]: unknown device {label!r} "
                             "(use cpu, cuda, cuda:N or mps)")
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        local = label
        if match.group(1) == "cuda":
            env["CUDA_VISIBLE_DEVICES"] = _physical_gpu(int(match.group(3) or 0))
            local = "cuda:0"
        plan.append(WorkerDevice(label, local, threads, env))
    return plan


def _physical_gpu(index: int) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` entry for the parent's ``cuda:index``.

    When the parent itself runs with ``CUDA_VISIBLE_DEVICES`` set, its ``cuda:k`` is the k-th
    entry of that list, not physical GPU k.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
        if index < len(entries):
            return entries[index]
    return str(index)


@contextlib.contextmanager
def patched_environ(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the duration of the block, then restore it.

    A process started inside the block inherits these variables.
    """
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
