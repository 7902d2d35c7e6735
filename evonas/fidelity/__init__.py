"""Multi-fidelity evaluation: train most architectures briefly and the promising ones longer.

The ``fidelity:`` config section::

    fidelity:
      scheduler: asha      # asha | hyperband | median | successive_halving |
                           # synchronous_hyperband; null: no ladder
      resource: epochs     # what a rung spends: epochs, or data_fraction
      min: 1               # the first rung's epochs (data_fraction: its fraction, e.g. 0.1)
      max: 27              # the top rung's epochs (null: the task's epochs; data_fraction: 1)
      eta: 3               # rungs grow by eta; ASHA and Hyperband promote the top 1/eta
      rungs: null          # an explicit list of amounts instead of min, max and eta
      brackets: null       # (synchronous_)hyperband: how many brackets (null: one per rung
                           # but the top)
      min_results: 3       # median: results a rung needs before it stops anyone
      cohort: null         # successive_halving: individuals deciding their rungs together
                           # (null: eta ** (rungs - 1), so that one reaches the top rung)

With ``resource: epochs`` a promotion continues training from the rung below (one learning-rate
schedule spans the ladder). With ``resource: data_fraction`` every rung trains the task's full
recipe from scratch on a stratified fraction of the train split (``max / eta**k`` down to
``min``, nested: each rung's images include those of the rung below; it multiplies the task's own
``data_fraction``), as Hyperband subsamples a dataset (Li et al. 2018, section 4.2); an
individual's seconds still add up over its rungs.

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
    RESOURCES,
    SCHEDULERS,
    Hyperband,
    MedianStopping,
    Scheduler,
    SuccessiveHalving,
    SynchronousHyperband,
    geometric_fractions,
    geometric_rungs,
)
from evonas.objectives import Objective, objectives_from_config
from evonas.options import Option, OptionSchema

__all__ = ["ASHA", "FIDELITY_OPTIONS", "SCHEDULERS", "Hyperband", "MedianStopping", "Scheduler",
           "SuccessiveHalving", "SynchronousHyperband", "build_scheduler", "geometric_fractions",
           "geometric_rungs", "rungs_of"]


def _check_rungs(value: Any, where: str) -> None:
    if value is None:
        return
    if not (isinstance(value, list) and value
            and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                    for v in value)
            and all(a < b for a, b in zip(value, value[1:], strict=False))):
        raise ConfigError(f"{where}: must be a list of increasing positive amounts (epochs or "
                          f"fractions), got {value!r:.80}")


FIDELITY_OPTIONS = OptionSchema(
    Option("scheduler", None, "asha, hyperband, median, successive_halving or "
           "synchronous_hyperband; null: every evaluation trains the task's full recipe",
           kind=str, choices=tuple(SCHEDULERS)),
    Option("resource", "epochs", "what a rung spends: epochs (continued from the rung below) "
           "or data_fraction (the train split's fraction, trained from scratch)", kind=str,
           choices=tuple(RESOURCES)),
    Option("min", 1, "the first rung's epochs, or its fraction of the training data", kind=float,
           low=0, low_open=True),
    Option("max", None, "the top rung's epochs (null: the task's epochs), or fraction (null: 1)",
           kind=float, low=0, low_open=True),
    Option("eta", 3.0, "rungs grow by this factor; ASHA and Hyperband promote the top 1/eta",
           kind=float, low=1.1, high=100.0),
    Option("rungs", None, "explicit increasing amounts of the rungs (replaces min, max, eta's "
           "spacing)", kind=list, validator=_check_rungs),
    Option("brackets", None, "hyperband and synchronous_hyperband: how many brackets (null: "
           "one per rung but the top)",
           kind=int, low=1),
    Option("min_results", 3, "median: results a rung holds before the rule stops anyone",
           low=1),
    Option("cohort", None, "successive_halving: individuals that start together and decide "
           "each rung together (null: eta ** (rungs - 1))", kind=int, low=2),
)


def rungs_of(section: Mapping[str, Any], task_epochs: Any, where: str = "fidelity"
             ) -> list[float]:
    """The rungs' amounts of a ``fidelity:`` section: epochs (integers), or fractions of the
    training data in ``(0, 1]``.

    Raises:
        ConfigError: when they cannot be made (``max`` below ``min``, no epochs known, an
            amount the resource cannot have).
    """
    if section.get("resource") == "data_fraction":
        rungs: list[float] = _fraction_rungs(section, where)
    else:
        rungs = list(_epoch_rungs(section, task_epochs, where))
    if len(rungs) < 2:
        raise ConfigError(f"{where}: a ladder needs at least two rungs, got {rungs}; lower "
                          "fidelity.min or raise fidelity.max")
    return rungs


def _fraction_rungs(section: Mapping[str, Any], where: str) -> list[float]:
    if section.get("rungs"):
        rungs, key = list(section["rungs"]), "rungs"
    else:
        high = section.get("max") or 1.0
        if section["min"] >= high:
            raise ConfigError(f"{where}.min: the first rung's fraction of the training data must "
                              f"be below fidelity.max ({high:g}), got {section['min']:g}")
        rungs, key = geometric_fractions(section["min"], high, section["eta"]), "min"
    if not all(0 < r <= 1 for r in rungs):
        raise ConfigError(f"{where}.{key}: fractions of the training data lie in (0, 1], got "
                          f"{rungs}")
    return rungs


def _epoch_rungs(section: Mapping[str, Any], task_epochs: Any, where: str) -> list[int]:
    if section.get("rungs"):
        rungs = list(section["rungs"])
        if not all(float(r).is_integer() for r in rungs):
            raise ConfigError(f"{where}.rungs: epochs are whole numbers from 1, got {rungs}")
        return [int(r) for r in rungs]
    low = section["min"]
    if not float(low).is_integer():
        raise ConfigError(f"{where}.min: epochs are whole numbers, got {low:g}")
    high = section.get("max") or task_epochs
    if not isinstance(high, int | float) or isinstance(high, bool) \
            or not float(high).is_integer() or high < 1:
        raise ConfigError(f"{where}.max: the task has no epochs option; set fidelity.max")
    if high < low:
        raise ConfigError(f"{where}.max: {high:g} is below fidelity.min ({low:g})")
    return geometric_rungs(int(low), int(high), section["eta"])


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
    resource = section.get("resource") or "epochs"
    if name == "hyperband":
        return Hyperband(rungs, objectives, eta, resource, seed=int(config.get("seed") or 0),
                         brackets=section.get("brackets"))
    if name == "median":
        return MedianStopping(rungs, objectives, eta, resource,
                              min_results=section["min_results"])
    if name == "successive_halving":
        return SuccessiveHalving(rungs, objectives, eta, resource, cohort=section.get("cohort"))
    if name == "synchronous_hyperband":
        return SynchronousHyperband(rungs, objectives, eta, resource,
                                    brackets=section.get("brackets"))
    return SCHEDULERS[name](rungs, objectives, eta, resource)
