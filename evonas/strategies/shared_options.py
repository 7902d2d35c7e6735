"""Options several strategies share, declared once so that one idea has one name everywhere.

``population`` is the number of members a strategy keeps, ``crossover_prob`` and
``mutation_prob`` the chances that a child is bred by crossover or by mutation, ``lr`` a learning
rate, ``generations`` a cap on generations, ``mutation_weights`` the relative weights of the DAG
mutation operators.
"""

from __future__ import annotations

import math
from typing import Any

from evonas.errors import ConfigError
from evonas.options import MAX_POPULATION, Option, closest
from operators import MUTATIONS


def population(default: int, doc: str = "members kept each generation (and the first size)",
               low: int = 2) -> Option:
    """``population``: how many members the strategy keeps."""
    return Option("population", default, doc, low=low, high=MAX_POPULATION)


def crossover_prob(default: float, doc: str = "chance that a child is bred by crossover",
                   aliases: tuple[str, ...] = ()) -> Option:
    """``crossover_prob``: the chance that a child comes from crossover."""
    return Option("crossover_prob", default, doc, low=0, high=1, aliases=aliases)


def mutation_prob(default: float, doc: str = "chance that a child is bred by mutation",
                  aliases: tuple[str, ...] = ()) -> Option:
    """``mutation_prob``: the chance that a child comes from mutation."""
    return Option("mutation_prob", default, doc, low=0, high=1, aliases=aliases)


def lr(default: float, doc: str = "learning rate", aliases: tuple[str, ...] = ()) -> Option:
    """``lr``: a learning rate (more than 0)."""
    return Option("lr", default, doc, low=0, low_open=True, aliases=aliases)


def generations() -> Option:
    """``generations``: stop after this many generations (null: the budget decides)."""
    return Option("generations", None, "stop after this many generations (null: the budget "
                  "decides)", kind=int, low=1)


def tournament_size(default: int = 3) -> Option:
    """``tournament_size``: contestants per tournament."""
    return Option("tournament_size", default, "contestants per tournament", low=1,
                  high=MAX_POPULATION)


def _check_mutation_weights(weights: Any, where: str) -> None:
    for op, w in weights.items():
        if op not in MUTATIONS:
            raise ConfigError(f"{where}.{op}: unknown operator{closest(str(op), MUTATIONS)}")
        if not isinstance(w, int | float) or isinstance(w, bool) or w < 0 \
                or not math.isfinite(w):
            raise ConfigError(f"{where}.{op}: must be a finite number >= 0, got {w!r}")
    if weights and not any(w > 0 for w in weights.values()):
        raise ConfigError(f"{where}: at least one operator needs a weight above 0")


def mutation_weights() -> Option:
    """``mutation_weights``: relative weights of the DAG mutation operators by name."""
    return Option("mutation_weights", None, "relative weights of the mutation operators by name "
                  f"({', '.join(sorted(MUTATIONS))}); null: the defaults", kind=dict,
                  validator=_check_mutation_weights)
