"""Search strategies behind one contract (see :mod:`evonas.strategies.base`).

Strategies are registered by name and imported on first use, so importing the engine (as every
spawned worker does) never pulls in torch for a strategy that needs it (REINFORCE).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np

from evonas.strategies.base import Candidate, Evaluated, Strategy, search_seconds
from genomes import SearchSpace

#: Strategy name (``strategy.name`` in configs) -> ``module:Class``.
STRATEGIES: dict[str, str] = {
    "generational": "evonas.strategies.generational:GenerationalEvolution",
    "regularized_evolution": "evonas.strategies.regularized:RegularizedEvolution",
    "random": "evonas.strategies.random_search:RandomSearch",
    "nsga2": "evonas.strategies.nsga2:NSGA2",
    "reinforce": "evonas.strategies.reinforce:Reinforce",
    "neat": "evonas.strategies.neat:NEAT",
    "darts": "evonas.strategies.darts:DARTS",
}
_CLASS_NAMES = {path.split(":")[1]: name for name, path in STRATEGIES.items()}


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name`` (imported on first use).

    Raises:
        KeyError: for an unknown name.
    """
    module, _, attr = STRATEGIES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def strategy_defaults(name: str) -> dict[str, Any]:
    """The documented keyword defaults of strategy ``name`` (what ``strategy:`` may set)."""
    params = inspect.signature(strategy_class(name).__init__).parameters
    return {p.name: p.default for p in params.values() if p.kind is p.KEYWORD_ONLY}


def build_strategy(config: dict[str, Any], space: SearchSpace,
                   rng: np.random.Generator) -> Strategy:
    """Build a strategy from its (already validated) ``strategy:`` config mapping."""
    options = dict(config)
    return strategy_class(options.pop("name"))(space, rng, **options)


def __getattr__(attr: str) -> Any:
    """Strategy classes by class name (``from evonas.strategies import NSGA2``), lazily."""
    if attr in _CLASS_NAMES:
        return strategy_class(_CLASS_NAMES[attr])
    raise AttributeError(f"module 'evonas.strategies' has no attribute {attr!r}")


__all__ = [
    "DARTS",
    "NEAT",
    "NSGA2",
    "STRATEGIES",
    "Candidate",
    "Evaluated",
    "GenerationalEvolution",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "Strategy",
    "build_strategy",
    "search_seconds",
    "strategy_class",
    "strategy_defaults",
]
