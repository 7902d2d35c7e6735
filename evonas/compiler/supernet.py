"""The DARTS supernet of the NAS-Bench-201 cell space, built from the compiler's op library.

Every edge of the cell is a :class:`MixedOp`: all candidate ops of the space side by side (``none``
as :class:`~evonas.compiler.ops.Zero`), their outputs summed with softmax weights of the edge's
architecture parameters. The macro skeleton is the one the compiler gives a derived cell
(:func:`evonas.compiler.networks.emit_nb201`): the same stem, three stages of
``space.cells_per_stage`` cells at ``C, 2C, 4C`` channels with NAS-Bench-201's residual reduction
blocks, and the same head; every cell shares the one set of architecture parameters.

The supernet holds the network weights only; the architecture parameters are a separate
``(edges, ops)`` tensor passed to :meth:`Supernet.forward`, so the two can be optimised
separately (and the network's weights replaced functionally for DARTS' unrolled step).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evonas.compiler.ops import ResNetBasicBlock, Zero, build_op
from genomes import DAGGenome, Edge, NB201Space
from genomes.space import NB201_EDGES


def _candidate_op(name: str, channels: int) -> nn.Module:
    """One candidate op of a mixed edge (``none`` as :class:`Zero`, which the mixture needs)."""
    if name == "none":
        return Zero(channels, channels)
    module = build_op(name, channels, channels)
    assert module is not None  # only "none" builds no module
    return module

class MixedOp(nn.Module):
    """Every candidate op of one edge, mixed by weights that sum to one.

    Args:
        ops: the candidate op names, in the order of the weights.
        channels: input and output channels.
    """

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(_candidate_op(name, channels) for name in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = weights[0] * self.ops[0](x)
        for weight, op in zip(weights[1:], self.ops[1:], strict=True):
            out = out + weight * op(x)
        return out


class SearchCell(nn.Module):
    """A 4-node NAS-Bench-201 cell with a :class:`MixedOp` on each of its six edges.

    Args:
        ops: the candidate op names.
        channels: channels of every node.
    """

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict({f"{src}_{dst}": MixedOp(ops, channels)
                                    for src, dst in NB201_EDGES})

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        index = 0
        for dst in range(1, 4):
            total: torch.Tensor | None = None
            for src in range(dst):
                term = self.edges[f"{src}_{dst}"](nodes[src], weights[index])
                total = term if total is None else total + term
                index += 1
            assert total is not None  # every node dst >= 1 has dst incoming edges
            nodes.append(total)
        return nodes[-1]


class Supernet(nn.Module):
    """The one-shot network: stem, three stages of :class:`SearchCell`, reductions, head.

    Args:
        space: the NB201 space (its ``stem_channels`` and ``cells_per_stage``).
        in_channels: channels of the input images.
        num_classes: outputs of the classifier.
    """

    def __init__(self, space: NB201Space, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.ops = tuple(space.ops)
        channels = space.stem_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBasicBlock(channels, channels * 2))
                channels *= 2
            layers.extend(SearchCell(self.ops, channels) for _ in range(space.cells_per_stage))
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` with every edge mixed by ``softmax(alphas)`` (one row per edge)."""
        weights = torch.softmax(alphas, dim=-1)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, weights) if isinstance(layer, SearchCell) else layer(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))


def derive_genome(alphas: torch.Tensor, ops: Sequence[str]) -> DAGGenome:
    """The discrete cell of ``alphas``: on each edge the op of highest weight, ``none`` excluded.

    Args:
        alphas: ``(6, len(ops))`` architecture parameters, rows in :data:`NB201_EDGES` order.
        ops: the op names of the columns.
    """
    allowed = [i for i, name in enumerate(ops) if name != "none"]
    edges = []
    for row, (src, dst) in zip(alphas.detach().cpu().tolist(), NB201_EDGES, strict=True):
        best = max(allowed, key=lambda i: row[i])
        edges.append(Edge(src, dst, ops[best]))
    genome = DAGGenome("nb201", 4, tuple(edges))
    genome.validate()
    return genome
