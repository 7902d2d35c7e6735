"""Mutation operators: valid children or OperatorNotApplicable, records, determinism, mutate()."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genomes import DAGGenome, Edge, FreeSpace, GenomeError, NB201Space, SearchSpace
from operators import (
    MUTATIONS,
    OperatorNotApplicable,
    add_edge,
    add_node,
    mutate,
    mutate_op,
    mutate_width,
    random_genome,
    remove_edge,
    remove_node,
)
from tests.operators.operators_strategies import free_spaces, seeds, spaces

GENOMES_PER_EXAMPLE = 8


def _check_child(parent: DAGGenome, snapshot: dict, child: DAGGenome, record: dict,
                 space: SearchSpace, name: str) -> None:
    space.validate(child)
    assert child != parent
    assert parent.to_dict() == snapshot, "the parent was modified"
    assert isinstance(record, dict) and record["op"] == name
    assert json.loads(json.dumps(record)) == record
    assert DAGGenome.from_dict(json.loads(json.dumps(child.to_dict()))) == child


@settings(max_examples=300, deadline=None)
@given(space=spaces(), seed=seeds)
def test_every_operator_gives_a_valid_child_or_not_applicable(space: SearchSpace,
                                                              seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(GENOMES_PER_EXAMPLE):
        parent = random_genome(space, rng)
        snapshot = copy.deepcopy(parent.to_dict())
        for name, operator in MUTATIONS.items():
            try:
                child, record = operator(parent, rng, space)
            except OperatorNotApplicable:
                continue
            if isinstance(space, NB201Space):
                assert name == "mutate_op", f"{name} must not apply to nb201 cells"
            _check_child(parent, snapshot, child, record, space, name)


@settings(max_examples=200, deadline=None)
@given(space=spaces(), seed=seeds, steps=st.integers(min_value=1, max_value=30))
def test_mutate_never_fails_along_a_random_walk(space: SearchSpace, seed: int,
                                                steps: int) -> None:
    """A walk reaches genomes random_genome rarely draws (at max_nodes, max_edges...)."""
    rng = np.random.default_rng(seed)
    genome = random_genome(space, rng)
    for _ in range(steps):
        snapshot = copy.deepcopy(genome.to_dict())
        try:
            child, record = mutate(genome, rng, space)
        except OperatorNotApplicable:
            # only where the genome has no neighbour: every operator must refuse it
            for operator in MUTATIONS.values():
                with pytest.raises(OperatorNotApplicable):
                    operator(genome, np.random.default_rng(0), space)
            return
        _check_child(genome, snapshot, child, record, space, record["op"])
        genome = child


@settings(max_examples=100, deadline=None)
@given(space=free_spaces(min_ops=2), seed=seeds)
def test_mutate_always_applies_when_the_space_has_two_ops(space: FreeSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(GENOMES_PER_EXAMPLE):
        genome = random_genome(space, rng)
        child, record = mutate(genome, rng, space)
        space.validate(child)
        assert record["op"] in MUTATIONS


@settings(max_examples=150, deadline=None)
@given(space=spaces(), seed=seeds)
def test_same_seed_same_child(space: SearchSpace, seed: int) -> None:
    parent = random_genome(space, np.random.default_rng(seed))
    for name, operator in [*MUTATIONS.items(), ("mutate", mutate)]:
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(operator(parent, np.random.default_rng(seed + 1), space))
            except OperatorNotApplicable as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1], name


@settings(max_examples=100, deadline=None)
@given(space=free_spaces(min_ops=2), seed=seeds,
       enabled=st.sets(st.sampled_from(sorted(MUTATIONS)), min_size=1))
def test_mutate_uses_only_weighted_operators(space: FreeSpace, seed: int,
                                             enabled: set[str]) -> None:
    rng = np.random.default_rng(seed)
    weights = {name: float(rng.integers(1, 5)) for name in enabled}
    for _ in range(GENOMES_PER_EXAMPLE):
        genome = random_genome(space, rng)
        try:
            child, record = mutate(genome, rng, space, weights)
        except OperatorNotApplicable:
            for name in enabled:
                with pytest.raises(OperatorNotApplicable):
                    MUTATIONS[name](genome, np.random.default_rng(0), space)
            continue
        assert record["op"] in enabled
        space.validate(child)


def test_mutate_weights_follow_applicable_operators() -> None:
    space = FreeSpace(max_nodes=8, max_edges=16)
    genome = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_5x5")), (16, 32, 64))
    rng = np.random.default_rng(0)
    counts = {name: 0 for name in MUTATIONS}
    for _ in range(3000):
        counts[mutate(genome, rng, space, {"add_edge": 3.0, "mutate_op": 1.0,
                                           "remove_edge": 5.0})[1]["op"]] += 1
    # remove_edge never applies (both edges carry the only path): 3:1 between the other two
    assert counts["remove_edge"] == 0
    assert 2.5 < counts["add_edge"] / counts["mutate_op"] < 3.5
    assert sum(counts.values()) == 3000


def test_mutate_rejects_bad_weights() -> None:
    genome = random_genome(NB201Space(), np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="weights.grow"):
        mutate(genome, rng, NB201Space(), {"grow": 1.0})
    with pytest.raises(ValueError, match="weights.mutate_op"):
        mutate(genome, rng, NB201Space(), {"mutate_op": -1.0})
    with pytest.raises(ValueError, match="weights.mutate_op"):
        mutate(genome, rng, NB201Space(), {"mutate_op": float("nan")})


def test_mutate_on_nb201_is_mutate_op() -> None:
    space = NB201Space()
    rng = np.random.default_rng(5)
    for _ in range(200):
        parent = random_genome(space, rng)
        child, record = mutate(parent, rng, space)
        assert record["op"] == "mutate_op"
        changed = [(p, c) for p, c in zip(parent.edges, child.edges, strict=True) if p != c]
        assert len(changed) == 1
        (old, new), = changed
        assert record == {"op": "mutate_op", "edge": [old.src, old.dst], "from": old.op,
                          "to": new.op}
    with pytest.raises(OperatorNotApplicable):
        mutate(parent, rng, space, {"add_node": 1.0})


@pytest.mark.parametrize("operator", [add_edge, remove_edge, add_node, remove_node, mutate_width])
def test_structural_operators_do_not_apply_to_nb201(operator) -> None:
    genome = random_genome(NB201Space(), np.random.default_rng(0))
    with pytest.raises(OperatorNotApplicable, match="nb201"):
        operator(genome, np.random.default_rng(0), NB201Space())


def test_operators_reject_a_genome_of_another_space() -> None:
    genome = random_genome(NB201Space(), np.random.default_rng(0))
    with pytest.raises(GenomeError, match="space"):
        mutate_op(genome, np.random.default_rng(0), FreeSpace())
    with pytest.raises(GenomeError, match="space"):
        mutate(genome, np.random.default_rng(0), FreeSpace())


# --------------------------------------------------------------------- specific cases
CHAIN = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_5x5")), (16, 32, 64))


def test_remove_node_on_two_nodes_is_not_applicable() -> None:
    genome = DAGGenome("free", 2, (Edge(0, 1, "conv_3x3"),), (16, 32))
    with pytest.raises(OperatorNotApplicable, match="inner node"):
        remove_node(genome, np.random.default_rng(0), FreeSpace())


def test_add_node_at_max_nodes_is_not_applicable() -> None:
    with pytest.raises(OperatorNotApplicable, match="max_nodes"):
        add_node(CHAIN, np.random.default_rng(0), FreeSpace(max_nodes=3))


def test_add_node_needs_room_for_an_edge() -> None:
    with pytest.raises(OperatorNotApplicable, match="max_edges"):
        add_node(CHAIN, np.random.default_rng(0), FreeSpace(max_edges=2))


def test_add_edge_at_max_edges_or_complete_is_not_applicable() -> None:
    with pytest.raises(OperatorNotApplicable, match="max_edges"):
        add_edge(CHAIN, np.random.default_rng(0), FreeSpace(max_edges=2))
    full = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(0, 2, "conv_3x3"),
                                 Edge(1, 2, "conv_5x5")), (16, 32, 64))
    with pytest.raises(OperatorNotApplicable, match="every node pair"):
        add_edge(full, np.random.default_rng(0), FreeSpace())


def test_remove_edge_keeps_the_path() -> None:
    with pytest.raises(OperatorNotApplicable, match="path"):
        remove_edge(CHAIN, np.random.default_rng(0), FreeSpace())
    # 0 -> 1 -> 3 is the only path; 0 -> 2 leads nowhere, so only it may go
    genome = DAGGenome("free", 4, (Edge(0, 1, "conv_3x3"), Edge(0, 2, "identity"),
                                   Edge(1, 3, "conv_5x5")), (16, 32, 64, 64))
    for seed in range(20):
        child, record = remove_edge(genome, np.random.default_rng(seed), FreeSpace())
        assert record == {"op": "remove_edge", "edge": [0, 2], "from": "identity"}
        assert child.edges == (Edge(0, 1, "conv_3x3"), Edge(1, 3, "conv_5x5"))


def test_mutate_op_and_width_need_a_choice() -> None:
    genome = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_3x3")), (16, 32, 32))
    single = FreeSpace(ops=("conv_3x3",), widths=(32,))
    with pytest.raises(OperatorNotApplicable, match="single op"):
        mutate_op(genome, np.random.default_rng(0), single)
    with pytest.raises(OperatorNotApplicable, match="width"):
        mutate_width(genome, np.random.default_rng(0), single)
    child, record = mutate_op(genome, np.random.default_rng(0),
                              FreeSpace(ops=("conv_3x3", "conv_5x5")))
    assert record["from"] == "conv_3x3" and record["to"] == "conv_5x5"


def test_mutate_width_leaves_fixed_widths_alone() -> None:
    cell = FreeSpace(mode="cell", widths=(32, 64))
    genome = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_5x5")), (16, 32, 16))
    for seed in range(20):
        child, record = mutate_width(genome, np.random.default_rng(seed), cell)
        assert record == {"op": "mutate_width", "node": 1, "from": 32, "to": 64}
        assert child.widths == (16, 64, 16)


def test_add_node_split_renumbers() -> None:
    genome = DAGGenome("free", 2, (Edge(0, 1, "conv_3x3"),), (16, 24))
    space = FreeSpace(max_edges=2, widths=(24,))
    child, record = add_node(genome, np.random.default_rng(0), space)
    assert record["how"] == "split" and record["split"] == [0, 1] and record["node"] == 1
    assert child.num_nodes == 3 and child.widths == (16, 24, 24)
    assert child.edges[0] == Edge(0, 1, "conv_3x3")
    assert [child.edges[1].src, child.edges[1].dst] == [1, 2]
    assert record["in_edge"] == [0, 1, "conv_3x3"]


def test_add_node_insert_keeps_old_edges() -> None:
    space = FreeSpace(max_edges=16)
    rng = np.random.default_rng(11)
    genome = CHAIN
    for _ in range(100):
        child, record = add_node(genome, rng, space)
        at = record["node"]
        if record["how"] != "insert":
            continue
        shifted = {Edge(e.src + (e.src >= at), e.dst + (e.dst >= at), e.op) for e in genome.edges}
        assert shifted <= set(child.edges)
        assert len(child.edges) == len(genome.edges) + 2
        assert child.widths[:at] + child.widths[at + 1:] == genome.widths


def test_remove_node_bypasses_the_only_path() -> None:
    for seed in range(10):
        child, record = remove_node(CHAIN, np.random.default_rng(seed), FreeSpace())
        assert record["node"] == 1
        assert record["removed_edges"] == [[0, 1, "conv_3x3"], [1, 2, "conv_5x5"]]
        assert record["bypass"][:2] == [0, 1] and record["bypass"][2] in ("conv_3x3", "conv_5x5")
        assert child.num_nodes == 2 and child.widths == (16, 64)


def test_remove_node_without_need_for_a_bypass() -> None:
    genome = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(0, 2, "identity")), (16, 32, 64))
    child, record = remove_node(genome, np.random.default_rng(0), FreeSpace())
    assert record["bypass"] is None
    assert child == DAGGenome("free", 2, (Edge(0, 1, "identity"),), (16, 64))


def test_degenerate_space_has_no_mutation() -> None:
    space = FreeSpace(ops=("conv_3x3",), max_nodes=2, max_edges=1, widths=(16,))
    genome = DAGGenome("free", 2, (Edge(0, 1, "conv_3x3"),), (16, 16))
    with pytest.raises(OperatorNotApplicable, match="no enabled mutation"):
        mutate(genome, np.random.default_rng(0), space)


def test_every_operator_applies_somewhere() -> None:
    space = FreeSpace(max_nodes=6, max_edges=10)
    rng = np.random.default_rng(2)
    applied = dict.fromkeys(MUTATIONS, 0)
    for _ in range(500):
        genome = random_genome(space, rng)
        for name, operator in MUTATIONS.items():
            try:
                operator(genome, rng, space)
                applied[name] += 1
            except OperatorNotApplicable:
                pass
    assert all(count > 100 for count in applied.values()), applied


def test_registry_names_its_operators() -> None:
    assert sorted(MUTATIONS) == sorted(["mutate_op", "add_edge", "remove_edge", "add_node",
                                        "remove_node", "mutate_width"])
    for name, operator in MUTATIONS.items():
        assert operator.__name__ == name
