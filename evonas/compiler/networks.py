"""Macro skeletons: the stem, stages of cells, reductions and head around a DAG genome.

Each function writes one whole network into a :class:`GraphBuilder` and returns its output node.
Submodule names: ``stem``; ``cell_{stage}_{index}.edge_{src}_{dst}`` for cell edges (``body`` for a
free-space network); ``reduce_{stage}`` for the reduction entering a stage; ``lastact``,
``global_pooling`` and ``classifier`` for the head (the head names are NAS-Bench-201's).
"""

from __future__ import annotations

import torch
from torch import fx, nn

from evonas.compiler.cells import emit_dag
from evonas.compiler.graph import GraphBuilder
from evonas.compiler.ops import ResNetBasicBlock
from genomes.dag import DAGGenome
from genomes.space import FreeSpace, NB201Space


def emit_stem(builder: GraphBuilder, x: fx.Node, in_channels: int, channels: int) -> fx.Node:
    """3x3 conv (no bias) + BN from the image to ``channels``."""
    stem = nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
    )
    return builder.call("stem", stem, x)


def emit_head(builder: GraphBuilder, x: fx.Node, channels: int, num_classes: int) -> fx.Node:
    """BN, ReLU, global average pooling, flatten and a linear classifier."""
    x = builder.call("lastact", nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True)), x)
    x = builder.call("global_pooling", nn.AdaptiveAvgPool2d(1), x)
    x = builder.function(torch.flatten, x, 1, name="flatten")
    return builder.call("classifier", nn.Linear(channels, num_classes), x)


def emit_nb201(builder: GraphBuilder, x: fx.Node, genome: DAGGenome, space: NB201Space,
               in_channels: int, num_classes: int) -> fx.Node:
    """The NAS-Bench-201 network: stem, three stages of cells (C, 2C, 4C), basic-block reductions.

    Every non-``none`` edge of every cell gets its op, dead nodes included, so the parameter count
    equals the benchmark's.
    """
    channels = space.stem_channels
    x = emit_stem(builder, x, in_channels, channels)
    for stage in range(3):
        if stage > 0:
            x = builder.call(f"reduce_{stage}", ResNetBasicBlock(channels, channels * 2), x)
            channels *= 2
        widths = [channels] * genome.num_nodes
        for index in range(space.cells_per_stage):
            x = emit_dag(builder, genome, f"cell_{stage}_{index}", x, widths, prune=False)
    return emit_head(builder, x, channels, num_classes)


def emit_free_network(builder: GraphBuilder, x: fx.Node, genome: DAGGenome, space: FreeSpace,
                      in_channels: int, num_classes: int) -> fx.Node:
    """A free-space genome as the whole body: stem, the pruned DAG once, head."""
    x = emit_stem(builder, x, in_channels, space.stem_channels)
    x = emit_dag(builder, genome, "body", x, genome.widths, prune=True)
    return emit_head(builder, x, genome.widths[genome.output_node], num_classes)


def emit_free_cells(builder: GraphBuilder, x: fx.Node, genome: DAGGenome, space: FreeSpace,
                    in_channels: int, num_classes: int) -> fx.Node:
    """A free-space genome as a cell: ``space.stages`` stages of ``space.cells_per_stage`` cells.

    Stage ``s`` multiplies every node width by ``2**s``; a basic-block reduction (stride 2) enters
    each stage after the first.
    """
    channels = space.stem_channels
    x = emit_stem(builder, x, in_channels, channels)
    for stage in range(space.stages):
        if stage > 0:
            x = builder.call(f"reduce_{stage}", ResNetBasicBlock(channels, channels * 2), x)
            channels *= 2
        widths = [w * 2**stage for w in genome.widths]
        for index in range(space.cells_per_stage):
            x = emit_dag(builder, genome, f"cell_{stage}_{index}", x, widths, prune=True)
    return emit_head(builder, x, channels, num_classes)
