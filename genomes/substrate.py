"""HyperNEAT substrates: the geometry whose connection weights a CPPN paints.

A substrate is a stack of layers of nodes, each node a point in the plane. Every node of layer
``l`` connects to every node of layer ``l + 1``; the CPPN, queried with the coordinates of both
ends ``(x1, y1, x2, y2)``, gives the weight from its output ``2l`` and, queried with
``(0, 0, x2, y2)``, the target node's bias from its output ``2l + 1``. An expression threshold
prunes weak connections (see :func:`express`). Layer 0 is the input, the last layer the output.

Plain data, no torch: :mod:`evonas.compiler.hyperneat` paints and compiles substrates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genomes.errors import GenomeError

Point = tuple[float, float]


def grid(rows: int, cols: int) -> tuple[Point, ...]:
    """``rows x cols`` points evenly spread over ``[-1, 1]^2`` (a single row or column sits at 0).

    Points are listed row by row, so a grid of pixels matches a flattened image.
    """
    if rows < 1 or cols < 1:
        raise GenomeError(f"substrate: a grid needs positive sizes, got {rows}x{cols}")

    def axis(n: int) -> list[float]:
        return [0.0] if n == 1 else [-1.0 + 2.0 * i / (n - 1) for i in range(n)]

    return tuple((x, y) for y in axis(rows) for x in axis(cols))


def express(value: float, threshold: float, max_weight: float) -> float:
    """HyperNEAT's expression rule for a CPPN output ``value`` (clipped to ``[-1, 1]``).

    Outputs with ``|value| <= threshold`` express no connection (0); the rest are rescaled to
    ``sign(value) * (|value| - threshold) / (1 - threshold) * max_weight``.
    """
    v = max(-1.0, min(1.0, value))
    if abs(v) <= threshold:
        return 0.0
    return math.copysign((abs(v) - threshold) / (1.0 - threshold) * max_weight, v)


@dataclass(frozen=True)
class Substrate:
    """Layers of 2-D node coordinates.

    Attributes:
        layers: the node coordinates of each layer, input layer first.
        threshold: the expression threshold, in ``[0, 1)``.
        max_weight: the largest weight magnitude a connection can get.
    """

    layers: tuple[tuple[Point, ...], ...]
    threshold: float = 0.2
    max_weight: float = 3.0

    def __post_init__(self) -> None:
        if len(self.layers) < 2:
            raise GenomeError("substrate: needs at least an input and an output layer")
        for i, layer in enumerate(self.layers):
            if not layer:
                raise GenomeError(f"substrate.layers[{i}]: empty layer")
            for p in layer:
                if len(p) != 2 or not all(isinstance(v, int | float) for v in p):
                    raise GenomeError(f"substrate.layers[{i}]: points are (x, y) pairs, got {p!r}")
        if not 0 <= self.threshold < 1:
            raise GenomeError(f"substrate.threshold: must be in [0, 1), got {self.threshold}")
        if not self.max_weight > 0:
            raise GenomeError(f"substrate.max_weight: must be positive, got {self.max_weight}")

    @classmethod
    def grids(cls, shapes: list[tuple[int, int]], threshold: float = 0.2,
              max_weight: float = 3.0) -> Substrate:
        """A substrate of grid layers, e.g. ``[(8, 8), (5, 5), (1, 10)]``."""
        return cls(tuple(grid(r, c) for r, c in shapes), threshold, max_weight)

    @property
    def sizes(self) -> list[int]:
        """Nodes per layer."""
        return [len(layer) for layer in self.layers]

    @property
    def cppn_inputs(self) -> int:
        """Inputs the painting CPPN needs: ``(x1, y1, x2, y2)``."""
        return 4

    @property
    def cppn_outputs(self) -> int:
        """Outputs the painting CPPN needs: a weight and a bias output per layer pair."""
        return 2 * (len(self.layers) - 1)

    def queries(self, pair: int) -> list[tuple[float, float, float, float]]:
        """CPPN inputs for the weights of layer pair ``pair``, source-major (row ``i * n_dst + j``
        is source ``i`` to target ``j``)."""
        return [(*a, *b) for a in self.layers[pair] for b in self.layers[pair + 1]]

    def bias_queries(self, pair: int) -> list[tuple[float, float, float, float]]:
        """CPPN inputs for the biases of layer ``pair + 1``."""
        return [(0.0, 0.0, *b) for b in self.layers[pair + 1]]

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [[list(p) for p in layer] for layer in self.layers],
                "threshold": self.threshold, "max_weight": self.max_weight}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Substrate:
        layers = tuple(tuple((float(p[0]), float(p[1])) for p in layer)
                       for layer in data["layers"])
        return cls(layers, float(data.get("threshold", 0.2)), float(data.get("max_weight", 3.0)))
