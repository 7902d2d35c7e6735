"""Multi-fidelity evaluation: train most architectures briefly and the promising ones longer.

The ``fidelity:`` config section::

    fidelity:
      scheduler: asha      # asha | hyperband | median; null (the default): no ladder
      resource: epochs     # what a rung spends
      min: 1               # the first rung's epochs
      max: 27              # the top rung's epochs (null: the task's epochs)
      eta: 3               # rungs grow by eta; ASHA and Hyperband promote the top 1/eta
      rungs: null          # an explicit list of epochs instead of min, max and eta
      brackets: null       # Hyperband: how many brackets (null: one per rung but the top)
      min_results: 3       # median: results a rung needs before it stops anyone

It works with every proposing strategy (the strategy is told an individual's last rung) and with
several objectives (promotion by non-dominated rank and crowding). See
:mod:`evonas.fidelity.schedulers` for the rules and :mod:`evonas.fidelity.ladder` for how rungs
are run, journaled and resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evonas.errors import ConfigError
from evonas.fidelity.schedulers import (
    ASHA,
    SCHEDULERS,
    Hyperband,
    MedianStopping,
    Scheduler,
    geometric_rungs,
)
from evonas.objectives import Objective, objectives_from_config
from evonas.options import Option, OptionSchema

__all__ = ["ASHA", "FIDELITY_OPTIONS", "Hyperband", "MedianStopping", "Scheduler",
           "build_scheduler", "geometric_rungs", "rungs_of"]


def _check_rungs(value: Any, where: str) -> None:
    if value is None:
        return
    if not (isinstance(value, list) and value
            and all(type(v) is int and v >= 1 for v in value)
            and all(a < b for a, b in zip(value, value[1:], strict=False))):
        raise ConfigError(f"{where}: must be a list of increasing positive epoch counts, got "
                          f"{value!r:.80}")


FIDELITY_OPTIONS = OptionSchema(
    Option("scheduler", None, "asha, hyperband or median; null: every evaluation trains the "
           "task's full recipe", kind=str, choices=tuple(SCHEDULERS)),
    Option("resource", "epochs", "what a rung spends", kind=str, choices=("epochs",)),
    Option("min", 1, "epochs of the first rung", low=1),
    Option("max", None, "epochs of the top rung (null: the task's epochs)", kind=int, low=1),
    Option("eta", 3.0, "rungs grow by this factor; ASHA and Hyperband promote the top 1/eta",
           kind=float, low=1.1, high=100.0),
    Option("rungs", None, "explicit increasing epochs of the rungs (replaces min, max, eta's "
           "spacing)", kind=list, validator=_check_rungs),
    Option("brackets", None, "hyperband: how many brackets (null: one per rung but the top)",
           kind=int, low=1),
    Option("min_results", 3, "median: results a rung holds before the rule stops anyone",
           low=1),
)


def rungs_of(section: Mapping[str, Any], task_epochs: Any, where: str = "fidelity") -> list[int]:
    """The rungs' epochs of a ``fidelity:`` section.

    Raises:
        ConfigError: when they cannot be made (``max`` below ``min``, no epochs known).
    """
    if section.get("rungs"):
        rungs = list(section["rungs"])
    else:
        high = section.get("max") or task_epochs
        if type(high) is not int or high < 1:
            raise ConfigError(f"{where}.max: the task has no epochs option; set fidelity.max")
        if high < section["min"]:
            raise ConfigError(f"{where}.max: {high} is below fidelity.min ({section['min']})")
        rungs = geometric_rungs(section["min"], high, section["eta"])
    if len(rungs) < 2:
        raise ConfigError(f"{where}: a ladder needs at least two rungs, got {rungs}; lower "
                          "fidelity.min or raise fidelity.max")
    return rungs


def build_scheduler(config: Mapping[str, Any]) -> Scheduler | None:
    """The scheduler a validated campaign config asks for, or None (no ``fidelity:``
    scheduler; configs frozen before the section existed have none)."""
    section = config.get("fidelity") or {}
    name = section.get("scheduler")
    if name is None:
        return None
    task = config.get("task") or {}
    rungs = rungs_of(section, task.get("epochs"))
    objectives = objectives_from_config(config) or [Objective("fitness", "max")]
    eta = float(section["eta"])
    if name == "hyperband":
        return Hyperband(rungs, objectives, eta, seed=int(config.get("seed") or 0),
                         brackets=section.get("brackets"))
    if name == "median":
        return MedianStopping(rungs, objectives, eta, min_results=section["min_results"])
    return SCHEDULERS[name](rungs, objectives, eta)
