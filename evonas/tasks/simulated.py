"""A task that stands in for training by sleeping (``name: simulated``), for benchmarks and tests.

It wraps another task (by default the NAS-Bench-201 table, a CSV lookup) and, before returning the
inner task's metrics, sleeps for a duration drawn from the evaluation seed. A sleeping worker costs
no CPU and little memory (no torch import with a tabular inner task), so one machine can simulate
a cluster of hundreds of workers whose evaluations take unequal times, which is what dispatch and
utilization benchmarks need. Config::

    task:
      name: simulated
      inner: {name: tabular, table: nb201_cifar10}
      duration: {distribution: lognormal, mean: 1.0, sigma: 1.0}

Distributions (every number finite, ``mean`` in seconds):

* ``lognormal`` (``mean``, ``sigma``): ``exp(N(mu, sigma^2))`` with ``mu = ln(mean) - sigma^2 / 2``,
  so the distribution's mean is ``mean`` (its median is ``mean * exp(-sigma^2 / 2)``).
* ``fixed`` (``mean``): always ``mean``.
* ``uniform`` (``mean``, ``spread``): uniform on ``[mean * (1 - spread), mean * (1 + spread)]``,
  ``0 < spread <= 1`` (default 1: ``[0, 2 * mean]``).

The draw is a pure function of the seed (a numpy Generator seeded from the seed and the CRC-32 of
``"duration"``), so the same evaluation always takes the same time and a campaign with a fixed seed
sees the same durations on every run. The metrics are the inner task's plus ``simulated_seconds``
(the duration slept).

It honours a ``fidelity:`` ladder (and no other part of a training plan: it has no weights to
keep or inherit): the drawn duration is that of the whole ladder's schedule, and a rung sleeps
its share, ``(epochs - resumed epoch) / schedule epochs`` (``fidelity.max`` sets the schedule,
the task having no epochs of its own), or its ``data_fraction``. A rung's state file holds only
the epoch reached (safetensors, one integer), so the rung above continues from there. The
metrics (the inner task's) do not change with the rung: what it simulates is the time.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from evonas.tasks.base import Task
from evonas.tasks.errors import TaskError
from evonas.tasks.options import read_options, require, suggest
from evonas.tasks.plan import TrainingPlan
from evonas.tasks.registry import build_inner_task
from genomes import DAGGenome, SearchSpace

#: Each distribution's options (besides ``distribution``) and their defaults.
DISTRIBUTIONS: dict[str, dict[str, float]] = {
    "lognormal": {"mean": 1.0, "sigma": 1.0},
    "fixed": {"mean": 1.0},
    "uniform": {"mean": 1.0, "spread": 1.0},
}

SIMULATED_DEFAULTS: dict[str, Any] = {
    "inner": {"name": "tabular"},
    "duration": {"distribution": "lognormal", "mean": 1.0, "sigma": 1.0},
}

_DURATION_SALT = zlib.crc32(b"duration")


class SimulatedTask(Task[DAGGenome]):
    """Sleep a seeded duration, then return ``inner``'s metrics plus ``simulated_seconds``.

    Args:
        inner: the wrapped task (it computes the metrics).
        distribution: one of :data:`DISTRIBUTIONS`.
        mean: the mean duration in seconds (> 0).
        sigma: the lognormal's sigma (> 0; ``lognormal`` only).
        spread: the uniform's half-width relative to ``mean`` (``0 < spread <= 1``; ``uniform``
            only).
    """

    name = "simulated"
    #: A rung of a fidelity ladder sleeps its share of the duration (no weights are trained).
    accepts_plan = True
    plan_options = frozenset({"fidelity.scheduler"})

    def __init__(self, inner: Task, distribution: str = "lognormal", mean: float = 1.0,
                 sigma: float = 1.0, spread: float = 1.0) -> None:
        if distribution not in DISTRIBUTIONS:
            raise TaskError(f"task.duration.distribution: unknown distribution {distribution!r}"
                            f"{suggest(distribution, DISTRIBUTIONS)} "
                            f"(choose from {list(DISTRIBUTIONS)})")
        self.inner = inner
        self.fitness_metric = inner.fitness_metric
        self.input_shape = inner.input_shape
        self.num_classes = inner.num_classes
        self.distribution = distribution
        self.mean = float(mean)
        self.sigma = float(sigma)
        self.spread = float(spread)
        self._mu = math.log(self.mean) - self.sigma ** 2 / 2

    def duration_for(self, seed: int) -> float:
        """The seconds the evaluation with this seed sleeps (a pure function of ``seed``)."""
        if self.distribution == "fixed":
            return self.mean
        rng = np.random.default_rng([seed % 2**64, _DURATION_SALT])
        if self.distribution == "lognormal":
            return float(rng.lognormal(self._mu, self.sigma))
        return float(self.mean * (1.0 + self.spread * (2.0 * rng.random() - 1.0)))

    def warm_up(self, device: str = "cpu") -> None:
        self.inner.warm_up(device)

    def evaluate(self, genome: DAGGenome, seed: int, device: str = "cpu",
                 plan: TrainingPlan | None = None) -> dict[str, float]:
        share, rung = (1.0, {}) if plan is None else _rung_share(plan)
        seconds = self.duration_for(seed) * share
        time.sleep(seconds)
        metrics = dict(self.inner.evaluate(genome, seed, device))
        metrics["simulated_seconds"] = round(seconds, 6)
        metrics.update(rung)
        if plan is not None and plan.save_to:
            _save_epoch(plan.save_to, int(rung.get("epochs", 0)))
        return metrics

    def describe(self) -> str:
        return (f"simulated {self.distribution} durations (mean {self.mean:g} s) over "
                f"{self.inner.describe()}")


def _rung_share(plan: TrainingPlan) -> tuple[float, dict[str, float]]:
    """The share of the whole duration one rung sleeps, and the metrics that say which rung."""
    if plan.data_fraction is not None:
        return float(plan.data_fraction), {"data_fraction": float(plan.data_fraction)}
    if plan.epochs is None:
        return 1.0, {}
    start = _load_epoch(plan.resume_from) if plan.resume_from else 0
    schedule = plan.schedule_epochs or plan.epochs
    if not 0 <= start < plan.epochs <= schedule:
        raise TaskError(f"simulated: a rung to epoch {plan.epochs} of {schedule} cannot continue "
                        f"from epoch {start}")
    rung: dict[str, float] = {"epochs": plan.epochs}
    if start:
        rung["resumed_from_epoch"] = start
    return (plan.epochs - start) / schedule, rung


def _save_epoch(path: str, epoch: int) -> None:
    """Write the epoch a rung reached (atomically: a temporary file, then a rename)."""
    tmp = f"{path}.tmp"
    save_file({"epoch": np.array([epoch], dtype=np.int64)}, tmp)
    os.replace(tmp, path)


def _load_epoch(path: str) -> int:
    return int(load_file(path)["epoch"][0])


def _positive(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def make_simulated_task(task_config: dict[str, Any], space: SearchSpace) -> SimulatedTask:
    """The registry factory for ``name: simulated``."""
    options = read_options("simulated", task_config, SIMULATED_DEFAULTS)
    duration = dict(options["duration"])
    distribution = duration.pop("distribution", "lognormal")
    require(isinstance(distribution, str) and distribution in DISTRIBUTIONS,
            "duration.distribution",
            f"unknown distribution {distribution!r}{suggest(str(distribution), DISTRIBUTIONS)} "
            f"(choose from {list(DISTRIBUTIONS)})")
    allowed = DISTRIBUTIONS[distribution]
    for key, value in duration.items():
        require(key in allowed, f"duration.{key}",
                f"unknown key for the {distribution} distribution{suggest(str(key), allowed)} "
                f"(allowed: {['distribution', *allowed]})")
        require(_positive(value), f"duration.{key}",
                f"must be a finite number above 0, got {value!r}")
    values = {**allowed, **{key: float(value) for key, value in duration.items()}}
    if "spread" in values:
        require(values["spread"] <= 1, "duration.spread",
                f"must be at most 1 (durations cannot be negative), got {values['spread']!r}")
    inner = build_inner_task(options["inner"], space)
    return SimulatedTask(inner, distribution, **values)
