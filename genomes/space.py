"""Search spaces: which ops, node counts and widths a DAG genome may use.

A search space is plain data (no torch) that satisfies :class:`genomes.protocol.SearchSpace`: it
says whether a genome is allowed here (:meth:`validate`), draws and mutates its genomes
(:meth:`sample`, :meth:`mutate`, via :mod:`operators`, imported on first use), encodes them as
decisions (:meth:`encoding`) and names, as lazy import paths, the compiler that builds the network
around the cell and the estimator of its memory. Two DAG spaces ship here, registered under their
names:

* ``nb201``: the NAS-Bench-201 cell, 4 nodes, all 6 edges present, ops on edges.
* ``free``: a free-form DAG of up to ``max_nodes`` nodes with per-node channel widths, stacked as
  cells in a macro skeleton (``mode: cell``) or used as the whole network (``mode: network``).

Both answer the DAG operators' one question, ``fixed_topology``: NB201 cells have a fixed edge set
(only ops change), free DAGs grow and shrink. The CPPN space ``neat`` lives in
:mod:`genomes.neat_space`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from evonas.options import Option, OptionSchema
from genomes.errors import GenomeError
from genomes.jsonform import dataclass_to_dict
from genomes.protocol import (
    Encoding,
    Record,
    SearchSpace,
    register_space,
    space_from_dict,
    space_names,
)

if TYPE_CHECKING:
    import numpy as np

    from genomes.dag import DAGGenome

#: Where the DAG spaces' hooks live (imported on first use: they need torch).
_DAG_MEMORY_HOOK = "evonas.evaluation.memory:estimate_peak_memory"

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
#: The NB201 cell's edges ``(src, dst)`` in NAS-Bench-201 order: ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
#: 3<-2`` (the rows of a DARTS search's architecture weights).
NB201_EDGES: tuple[tuple[int, int], ...] = tuple((src, dst) for dst in range(1, 4)
                                                  for src in range(dst))
#: Ops that pass their input through unchanged (when widths agree).
IDENTITY_OPS: frozenset[str] = frozenset({"skip_connect", "identity"})
#: Ops whose output is zero.
ZERO_OPS: frozenset[str] = frozenset({"none"})
#: Ops that keep the channel count of their input (a width change needs a 1x1 projection).
WIDTH_PRESERVING_OPS: frozenset[str] = frozenset(
    {"skip_connect", "identity", "avg_pool_3x3", "max_pool_3x3", "none"}
)


@functools.cache
def _operators() -> ModuleType:
    """The :mod:`operators` package, imported on first use (it imports this module)."""
    import operators

    return operators


class _DAGSpaceMembers:
    """The :class:`~genomes.protocol.SearchSpace` members both DAG spaces share: DAG genomes,
    drawn and mutated by :mod:`operators`, estimated by :mod:`evonas.evaluation.memory`."""

    genome_kind: ClassVar[str] = "dag"
    memory_hook: ClassVar[str | None] = _DAG_MEMORY_HOOK

    @property
    def genome_type(self) -> type[DAGGenome]:
        """:class:`~genomes.DAGGenome`."""
        from genomes.dag import DAGGenome

        return DAGGenome

    def sample(self, rng: np.random.Generator) -> DAGGenome:
        """A random genome (:func:`operators.random_genome`)."""
        return _operators().random_genome(self._dag_space(), rng)

    def mutate(self, genome: DAGGenome, rng: np.random.Generator,
               weights: Mapping[str, float] | None = None) -> tuple[DAGGenome, Record]:
        """One mutation chosen by weight among those that apply (:func:`operators.mutate`)."""
        return _operators().mutate(genome, rng, self._dag_space(), weights)

    def _dag_space(self) -> DAGSpace:
        return cast("DAGSpace", self)  # the mixin of the two DAG space classes only


@dataclass(frozen=True)
class NB201Space(_DAGSpaceMembers):
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

    #: Every cell has all six edges; only their ops vary.
    fixed_topology: ClassVar[bool] = True
    compile_hook: ClassVar[str | None] = "evonas.compiler.compile:emit_nb201_network"

    def mutation_names(self) -> tuple[str, ...]:
        """``("mutate_op",)``: the only mutation that applies to a fixed cell."""
        return ("mutate_op",)

    def encoding(self) -> Encoding:
        """One op decision per edge (:class:`genomes.encoding.NB201Encoding`)."""
        from genomes.encoding import NB201Encoding

        return NB201Encoding(self)

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
class FreeSpace(_DAGSpaceMembers):
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

    #: Nodes and edges come and go (within the limits).
    fixed_topology: ClassVar[bool] = False
    compile_hook: ClassVar[str | None] = "evonas.compiler.compile:emit_free_space_network"

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

    def mutation_names(self) -> tuple[str, ...]:
        """Every DAG mutation (:data:`operators.MUTATIONS`)."""
        from operators.mutation import MUTATIONS

        return tuple(MUTATIONS)

    def encoding(self) -> Encoding:
        """Node, width and edge decisions (:class:`genomes.encoding.FreeEncoding`)."""
        from genomes.encoding import FreeEncoding

        return FreeEncoding(self)


#: The spaces of DAG genomes (what the DAG operators and the torch.fx compiler take).
DAGSpace = NB201Space | FreeSpace

#: ``space: {name: nb201, ...}`` options.
NB201_OPTIONS = OptionSchema(
    Option("stem_channels", 16, "channels of the first stage (16 in the benchmark)", low=1,
           high=1024),
    Option("cells_per_stage", 5, "cells in each of the three stages (5 in the benchmark)", low=1,
           high=64),
)
#: ``space: {name: free, ...}`` options.
FREE_OPTIONS = OptionSchema(
    Option("ops", list(FREE_OPS), "allowed edge ops", items=str),
    Option("max_nodes", 8, "most nodes a genome may have, input and output included", low=2,
           high=1000),
    Option("max_edges", 16, "most edges a genome may have", low=1, high=100_000),
    Option("widths", [16, 32, 64], "allowed channel widths of inner nodes", items=int, low=1,
           high=4096),
    Option("mode", "network", "network: the DAG is the whole body; cell: stacked in stages",
           choices=("network", "cell")),
    Option("stem_channels", 16, "channels after the stem convolution", low=1, high=4096),
    Option("stages", 2, "stages (cell mode); each after the first halves resolution", low=1,
           high=16),
    Option("cells_per_stage", 1, "cells per stage (cell mode)", low=1, high=64),
)
register_space("nb201", NB201Space, options=NB201_OPTIONS)
register_space("free", FreeSpace, options=FREE_OPTIONS)

__all__ = [
    "FREE_OPS",
    "IDENTITY_OPS",
    "NB201_OPS",
    "WIDTH_PRESERVING_OPS",
    "ZERO_OPS",
    "DAGSpace",
    "FreeSpace",
    "NB201Space",
    "SearchSpace",
    "space_from_dict",
    "space_names",
]
