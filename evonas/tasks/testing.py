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
      exit_code: 3
      hang_seconds: 3600
      exit_on_build: false         # true: os._exit(exit_code) while the task is being built

A trigger is an int (matches the evaluation seed) or a string (matches the genome's
``describe()`` string, which is its NB201 notation for nb201 cells, or its ``canonical_hash()``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from evonas.tasks.base import Task
from evonas.tasks.errors import EvaluationFailure
from evonas.tasks.options import read_options, require, suggest
from genomes import DAGGenome, SearchSpace

FAULT_KINDS: tuple[str, ...] = ("exit", "hang", "raise", "nan", "memory")

FAULTY_DEFAULTS: dict[str, Any] = {
    "inner": {"name": "tabular"},
    "faults": {},
    "exit_code": 3,
    "hang_seconds": 3600.0,
    "exit_on_build": False,
}


class FaultyTask(Task):
    """Delegate to ``inner`` except on the evaluations a fault trigger matches.

    Args:
        inner: the wrapped task.
        faults: ``{kind: [trigger, ...]}`` with kinds from :data:`FAULT_KINDS`.
        exit_code: the exit status of an ``exit`` fault.
        hang_seconds: how long a ``hang`` fault sleeps.
    """

    name = "faulty"

    def __init__(self, inner: Task, faults: dict[str, list[int | str]], exit_code: int = 3,
                 hang_seconds: float = 3600.0) -> None:
        self.inner = inner
        self.fitness_metric = inner.fitness_metric
        self.input_shape = inner.input_shape
        self.num_classes = inner.num_classes
        self.faults = {kind: set(triggers) for kind, triggers in faults.items()}
        self.exit_code = exit_code
        self.hang_seconds = hang_seconds

    def fault_for(self, genome: DAGGenome, seed: int) -> str | None:
        """The fault kind triggered by this evaluation, or None."""
        keys = {seed, genome.describe(), genome.canonical_hash()}
        for kind in FAULT_KINDS:
            if keys & self.faults.get(kind, set()):
                return kind
        return None

    def warm_up(self, device: str = "cpu") -> None:
        self.inner.warm_up(device)

    def evaluate(self, genome: DAGGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Inject the triggered fault, or return the inner task's metrics."""
        kind = self.fault_for(genome, seed)
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
        return self.inner.evaluate(genome, seed, device)


def make_faulty_task(task_config: dict[str, Any], space: SearchSpace) -> FaultyTask:
    """The registry factory for ``name: faulty``."""
    from evonas.tasks.registry import build_task

    options = read_options("faulty", task_config, FAULTY_DEFAULTS)
    faults = options["faults"]
    for kind, triggers in faults.items():
        require(kind in FAULT_KINDS, f"faults.{kind}",
                f"unknown fault kind{suggest(str(kind), FAULT_KINDS)} "
                f"(choose from {list(FAULT_KINDS)})")
        require(isinstance(triggers, list)
                and all(isinstance(t, int | str) and not isinstance(t, bool) for t in triggers),
                f"faults.{kind}", "must be a list of seeds (int) or genome strings")
    require(options["hang_seconds"] >= 0, "hang_seconds", "must be >= 0")
    if options["exit_on_build"]:  # a worker that crashes at start-up
        os._exit(options["exit_code"])
    inner = build_task(options["inner"], space)
    return FaultyTask(inner, faults, options["exit_code"], options["hang_seconds"])
