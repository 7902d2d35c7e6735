"""Search strategies behind one contract (see :mod:`evonas.strategies.base`).

Strategies are registered by name with :func:`register_strategy` and imported on first use, so
importing the engine (as every spawned worker does) never pulls in torch for a strategy that needs
it (REINFORCE). A config may also name a strategy class by import path,
``strategy: {name: "my_package.my_module:MyStrategy"}``; its options are its class's
:attr:`~evonas.strategies.base.Strategy.options`.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from evonas.strategies.base import Candidate, Evaluated, Strategy, search_seconds
from genomes import SearchSpace

#: Strategy name (``strategy.name`` in configs) -> ``module:Class``.
STRATEGIES: dict[str, str] = {}


def register_strategy(name: str, target: str | type[Strategy]) -> None:
    """Make ``strategy.name: <name>`` build ``target``.

    Args:
        name: the config name.
        target: the class, or its ``module:Class`` import path (imported on first use, so that
            registering costs no import).
    """
    if isinstance(target, str):
        STRATEGIES[name] = target
    else:
        STRATEGIES[name] = f"{target.__module__}:{target.__qualname__}"


register_strategy("generational", "evonas.strategies.mu_plus_lambda:GenerationalEvolution")
register_strategy("regularized_evolution", "evonas.strategies.regularized:RegularizedEvolution")
register_strategy("random", "evonas.strategies.random_search:RandomSearch")
register_strategy("nsga2", "evonas.strategies.nsga2:NSGA2")
register_strategy("reinforce", "evonas.strategies.reinforce:Reinforce")
register_strategy("neat", "evonas.strategies.neat:NEAT")
register_strategy("darts", "evonas.strategies.darts:DARTS")
register_strategy("bananas", "evonas.strategies.bananas:BANANAS")
register_strategy("local_search", "evonas.strategies.local_search:LocalSearch")
register_strategy("spos", "evonas.strategies.spos:SPOS")
register_strategy("enas", "evonas.strategies.enas:ENAS")
_CLASS_NAMES = {path.split(":")[1]: name for name, path in STRATEGIES.items()}


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``, or named by a ``module:Class`` path (imported here).

    Raises:
        KeyError: for an unknown name that is no import path.
        ImportError: when an import path does not lead to a :class:`Strategy` subclass.
    """
    path = STRATEGIES.get(name)
    if path is None:
        if ":" not in name:
            raise KeyError(name)
        path = name
    module, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except AttributeError:
        raise ImportError(f"module {module!r} has no attribute {attr!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ImportError(f"{path} is not a Strategy subclass")
    return cls


def strategy_defaults(name: str) -> dict[str, Any]:
    """The options strategy ``name`` takes and their defaults (what ``strategy:`` may set)."""
    return strategy_class(name).options.defaults()


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
    "register_strategy",
    "search_seconds",
    "strategy_class",
    "strategy_defaults",
]
