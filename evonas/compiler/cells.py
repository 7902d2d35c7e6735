"""Inline one DAG genome (a cell or a whole network body) into a graph under construction."""

from __future__ import annotations

from collections.abc import Sequence

from torch import fx, nn

from evonas.compiler.graph import GraphBuilder
from evonas.compiler.ops import build_op
from genomes.dag import DAGGenome


def emit_dag(builder: GraphBuilder, genome: DAGGenome, prefix: str, x: fx.Node,
             widths: Sequence[int], *, prune: bool) -> fx.Node:
    """Write the nodes of ``genome`` into ``builder``, fed by ``x``; return the output node's value.

    Each edge's module is registered as ``{prefix}.edge_{src}_{dst}``; a node's value is the sum of
    its edges in source order. ``none`` edges are left out, identity edges between equal widths
    pass their source through without a module call, and a node with no contribution is zero:
    ops on it see ``zeros_like(x)``, and an output with no contribution is ``zeros_like(x)``.

    Args:
        builder: the graph being written.
        genome: the DAG (read only).
        prefix: submodule and variable prefix, e.g. ``cell_0_1``.
        x: the value of the input node.
        widths: channels of every node (same length as the genome's nodes).
        prune: leave out nodes not on an input-to-output path (free space). NB201 cells keep
            them, as the benchmark's network does, so parameter counts agree with it.

    Returns:
        The fx node holding the value of the genome's output node.
    """
    live = genome.live_nodes() if prune else set(range(genome.num_nodes))
    values: dict[int, fx.Node | None] = {genome.input_node: x}
    zeros: fx.Node | None = None
    for node in range(1, genome.num_nodes):
        if node not in live:
            continue
        terms: list[fx.Node] = []
        for edge in genome.in_edges(node):
            if edge.src not in live:
                continue
            module = build_op(edge.op, widths[edge.src], widths[edge.dst])
            if module is None:
                continue
            source = values[edge.src]
            if source is None:  # a zero node (only reachable in unpruned NB201 cells)
                if zeros is None:
                    zeros = builder.zeros_like(x, name=f"{prefix}_zeros")
                source = zeros
            if isinstance(module, nn.Identity):
                terms.append(source)
                continue
            terms.append(builder.call(f"{prefix}.edge_{edge.src}_{edge.dst}", module, source,
                                      name=f"{prefix}_e{edge.src}_{edge.dst}"))
        values[node] = builder.sum(terms, name=f"{prefix}_n{node}") if terms else None
    out = values.get(genome.output_node)
    if out is None:
        out = zeros if zeros is not None else builder.zeros_like(x, name=f"{prefix}_zeros")
    return out
