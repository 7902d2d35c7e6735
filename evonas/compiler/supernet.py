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

The same weights also run **one path** at a time (:meth:`Supernet.forward_path`): on each edge
only the op a discrete cell names, which is the network that cell compiles to (same stem,
reductions, head and ops, weights inherited from the supernet). The one-shot strategies (SPOS,
ENAS, :mod:`evonas.strategies.one_shot`) train and score the supernet that way;
:func:`genome_path` and :func:`path_genome` convert between a cell and its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

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

    def forward_op(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The output of candidate op ``index`` alone (a single-path edge)."""
        return self.ops[index](x)


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

    def forward_path(self, x: torch.Tensor, path: Sequence[int]) -> torch.Tensor:
        """The cell with only op ``path[i]`` on edge ``i`` (rows of :data:`NB201_EDGES`)."""
        nodes = [x]
        index = 0
        for dst in range(1, 4):
            total: torch.Tensor | None = None
            for src in range(dst):
                edge = cast(MixedOp, self.edges[f"{src}_{dst}"])
                term = edge.forward_op(nodes[src], path[index])
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

    def forward_path(self, x: torch.Tensor, path: Sequence[int]) -> torch.Tensor:
        """Logits of ``x`` through one path: on edge ``i`` of every cell only op ``path[i]``
        (an index into :attr:`ops`; see :func:`genome_path`), as the cell's compiled network
        computes them."""
        if len(path) != len(NB201_EDGES):
            raise ValueError(f"path: expected {len(NB201_EDGES)} op indices, got {len(path)}")
        x = self.stem(x)
        for layer in self.layers:
            x = layer.forward_path(x, path) if isinstance(layer, SearchCell) else layer(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))

    def path_state_dict(self, path: Sequence[int]) -> dict[str, torch.Tensor]:
        """The weights and buffers of one path under the names of the cell's compiled network
        (:func:`evonas.compiler.compile_genome` of :func:`path_genome`), so that the compiled
        network inherits the supernet's weights: ``compiled.load_state_dict(...)`` takes them
        with ``strict=True`` (the ``none`` edges, which the compiler leaves out, have none)."""
        names: dict[int, str] = {}
        stage, index = 0, 0
        for k, layer in enumerate(self.layers):
            if isinstance(layer, SearchCell):
                names[k] = f"cell_{stage}_{index}"
                index += 1
            else:
                stage, index = stage + 1, 0
                names[k] = f"reduce_{stage}"
        edge_of = {f"{src}_{dst}": i for i, (src, dst) in enumerate(NB201_EDGES)}
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if parts[0] != "layers":
                out[key] = value
                continue
            prefix = names[int(parts[1])]
            if parts[2] != "edges":  # a reduction block
                out[".".join([prefix, *parts[2:]])] = value
            elif int(parts[5]) == path[edge_of[parts[3]]]:  # layers.k.edges.s_d.ops.i.rest
                out[".".join([prefix, f"edge_{parts[3]}", *parts[6:]])] = value
        return out


def genome_path(genome: DAGGenome, ops: Sequence[str]) -> tuple[int, ...]:
    """The single path of an NB201 cell: the index in ``ops`` of each edge's op, in
    :data:`NB201_EDGES` order.

    Raises:
        ValueError: when the genome is no NB201 cell or names an op not in ``ops``.
    """
    by_edge = {(e.src, e.dst): e.op for e in genome.edges}
    if genome.num_nodes != 4 or set(by_edge) != set(NB201_EDGES):
        raise ValueError(f"genome: not an NB201 cell: {genome.describe()}")
    try:
        return tuple(ops.index(by_edge[edge]) for edge in NB201_EDGES)
    except ValueError:
        raise ValueError(f"genome: an op of {genome.describe()} is not one of {list(ops)}"
                         ) from None


def path_genome(path: Sequence[int], ops: Sequence[str]) -> DAGGenome:
    """The NB201 cell of a single path (the inverse of :func:`genome_path`)."""
    genome = DAGGenome("nb201", 4, tuple(Edge(src, dst, ops[i])
                                         for i, (src, dst) in zip(path, NB201_EDGES, strict=True)))
    genome.validate()
    return genome


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
