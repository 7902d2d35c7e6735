"""evonas: a neuroevolution engine for neural architecture search.

The Python API::

    import evonas
    run = evonas.run("examples/nb201_tabular.yaml", **{"budget.evaluations": 50})
    best = run.best()
    again = evonas.open_run(run.path)

The package loads lazily (PEP 562): ``import evonas.errors`` (which the torch-free ``genomes``
package does) or ``import evonas.cli`` runs no more of the engine than it needs, and an import of
the engine never comes back round through this file. The names below load on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "open_run": "evonas.api",
    "resume": "evonas.api",
    "run": "evonas.api",
    "Individual": "evonas.run",
    "Run": "evonas.run",
    "Study": "evonas.study",
}

__all__ = ["Individual", "Run", "Study", "__version__", "open_run", "resume", "run"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        try:  # ``evonas.config`` after a bare ``import evonas``, as the eager package allowed
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """``evonas.run`` is the function :func:`evonas.api.run`, though a submodule has the same name.

    Importing a submodule sets it as an attribute of its package; this keeps the submodule
    ``evonas.run`` (still in ``sys.modules``, so ``from evonas.run import Run`` works) from
    replacing the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "run" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
