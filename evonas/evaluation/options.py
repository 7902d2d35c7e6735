"""The ``evaluator:`` options: where evaluations run and how failures are handled.

Declared once here; the config layer validates the section with :data:`EVALUATOR_OPTIONS` and
:func:`evonas.evaluation.make_evaluator` takes the same names as keyword arguments. Torch-free.
"""

from __future__ import annotations

import re
from typing import Any

from evonas.errors import ConfigError
from evonas.evaluation.memory import DEFAULT_SAFETY_FACTOR, parse_bytes
from evonas.options import Option, OptionSchema, closest

#: Most worker processes a pool may have (more would only exhaust memory and file handles).
MAX_WORKERS = 4096
#: What ``evaluator.devices`` may list (as :mod:`evonas.evaluation.devices` reads it).
DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(:(\d+))?$")


def _check_devices(devices: Any, where: str) -> None:
    if not devices:
        raise ConfigError(f"{where}: the list is empty; leave it out (or null) to use the "
                          "detected devices")
    for i, device in enumerate(devices):
        if not isinstance(device, str) or not DEVICE_RE.match(device):
            raise ConfigError(f"{where}[{i}]: unknown device {device!r} (use cpu, cuda, cuda:N "
                              "or mps)")


def _check_backend(name: Any, where: str) -> None:
    from evonas.evaluation import BACKENDS  # the registry (this module is imported by it)

    if name not in BACKENDS:
        raise ConfigError(f"{where}: must be one of {', '.join(sorted(BACKENDS))}, got "
                          f"{name!r}{closest(str(name), BACKENDS)}")


def _check_memory(value: Any, where: str) -> None:
    try:
        parse_bytes(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_combinations(ev: dict[str, Any], label: str) -> None:
    per_device = ev["workers_per_device"]
    if per_device is None:
        return
    devices = len(ev["devices"] or [None])
    if devices * per_device > MAX_WORKERS:
        raise ConfigError(f"{label}: evaluator.workers_per_device: {devices} devices x "
                          f"{per_device} is more than {MAX_WORKERS} workers")
    if ev["backend"] == "ray":
        raise ConfigError(f"{label}: evaluator.workers_per_device: the local pool only; with "
                          "backend: ray, set workers (and num_gpus per actor)")
    if ev["workers"] == 0:
        raise ConfigError(f"{label}: evaluator.workers_per_device: needs the worker pool, but "
                          "workers is 0 (in-process evaluation); set workers to 1 or more")


#: The ``evaluator:`` section, in the order :func:`~evonas.evaluation.make_evaluator` takes them.
EVALUATOR_OPTIONS = OptionSchema(
    Option("workers", 1, "0: evaluate in this process; N: a pool of N worker processes", low=0,
           high=MAX_WORKERS),
    Option("timeout", None, "seconds an evaluation may run before its worker is killed",
           kind=float, low=0.001),
    Option("devices", None, "devices for the workers (cpu, cuda, cuda:N, mps); null: every "
           "visible GPU, else CPU", kind=list, validator=_check_devices),
    Option("max_crashes", 2, "attempts a job gets when its worker dies or hangs", low=1),
    Option("max_tasks_per_worker", None, "evaluations after which a worker is replaced (null: "
           "never)", kind=int, low=1),
    Option("backend", "local", "local (in-process or a local pool), ray, or a backend "
           "registered with evonas.evaluation.register_backend", validator=_check_backend),
    Option("address", None, "ray only: null starts a local Ray, auto joins this machine's "
           "cluster, ray://host:port a remote one", kind=str),
    Option("num_cpus", 1.0, "ray only: CPUs each actor asks for", low=0),
    Option("num_gpus", 0.0, "ray only: GPUs each actor asks for", low=0),
    Option("max_retries", 1, "ray only: re-submissions of a job whose actor died", low=0,
           high=1000),
    Option("workers_per_device", None, "pool only: workers on each device (replaces workers)",
           kind=int, low=1, high=256),
    Option("device_memory", None, "pool only: memory per device (bytes or \"8GiB\") for "
           "memory-aware dispatch", kind=object, validator=_check_memory),
    Option("memory_safety_factor", DEFAULT_SAFETY_FACTOR, "multiplies every memory estimate",
           low=1),
    check=_check_combinations,
)
