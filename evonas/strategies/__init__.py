"""Search strategies behind one contract (see :mod:`evonas.strategies.base`)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from evonas.strategies.base import Candidate, Evaluated, Strategy
from evonas.strategies.generational import GenerationalEvolution
from evonas.strategies.random_search import RandomSearch
from evonas.strategies.regularized import RegularizedEvolution
from genomes import SearchSpace

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (GenerationalEvolution, RegularizedEvolution, RandomSearch)
}


def strategy_defaults(name: str) -> dict[str, Any]:
    """The documented keyword defaults of strategy ``name`` (what ``strategy:`` may set)."""
    params = inspect.signature(STRATEGIES[name].__init__).parameters
    return {p.name: p.default for p in params.values() if p.kind is p.KEYWORD_ONLY}


def build_strategy(config: dict[str, Any], space: SearchSpace,
                   rng: np.random.Generator) -> Strategy:
    """Build a strategy from its (already validated) ``strategy:`` config mapping."""
    options = dict(config)
    cls = STRATEGIES[options.pop("name")]
    return cls(space, rng, **options)


__all__ = [
    "STRATEGIES",
    "Candidate",
    "Evaluated",
    "GenerationalEvolution",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "build_strategy",
    "strategy_defaults",
]
