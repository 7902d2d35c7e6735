"""A fault-injecting task for tests of the evaluation machinery (``name: faulty``).

It wraps another task and misbehaves on chosen evaluations, so tests can check that a worker that
dies, hangs, raises or runs out of memory costs one failed result and nothing more. It lives in a
real module (not a test file) so spawned workers can build it from its config. Config::

    task:
      name: faulty
      inner: {name: tabular, table: nb201_cifar10}
      faults:                      # each a list of triggers
        exit: ["|nor_conv_3x3~0|+|...|"]   # os._exit(exit_code): the worker process dies
        hang: [17]                 # sleep hang_seconds: the evaluator's timeout must fire
        raise: [...]               # RuntimeError("injected fault")
        nan: [...]                 # EvaluationFailure("nan loss")
        memory: [...]              # MemoryError
      rates: {exit: 0.05, hang: 0.05, raise: 0.05, nan: 0.05, memory: 0.0}
      exit_code: 3
      hang_seconds: 3600
      memory_at_half_batch: true   # false: a memory fault spares the half-batch retry
      exit_on_build: false         # true: os._exit(exit_code) while the task is being built

A trigger is an int (matches the evaluation seed) or a string (matches the genome's
``describe()`` string, which is its NB201 notation for nb201 cells, or its ``canonical_hash()``).

A rate is the probability that an evaluation hits that fault. The draw is deterministic: kind
``k`` fires when ``numpy.random.default_rng([seed, crc32(k)]).random() < rates[k]``, with ``seed``
the evaluation seed. So the same job always hits the same fault: a retry of a job whose worker
died dies again, which is exactly what the evaluator's quarantine (``evaluator.max_crashes``) is
for, and a campaign with a fixed seed faults on the same individuals every time. Explicit triggers
are checked first, then the rates in the order of :data:`FAULT_KINDS`; the first that fires wins,
so the chance of some fault is ``1 - prod(1 - rate)``.

A ``memory`` fault raises ``MemoryError`` at full batch; at a reduced batch (the evaluator's
retry passes ``batch_scale < 1``) it raises again when ``memory_at_half_batch`` is true (the
evaluation is infeasible) and otherwise lets the inner task run (the retry succeeds).
"""

from __future__ import annotations

import os
import time
import zlib
from typing import Any, cast

import numpy as np

from evonas.tasks.base import BatchScalingTask, Task
from evonas.tasks.errors import EvaluationFailure
from evonas.tasks.options import read_options, require, suggest
from evonas.tasks.registry import build_inner_task
from genomes import Genome, SearchSpace

FAULT_KINDS: tuple[str, ...] = ("exit", "hang", "raise", "nan", "memory")

FAULTY_DEFAULTS: dict[str, Any] = {
    "inner": {"name": "tabular"},
    "faults": {},
    "rates": {},
    "exit_code": 3,
    "hang_seconds": 3600.0,
    "memory_at_half_batch": True,
    "exit_on_build": False,
}


class FaultyTask(Task[Genome]):
    """Delegate to ``inner`` except on the evaluations a fault trigger matches.

    Args:
        inner: the wrapped task.
        faults: ``{kind: [trigger, ...]}`` with kinds from :data:`FAULT_KINDS`.
        exit_code: the exit status of an ``exit`` fault.
        hang_seconds: how long a ``hang`` fault sleeps.
        rates: ``{kind: probability}``, drawn deterministically from the evaluation seed.
        memory_at_half_batch: whether a ``memory`` fault also fires at a reduced batch.
    """

    name = "faulty"
    #: :meth:`evaluate` takes ``batch_scale`` (and passes it on where the inner task does).
    scales_batch = True

    def __init__(self, inner: Task, faults: dict[str, list[int | str]], exit_code: int = 3,
                 hang_seconds: float = 3600.0, rates: dict[str, float] | None = None,
                 memory_at_half_batch: bool = True) -> None:
        self.inner = inner
        self.fitness_metric = inner.fitness_metric
        self.input_shape = inner.input_shape
        self.num_classes = inner.num_classes
        self.faults = {kind: set(triggers) for kind, triggers in faults.items()}
        self.rates = dict(rates or {})
        self.exit_code = exit_code
        self.hang_seconds = hang_seconds
        self.memory_at_half_batch = memory_at_half_batch

    def fault_for(self, genome: Genome, seed: int) -> str | None:
        """The fault kind triggered by this evaluation, or None (the same for every retry)."""
        keys = {seed, genome.describe(), genome.canonical_hash()}
        for kind in FAULT_KINDS:
            if keys & self.faults.get(kind, set()):
                return kind
        for kind in FAULT_KINDS:
            if fault_draw(seed, kind) < self.rates.get(kind, 0.0):
                return kind
        return None

    def warm_up(self, device: str = "cpu") -> None:
        self.inner.warm_up(device)

    def evaluate(self, genome: Genome, seed: int, device: str = "cpu", *,
                 batch_scale: float = 1.0) -> dict[str, float]:
        """Inject the triggered fault, or return the inner task's metrics.

        ``batch_scale`` reaches the inner task when it honours it (``scales_batch``).
        """
        kind = self.fault_for(genome, seed)
        if kind == "memory" and batch_scale < 1.0 and not self.memory_at_half_batch:
            kind = None
        if kind == "exit":
            os._exit(self.exit_code)
        elif kind == "hang":
            time.sleep(self.hang_seconds)
        elif kind == "raise":
            raise RuntimeError("injected fault")
        elif kind == "nan":
            raise EvaluationFailure("nan loss")
        elif kind == "memory":
            raise MemoryError("injected out-of-memory")
        if batch_scale != 1.0 and getattr(self.inner, "scales_batch", False):
            inner = cast(BatchScalingTask, self.inner)  # its scales_batch says it takes one
            return inner.evaluate(genome, seed, device, batch_scale=batch_scale)
        return self.inner.evaluate(genome, seed, device)


def fault_draw(seed: int, kind: str) -> float:
    """The uniform ``[0, 1)`` number deciding whether fault ``kind`` hits the evaluation ``seed``.

    A pure function of ``(seed, kind)``: a numpy Generator seeded from the seed and the CRC-32 of
    the kind's name (so adding a kind never changes the draws of the others).
    """
    entropy = [seed % 2**64, zlib.crc32(kind.encode())]
    return float(np.random.default_rng(entropy).random())


def make_faulty_task(task_config: dict[str, Any], space: SearchSpace) -> FaultyTask:
    """The registry factory for ``name: faulty``."""
    options = read_options("faulty", task_config, FAULTY_DEFAULTS)
    faults = options["faults"]
    for kind, triggers in faults.items():
        require(kind in FAULT_KINDS, f"faults.{kind}",
                f"unknown fault kind{suggest(str(kind), FAULT_KINDS)} "
                f"(choose from {list(FAULT_KINDS)})")
        require(isinstance(triggers, list)
                and all(isinstance(t, int | str) and not isinstance(t, bool) for t in triggers),
                f"faults.{kind}", "must be a list of seeds (int) or genome strings")
    rates = options["rates"]
    for kind, rate in rates.items():
        require(kind in FAULT_KINDS, f"rates.{kind}",
                f"unknown fault kind{suggest(str(kind), FAULT_KINDS)} "
                f"(choose from {list(FAULT_KINDS)})")
        require(isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 1,
                f"rates.{kind}", f"must be a probability between 0 and 1, got {rate!r}")
    require(options["hang_seconds"] >= 0, "hang_seconds", "must be >= 0")
    if options["exit_on_build"]:  # a worker that crashes at start-up
        os._exit(options["exit_code"])
    inner = build_inner_task(options["inner"], space)
    return FaultyTask(inner, faults, options["exit_code"], options["hang_seconds"],
                      {kind: float(rate) for kind, rate in rates.items()},
                      options["memory_at_half_batch"])
