"""A small helper that writes a torch.fx graph by hand, one named submodule call at a time.

The compiler never traces Python: it states the network as a list of calls (a placeholder,
``call_module`` nodes on named submodules, ``operator.add`` for sums, and an output), so the
generated ``forward`` is straight-line code with readable names.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx, nn


class GraphBuilder:
    """Collects submodules on a root module and the fx nodes that call them.

    Example:
        >>> b = GraphBuilder()
        >>> x = b.input("x")
        >>> y = b.call("stem", nn.Conv2d(3, 8, 3, padding=1), x)
        >>> module = b.finish(y, "Net")
    """

    def __init__(self) -> None:
        self.root = nn.Module()
        self.graph = fx.Graph()

    def input(self, name: str = "x") -> fx.Node:
        """Add the network's input placeholder."""
        return self.graph.placeholder(name)

    def call(self, target: str, module: nn.Module, *args: fx.Node, name: str | None = None
             ) -> fx.Node:
        """Register ``module`` under the dotted path ``target`` and call it on ``args``.

        Args:
            target: where the module lives, e.g. ``cell_0_1.edge_0_2`` (containers are created).
            module: the module to call.
            *args: the nodes it takes.
            name: the variable name in the generated code (defaults to ``target`` with ``_``).

        Returns:
            The node holding the module's output.

        Raises:
            ValueError: when ``target`` is already taken.
        """
        *path, leaf = target.split(".")
        owner = self.root
        for part in path:
            child = getattr(owner, part, None)
            if child is None:
                child = nn.Module()
                owner.add_module(part, child)
            owner = child
        if hasattr(owner, leaf):
            raise ValueError(f"compiler: submodule {target!r} registered twice")
        owner.add_module(leaf, module)
        return self.graph.create_node("call_module", target, tuple(args),
                                      name=name or target.replace(".", "_"))

    def function(self, fn: Callable[..., Any], *args: Any, name: str) -> fx.Node:
        """Call a free function (``torch.flatten``, ``torch.zeros_like``...) on ``args``."""
        return self.graph.create_node("call_function", fn, tuple(args), name=name)

    def zeros_like(self, like: fx.Node, name: str) -> fx.Node:
        """A zeros tensor shaped like ``like``."""
        return self.function(torch.zeros_like, like, name=name)

    def sum(self, terms: Sequence[fx.Node], name: str) -> fx.Node:
        """Add ``terms`` left to right (``(a + b) + c``); a single term is returned as is.

        Raises:
            ValueError: when ``terms`` is empty.
        """
        if not terms:
            raise ValueError("compiler: a sum needs at least one term")
        total = terms[0]
        for i, term in enumerate(terms[1:], start=2):
            label = name if i == len(terms) else f"{name}_partial"
            total = self.function(operator.add, total, term, name=label)
        return total

    def finish(self, output: fx.Node, class_name: str) -> fx.GraphModule:
        """Close the graph with ``output`` and build the GraphModule."""
        self.graph.output(output)
        self.graph.lint()
        return fx.GraphModule(self.root, self.graph, class_name=class_name)
