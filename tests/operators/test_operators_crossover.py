"""crossover_dag: valid children, gene accounting, self-crossover, determinism."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings

from genomes import DAGGenome, Edge, FreeSpace, GenomeError, NB201Space, SearchSpace
from operators import CROSSOVERS, crossover_dag, mutate, random_genome
from tests.operators.operators_strategies import free_spaces, seeds, spaces

PAIRS_PER_EXAMPLE = 8


def _parents(space: SearchSpace, rng: np.random.Generator) -> tuple[DAGGenome, DAGGenome]:
    a = random_genome(space, rng)
    # half the time a relative of a (a few mutations away), as in a real population
    if rng.random() < 0.5:
        b = a
        for _ in range(int(rng.integers(1, 4))):
            b = mutate(b, rng, space)[0] if len(space.ops) > 1 else b
        return a, b
    return a, random_genome(space, rng)


@settings(max_examples=300, deadline=None)
@given(space=spaces(), seed=seeds)
def test_child_is_valid_and_record_is_json(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(PAIRS_PER_EXAMPLE):
        a, b = _parents(space, rng)
        snap_a, snap_b = copy.deepcopy(a.to_dict()), copy.deepcopy(b.to_dict())
        child, record = crossover_dag(a, b, rng, space)
        space.validate(child)
        assert a.to_dict() == snap_a and b.to_dict() == snap_b, "a parent was modified"
        assert record["op"] == "crossover_dag"
        assert json.loads(json.dumps(record)) == record
        assert DAGGenome.from_dict(json.loads(json.dumps(child.to_dict()))) == child
        free_widths = sum(1 for k in range(child.num_nodes)
                          if isinstance(space, FreeSpace)
                          and space.fixed_width(k, child.num_nodes) is None)
        assert record["from_a"] + record["from_b"] == len(child.edges) + free_widths
        pairs = {(e.src, e.dst) for e in child.edges}
        assert all(tuple(pair) in pairs for pair in record["edges_from_b"])


@settings(max_examples=150, deadline=None)
@given(space=spaces(), seed=seeds)
def test_crossover_with_itself_gives_the_same_genome(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(PAIRS_PER_EXAMPLE):
        a = random_genome(space, rng)
        child, _ = crossover_dag(a, a, rng, space)
        assert child == a
        assert child.canonical_hash() == a.canonical_hash()


@settings(max_examples=150, deadline=None)
@given(space=spaces(), seed=seeds)
def test_same_seed_same_child(space: SearchSpace, seed: int) -> None:
    a, b = _parents(space, np.random.default_rng(seed))
    first = crossover_dag(a, b, np.random.default_rng(seed + 1), space)
    second = crossover_dag(a, b, np.random.default_rng(seed + 1), space)
    assert first == second


@settings(max_examples=100, deadline=None)
@given(seed=seeds)
def test_nb201_is_uniform_per_edge(seed: int) -> None:
    space = NB201Space()
    rng = np.random.default_rng(seed)
    for _ in range(PAIRS_PER_EXAMPLE):
        a, b = random_genome(space, rng), random_genome(space, rng)
        child, record = crossover_dag(a, b, rng, space)
        from_b = {tuple(pair) for pair in record["edges_from_b"]}
        for ea, eb, ec in zip(a.edges, b.edges, child.edges, strict=True):
            assert (ec.src, ec.dst) == (ea.src, ea.dst) == (eb.src, eb.dst)
            assert ec.op == (eb.op if (ec.src, ec.dst) in from_b else ea.op)
        assert record["from_a"] + record["from_b"] == 6


@settings(max_examples=100, deadline=None)
@given(space=free_spaces(), seed=seeds)
def test_free_child_takes_the_primary_node_set(space: FreeSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(PAIRS_PER_EXAMPLE):
        a, b = _parents(space, rng)
        child, record = crossover_dag(a, b, rng, space)
        primary = a if record["primary"] == "a" else b
        assert child.num_nodes == primary.num_nodes
        assert {(e.src, e.dst) for e in primary.edges} <= {(e.src, e.dst) for e in child.edges}
        assert len(child.edges) <= space.max_edges


def test_free_crossover_mixes_both_parents() -> None:
    space = FreeSpace(max_nodes=6, max_edges=12)
    rng = np.random.default_rng(4)
    took_b_from_a_primary = took_a_from_b_primary = 0
    for _ in range(500):
        a, b = random_genome(space, rng), random_genome(space, rng)
        _, record = crossover_dag(a, b, rng, space)
        if record["primary"] == "a":
            took_b_from_a_primary += record["from_b"] > 0
        else:
            took_a_from_b_primary += record["from_a"] > 0
    assert took_b_from_a_primary > 100 and took_a_from_b_primary > 100


def test_free_crossover_aligns_outputs() -> None:
    space = FreeSpace(ops=("conv_3x3", "conv_5x5"), widths=(16, 32))
    a = DAGGenome("free", 2, (Edge(0, 1, "conv_3x3"),), (16, 32))
    b = DAGGenome("free", 4, (Edge(0, 1, "conv_5x5"), Edge(1, 3, "conv_5x5"),
                              Edge(0, 3, "conv_5x5")), (16, 16, 32, 16))
    for seed in range(30):
        child, record = crossover_dag(a, b, np.random.default_rng(seed), space)
        if record["primary"] == "a":
            # b's 0 -> 3 is the output edge matching a's 0 -> 1; its inner nodes are dropped
            assert child.num_nodes == 2 and len(child.edges) == 1
            assert child.edges[0].op in ("conv_3x3", "conv_5x5")
            assert child.widths[1] in (32, 16)
        else:
            assert child.num_nodes == 4


def test_crossover_rejects_parents_of_another_space() -> None:
    a = random_genome(NB201Space(), np.random.default_rng(0))
    b = random_genome(FreeSpace(), np.random.default_rng(0))
    with pytest.raises(GenomeError, match="parent b"):
        crossover_dag(a, b, np.random.default_rng(0), NB201Space())


def test_registry() -> None:
    assert list(CROSSOVERS) == ["crossover_dag"]
    assert CROSSOVERS["crossover_dag"] is crossover_dag
