"""random_genome: always valid, deterministic, covers the space, touches no global RNG."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genomes import DAGGenome, Edge, FreeSpace, NB201Space, SearchSpace
from genomes.space import NB201_OPS
from operators import random_genome
from tests.operators.operators_strategies import free_spaces, seeds, spaces


@settings(max_examples=300, deadline=None)
@given(space=spaces(), seed=seeds)
def test_random_genomes_validate_and_round_trip(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(10):
        genome = random_genome(space, rng)
        space.validate(genome)
        assert DAGGenome.from_json(genome.to_json()) == genome
        assert DAGGenome.from_dict(genome.to_dict()) == genome


@settings(max_examples=100, deadline=None)
@given(space=spaces(), seed=seeds)
def test_random_genome_is_deterministic(space: SearchSpace, seed: int) -> None:
    first = [random_genome(space, np.random.default_rng(seed)) for _ in range(3)]
    assert all(g == first[0] for g in first)
    run_a = np.random.default_rng(seed)
    run_b = np.random.default_rng(seed)
    assert [random_genome(space, run_a) for _ in range(5)] == \
        [random_genome(space, run_b) for _ in range(5)]


@settings(max_examples=50, deadline=None)
@given(space=free_spaces(), seed=seeds)
def test_free_genomes_respect_limits_and_fixed_widths(space: FreeSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        genome = random_genome(space, rng)
        assert 2 <= genome.num_nodes <= space.max_nodes
        assert 1 <= len(genome.edges) <= space.max_edges
        assert {e.op for e in genome.edges} <= set(space.ops)
        for node, width in enumerate(genome.widths):
            fixed = space.fixed_width(node, genome.num_nodes)
            assert width == fixed if fixed is not None else width in space.widths
        assert genome.has_path()


def test_nb201_ops_are_uniform_per_edge() -> None:
    rng = np.random.default_rng(7)
    space = NB201Space()
    draws = 5000
    counts: Counter[tuple[int, int, str]] = Counter()
    for _ in range(draws):
        for e in random_genome(space, rng).edges:
            counts[(e.src, e.dst, e.op)] += 1
    expected = draws / len(NB201_OPS)
    for dst in range(1, 4):
        for src in range(dst):
            for op in NB201_OPS:
                # about 5 standard deviations either side of draws / 5 = 1000
                assert abs(counts[(src, dst, op)] - expected) < 150, (src, dst, op)


def test_free_genomes_cover_node_counts_and_edge_counts() -> None:
    rng = np.random.default_rng(3)
    space = FreeSpace(max_nodes=6, max_edges=9)
    genomes = [random_genome(space, rng) for _ in range(2000)]
    assert {g.num_nodes for g in genomes} == set(range(2, 7))
    assert {len(g.edges) for g in genomes} == set(range(1, 10))
    assert len({g.canonical_hash() for g in genomes}) > 1000


def test_cell_mode_fixes_the_output_width() -> None:
    space = FreeSpace(mode="cell", widths=(32, 64), stem_channels=16)
    rng = np.random.default_rng(0)
    for _ in range(200):
        genome = random_genome(space, rng)
        assert genome.widths[0] == 16 and genome.widths[-1] == 16


@pytest.mark.parametrize("space", [NB201Space(), FreeSpace()], ids=["nb201", "free"])
def test_global_random_state_is_untouched(space: SearchSpace) -> None:
    np_state = np.random.get_state()[1].copy()
    py_state = random.getstate()
    rng = np.random.default_rng(1)
    for _ in range(100):
        random_genome(space, rng)
    assert (np.random.get_state()[1] == np_state).all()
    assert random.getstate() == py_state


@settings(max_examples=200, deadline=None)
@given(seed=seeds, ops=st.lists(st.sampled_from(NB201_OPS), min_size=1, max_size=8))
def test_nb201_draws_are_the_per_edge_draws(seed: int, ops: list[str]) -> None:
    """The batched NB201 sampler gives the genome, and leaves the generator in the state,
    of one ``integers`` draw per edge in NAS-Bench-201's edge order (how runs were drawn
    before it; resumed old campaigns replay their genomes)."""
    space = NB201Space()
    object.__setattr__(space, "ops", tuple(ops))  # a space restricted to some ops
    fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
    distinct = list(dict.fromkeys(ops))
    for _ in range(5):
        edges = [Edge(src, dst, distinct[int(slow.integers(len(distinct)))])
                 for dst in range(1, 4) for src in range(dst)]
        expected = DAGGenome("nb201", 4, tuple(edges))
        genome = random_genome(space, fast)
        assert genome == expected and hash(genome) == hash(expected)
        assert genome.to_json() == expected.to_json()
        assert genome.canonical_hash() == expected.canonical_hash()
        space.validate(genome)
    assert fast.random() == slow.random()
