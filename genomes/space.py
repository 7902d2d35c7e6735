"""Search spaces: which ops, node counts and widths a DAG genome may use.

A search space is plain data (no torch). It answers two questions: is this genome allowed here
(:meth:`validate`), and what does the network around the cell look like (the macro skeleton the
compiler builds). Two spaces ship:

* ``nb201``: the NAS-Bench-201 cell, 4 nodes, all 6 edges present, ops on edges.
* ``free``: a free-form DAG of up to ``max_nodes`` nodes with per-node channel widths, stacked as
  cells in a macro skeleton (``mode: cell``) or used as the whole network (``mode: network``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from genomes.cppn import NEATSpace
from genomes.errors import GenomeError
from genomes.jsonform import dataclass_to_dict

if TYPE_CHECKING:
    from genomes.dag import DAGGenome

NB201_OPS: tuple[str, ...] = (
    "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3",
)
FREE_OPS: tuple[str, ...] = (
    "conv_3x3",
    "conv_5x5",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "identity",
)
#: Ops that pass their input through unchanged (when widths agree).
IDENTITY_OPS: frozenset[str] = frozenset({"skip_connect", "identity"})
#: Ops whose output is zero.
ZERO_OPS: frozenset[str] = frozenset({"none"})
#: Ops that keep the channel count of their input (a width change needs a 1x1 projection).
WIDTH_PRESERVING_OPS: frozenset[str] = frozenset(
    {"skip_connect", "identity", "avg_pool_3x3", "max_pool_3x3", "none"}
)


@dataclass(frozen=True)
class NB201Space:
    """The NAS-Bench-201 cell space and its macro network.

    Attributes:
        stem_channels: channels of the first stage (16 in the benchmark).
        cells_per_stage: cells in each of the three stages (5 in the benchmark).
    """

    stem_channels: int = 16
    cells_per_stage: int = 5
    name: str = field(default="nb201", init=False)

    ops: tuple[str, ...] = field(default=NB201_OPS, init=False)
    num_nodes: int = field(default=4, init=False)

    @property
    def max_nodes(self) -> int:
        return self.num_nodes

    def validate(self, genome: DAGGenome) -> None:
        """Raise :class:`GenomeError` unless ``genome`` is a NAS-Bench-201 cell."""
        genome.validate()
        if genome.space != self.name:
            raise GenomeError(f"space: genome is for space {genome.space!r}, expected 'nb201'")
        if genome.num_nodes != self.num_nodes:
            raise GenomeError(f"num_nodes: an nb201 cell has 4 nodes, got {genome.num_nodes}")
        pairs = {(e.src, e.dst) for e in genome.edges}
        expected = {(j, i) for i in range(1, 4) for j in range(i)}
        if pairs != expected:
            missing = sorted(expected - pairs)
            raise GenomeError(f"edges: an nb201 cell has all 6 edges; missing {missing}")
        for e in genome.edges:
            if e.op not in self.ops:
                raise GenomeError(f"edges[{e.src}->{e.dst}].op: unknown op {e.op!r} for nb201")
        if genome.widths:
            raise GenomeError("widths: nb201 cells have no per-node widths")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stem_channels": self.stem_channels,
                "cells_per_stage": self.cells_per_stage}


@dataclass(frozen=True)
class FreeSpace:
    """A free-form DAG space.

    Node 0 is the input, node ``n-1`` the output; every edge goes from a lower to a higher index.
    Widths are channel counts at the first stage (later stages double them). The input node's width
    is ``stem_channels``; in ``cell`` mode the output node's width is too, so cells stack.

    Attributes:
        ops: allowed edge ops (a subset of :data:`FREE_OPS`).
        max_nodes: most nodes a genome may have, input and output included.
        max_edges: most edges a genome may have.
        widths: allowed channel widths of the inner (and, in network mode, output) nodes.
        mode: ``cell`` (stacked in stages with reductions) or ``network`` (the DAG is the whole
            body).
        stem_channels: channels after the stem convolution.
        stages: number of stages (cell mode); each after the first halves resolution.
        cells_per_stage: cells per stage (cell mode).
    """

    ops: tuple[str, ...] = FREE_OPS
    max_nodes: int = 8
    max_edges: int = 16
    widths: tuple[int, ...] = (16, 32, 64)
    mode: str = "network"
    stem_channels: int = 16
    stages: int = 2
    cells_per_stage: int = 1
    name: str = field(default="free", init=False)

    def __post_init__(self) -> None:
        unknown = [op for op in self.ops if op not in FREE_OPS]
        if unknown:
            raise GenomeError(f"space.ops: unknown op {unknown[0]!r}; choose from {list(FREE_OPS)}")
        if self.mode not in ("cell", "network"):
            raise GenomeError(f"space.mode: must be 'cell' or 'network', got {self.mode!r}")
        if self.max_nodes < 2:
            raise GenomeError(f"space.max_nodes: must be at least 2, got {self.max_nodes}")
        if self.max_edges < 1:
            raise GenomeError(f"space.max_edges: must be at least 1, got {self.max_edges}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise GenomeError(
                f"space.widths: must be positive channel counts, got {list(self.widths)}")

    def fixed_width(self, node: int, num_nodes: int) -> int | None:
        """The width a node must have, or None when the genome chooses it."""
        if node == 0:
            return self.stem_channels
        if node == num_nodes - 1 and self.mode == "cell":
            return self.stem_channels
        return None

    def validate(self, genome: DAGGenome) -> None:
        """Raise :class:`GenomeError` unless ``genome`` belongs to this space."""
        genome.validate()
        if genome.space != self.name:
            raise GenomeError(f"space: genome is for space {genome.space!r}, expected 'free'")
        if genome.num_nodes > self.max_nodes:
            raise GenomeError(
                f"num_nodes: {genome.num_nodes} nodes is over the limit of {self.max_nodes}")
        if len(genome.edges) > self.max_edges:
            raise GenomeError(
                f"edges: {len(genome.edges)} edges is over the limit of {self.max_edges}")
        for e in genome.edges:
            if e.op not in self.ops:
                raise GenomeError(f"edges[{e.src}->{e.dst}].op: op {e.op!r} is not in this space")
        if len(genome.widths) != genome.num_nodes:
            raise GenomeError(
                f"widths: need one width per node ({genome.num_nodes}), got {len(genome.widths)}")
        for node, width in enumerate(genome.widths):
            fixed = self.fixed_width(node, genome.num_nodes)
            if fixed is not None and width != fixed:
                raise GenomeError(f"widths[{node}]: must be {fixed} here, got {width}")
            if fixed is None and width not in self.widths:
                raise GenomeError(
                    f"widths[{node}]: {width} is not one of the allowed widths {list(self.widths)}")
        if not genome.has_path():
            raise GenomeError("edges: no path from the input node to the output node")

    def to_dict(self) -> dict[str, Any]:
        return dataclass_to_dict(self)


#: The spaces of DAG genomes (what the DAG operators and the torch.fx compiler take).
DAGSpace = NB201Space | FreeSpace
#: Every search space a config can name (``nb201``, ``free`` or ``neat``).
SearchSpace = NB201Space | FreeSpace | NEATSpace


def space_from_dict(data: dict[str, Any]) -> SearchSpace:
    """Build a search space from its config mapping (``{"name": "nb201" | "free" | "neat", ...}``).

    Raises:
        GenomeError: on an unknown space name or key, naming it.
    """
    data = dict(data)
    name = data.pop("name", None)
    if name == "neat":
        return NEATSpace.from_dict(data)
    if name == "nb201":
        cls: type = NB201Space
    elif name == "free":
        cls = FreeSpace
    else:
        raise GenomeError(f"space.name: unknown search space {name!r}; "
                          "choose 'nb201', 'free' or 'neat'")
    allowed = {f.name for f in fields(cls) if f.init}
    for key in data:
        if key not in allowed:
            raise GenomeError(f"space.{key}: unknown key for the {name} space; "
                              f"allowed: {sorted(allowed)}")
    for key in ("ops", "widths"):
        if key in data and isinstance(data[key], list):
            data[key] = tuple(data[key])
    return cls(**data)
