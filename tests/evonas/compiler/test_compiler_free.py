"""Free-space genomes compile in both modes, train, and prune what cannot reach the output."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from evonas.compiler import compile_genome, count_params
from genomes import DAGGenome, Edge, FreeSpace
from genomes.space import FREE_OPS

NETWORK = FreeSpace(mode="network", widths=(8, 16, 24), stem_channels=8)
CELL = FreeSpace(mode="cell", widths=(8, 16), stem_channels=8, stages=2, cells_per_stage=2)


def genome(widths, edges):
    return DAGGenome("free", len(widths), tuple(Edge(s, d, op) for s, d, op in edges),
                     tuple(widths))


# Node 4 of the network genome is dead (no path to the output) and must be left out.
NETWORK_GENOMES = {
    "mixed": genome(
        (8, 16, 24, 8, 16, 16),
        [(0, 1, "conv_3x3"), (0, 2, "sep_conv_5x5"), (1, 3, "max_pool_3x3"), (2, 5, "identity"),
         (3, 5, "avg_pool_3x3"), (1, 5, "conv_5x5"), (0, 4, "sep_conv_3x3")]),
    "single_identity": genome((8, 8), [(0, 1, "identity")]),
    "projection": genome((8, 24), [(0, 1, "identity")]),
    "chain": genome((8, 16, 16, 24),
                    [(0, 1, "sep_conv_3x3"), (1, 2, "max_pool_3x3"), (2, 3, "avg_pool_3x3")]),
}
CELL_GENOMES = {
    "mixed": genome(
        (8, 16, 8, 8),
        [(0, 1, "sep_conv_3x3"), (1, 2, "identity"), (0, 2, "max_pool_3x3"), (2, 3, "conv_3x3"),
         (0, 3, "identity")]),
    "skip_only": genome((8, 8), [(0, 1, "identity")]),
    "dead_branch": genome((8, 16, 8), [(0, 1, "conv_5x5"), (0, 2, "avg_pool_3x3")]),
}


def random_genome(rng: np.random.Generator, space: FreeSpace) -> DAGGenome:
    """A random valid genome: a chain keeps a path, extra edges add branches."""
    n = int(rng.integers(2, 6))
    widths = [space.stem_channels] + [int(rng.choice(space.widths)) for _ in range(n - 1)]
    if space.mode == "cell":
        widths[-1] = space.stem_channels
    pairs = {(i, i + 1) for i in range(n - 1)}
    for _ in range(int(rng.integers(0, 4))):
        src, dst = sorted(int(v) for v in rng.choice(n, size=2, replace=False))
        pairs.add((src, dst))
    edges = [(s, d, str(rng.choice(FREE_OPS))) for s, d in sorted(pairs)]
    g = genome(widths, edges)
    space.validate(g)
    return g


def check_trains(module, in_channels, num_classes, size=8):
    x = torch.randn(2, in_channels, size, size)
    out = module(x)
    assert out.shape == (2, num_classes)
    out.square().mean().backward()
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert missing == []  # pruning leaves no module outside the input-output paths


@pytest.mark.parametrize("name", sorted(NETWORK_GENOMES))
def test_network_mode_compiles_and_trains(name):
    g = NETWORK_GENOMES[name]
    module = compile_genome(g, NETWORK, (1, 8, 8), 10)
    assert type(module).__name__ == "FreeNetwork"
    assert module.classifier.in_features == g.widths[-1]
    check_trains(module, 1, 10)


@pytest.mark.parametrize("name", sorted(CELL_GENOMES))
def test_cell_mode_compiles_and_trains(name):
    module = compile_genome(CELL_GENOMES[name], CELL, (3, 8, 8), 5)
    assert type(module).__name__ == "FreeCellNetwork"
    assert module.classifier.in_features == 8 * 2 ** (CELL.stages - 1)
    check_trains(module, 3, 5)


def test_dead_nodes_are_pruned():
    module = compile_genome(NETWORK_GENOMES["mixed"], NETWORK, (1, 8, 8), 10)
    assert "edge_0_4" not in module.code
    assert not hasattr(module.body, "edge_0_4")
    pruned = genome((8, 16, 24, 8, 16), [
        (0, 1, "conv_3x3"), (0, 2, "sep_conv_5x5"), (1, 3, "max_pool_3x3"), (2, 4, "identity"),
        (3, 4, "avg_pool_3x3"), (1, 4, "conv_5x5")])
    assert count_params(module) == count_params(compile_genome(pruned, NETWORK, (1, 8, 8), 10))
    cells = compile_genome(CELL_GENOMES["dead_branch"], CELL, (3, 8, 8), 5)
    assert "edge_0_1" not in cells.code and "edge_1" not in cells.code


def test_cell_widths_double_per_stage():
    module = compile_genome(CELL_GENOMES["mixed"], CELL, (3, 8, 8), 5)
    assert module.cell_0_0.edge_0_1.op[2].out_channels == 16
    assert module.cell_1_1.edge_0_1.op[2].out_channels == 32
    assert module.reduce_1.conv_a.op[1].in_channels == 8
    assert module.reduce_1.conv_a.op[1].out_channels == 16
    assert {name for name, _ in module.named_children()} >= {
        "stem", "cell_0_0", "cell_0_1", "reduce_1", "cell_1_0", "cell_1_1", "classifier"}
    # an identity between equal widths is no module call at all
    assert "edge_0_3" not in module.code


@pytest.mark.parametrize("space", [NETWORK, CELL], ids=["network", "cell"])
def test_random_genomes(space):
    rng = np.random.default_rng(7)
    for _ in range(6):
        g = random_genome(rng, space)
        before = copy.deepcopy(g)
        module = compile_genome(g, space, (3, 8, 8), 4)
        assert g == before
        assert not re.search(r"\b(for|while)\b", module.code)
        check_trains(module, 3, 4)
