"""NEAT operators: every child is valid, parents are untouched, genes align by innovation."""

from __future__ import annotations

import contextlib
import json

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from genomes import ACTIVATIONS, CPPNGenome, GenomeError, InnovationTracker, NEATSpace
from operators import OperatorNotApplicable
from operators.neat import (
    MutationRates,
    add_connection,
    add_node,
    align_genes,
    compatibility_distance,
    crossover_neat,
    genes_within,
    initial_genome,
    mutate_activation,
    mutate_biases,
    mutate_neat,
    mutate_weights,
    toggle_connection,
)

MUTATIONS = (add_node, add_connection, mutate_weights, mutate_biases, mutate_activation,
             toggle_connection)
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def neat_spaces(draw: st.DrawFn) -> NEATSpace:
    acts = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=4, unique=True))
    outs = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=2, unique=True))
    inputs, outputs = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return NEATSpace(num_inputs=inputs, num_outputs=outputs,
                     activations=tuple(acts), output_activations=tuple(outs),
                     recurrent=draw(st.booleans()),
                     initial_connection=draw(st.sampled_from(["full", "none"])),
                     max_nodes=draw(st.integers(4, 12)),
                     max_connections=inputs * outputs + draw(st.integers(0, 20)))


def evolve(space: NEATSpace, seed: int, steps: int,
           tracker: InnovationTracker) -> CPPNGenome:
    """A genome grown from NEAT's start by ``steps`` random mutations."""
    rng = np.random.default_rng(seed)
    genome = initial_genome(space, rng, tracker)
    for _ in range(steps):
        op = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        with contextlib.suppress(OperatorNotApplicable):
            genome, _ = op(genome, rng, space, tracker)
    return genome


def fresh(genome: CPPNGenome) -> CPPNGenome:
    """The genome through its JSON form (drops every cached check)."""
    return CPPNGenome.from_dict(json.loads(genome.to_json()))


@SETTINGS
@given(space=neat_spaces(), seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 25))
def test_every_mutation_gives_a_valid_child_and_keeps_the_parent(space, seed, steps) -> None:
    tracker = InnovationTracker()
    parent = evolve(space, seed, steps, tracker)
    snapshot = parent.to_json()
    rng = np.random.default_rng(seed + 1)
    for op in MUTATIONS:
        try:
            child, record = op(parent, rng, space, tracker)
        except OperatorNotApplicable:
            continue
        space.validate(fresh(child))  # valid by the full checks, not the carried-over caches
        assert record["op"] == op.__name__
        json.dumps(record)
        assert parent.to_json() == snapshot
        if op in (add_node, add_connection):
            assert child.max_innovation >= parent.max_innovation
            assert len(child.connections) > len(parent.connections)


@SETTINGS
@given(space=neat_spaces(), seed=st.integers(0, 2**32 - 1))
def test_crossover_aligns_by_innovation_and_takes_the_fitter_structure(space, seed) -> None:
    tracker = InnovationTracker()
    a = evolve(space, seed, 15, tracker)
    b = evolve(space, seed + 7, 15, tracker)
    rng = np.random.default_rng(seed)
    child, record = crossover_neat(a, b, rng, space)
    space.validate(fresh(child))
    assert child.connection_map.keys() == a.connection_map.keys()
    assert child.node_map.keys() == a.node_map.keys()
    align = align_genes(a, b)
    assert record["matching"] == len(align.matching)
    for c in child.connections:
        theirs = b.connection_map.get(c.innovation)
        mine = a.connection_map[c.innovation]
        assert (c.src, c.dst) == (mine.src, mine.dst)
        assert c.weight in ({mine.weight} if theirs is None else {mine.weight, theirs.weight})
        if theirs is not None:  # one innovation number is one (src, dst) pair
            assert (theirs.src, theirs.dst) == (mine.src, mine.dst)
    assert crossover_neat(a, a, rng, space)[0] == a


@SETTINGS
@given(space=neat_spaces(), seed=st.integers(0, 2**32 - 1))
def test_crossover_depends_on_gene_values_not_on_shared_objects(space, seed) -> None:
    """A child of ``a`` shares gene objects with it; the same parents rebuilt from JSON (as a
    resumed campaign has them) share none. Child and record must be the same either way."""
    tracker = InnovationTracker()
    a = evolve(space, seed, 15, tracker)
    other = evolve(space, seed + 5, 15, tracker)
    b, _ = crossover_neat(a, other, np.random.default_rng(seed + 1), space)  # shares a's genes
    shared = crossover_neat(b, a, np.random.default_rng(seed), space)
    rebuilt = crossover_neat(CPPNGenome.from_dict(json.loads(json.dumps(b.to_dict()))),
                             CPPNGenome.from_dict(json.loads(json.dumps(a.to_dict()))),
                             np.random.default_rng(seed), space)
    assert shared[0].to_dict() == rebuilt[0].to_dict()
    assert shared[1] == rebuilt[1]


@SETTINGS
@given(space=neat_spaces(), seed=st.integers(0, 2**32 - 1))
def test_gene_alignment_partitions_and_distance_is_a_metric_like(space, seed) -> None:
    tracker = InnovationTracker()
    a = evolve(space, seed, 12, tracker)
    b = evolve(space, seed + 3, 12, tracker)
    align = align_genes(a, b)
    both = set(a.connection_map) | set(b.connection_map)
    parts = [set(align.matching), set(align.disjoint), set(align.excess)]
    assert set().union(*parts) == both and sum(map(len, parts)) == len(both)
    assert compatibility_distance(a, a) == 0.0
    assert compatibility_distance(a, b) == pytest.approx(compatibility_distance(b, a))
    d = compatibility_distance(a, b, c1=1.0, c2=1.0, c3=0.0)
    assert d == pytest.approx(len(align.disjoint) + len(align.excess)
                              if max(len(a.connections), len(b.connections)) < 20 else d)


def _reference_distance(a: CPPNGenome, b: CPPNGenome, c1: float, c2: float, c3: float) -> float:
    """NEAT's compatibility distance written plainly from the gene alignment (the formula the
    optimised implementations must reproduce bit for bit)."""
    align = align_genes(a, b)
    n = max(len(a.connections), len(b.connections))
    n = 1 if n < 20 else n
    if not a.connections or not b.connections:
        return c1 * (len(a.connections) + len(b.connections)) / n
    wa, wb = a.connection_map, b.connection_map
    small = wa if len(wa) <= len(wb) else wb
    diff = 0.0
    for i in small:
        if i in wa and i in wb:
            diff += abs(small[i].weight - (wb if small is wa else wa)[i].weight)
    m = len(align.matching)
    return (c1 * len(align.excess) / n + c2 * len(align.disjoint) / n
            + c3 * (diff / m if m else 0.0))


@SETTINGS
@given(space=neat_spaces(), seed=st.integers(0, 2**32 - 1),
       coefficients=st.tuples(st.floats(0, 3), st.floats(0, 3), st.floats(0, 3)),
       threshold=st.floats(0, 6))
def test_distance_and_the_speciation_test_match_the_formula_exactly(space, seed, coefficients,
                                                                    threshold) -> None:
    tracker = InnovationTracker()
    a = evolve(space, seed, 10, tracker)
    b = evolve(space, seed + 1, 14, tracker)
    c1, c2, c3 = coefficients
    for x, y in ((a, b), (b, a), (a, a)):
        d = compatibility_distance(x, y, c1, c2, c3)
        assert d == _reference_distance(x, y, c1, c2, c3)
        for t in (threshold, d):  # d itself: the boundary case
            assert genes_within(x.weight_map, x.innovations, y.weight_map, y.innovations, t,
                                c1, c2, c3) == (d < t)


def test_same_structural_change_gets_the_same_innovation_in_two_genomes() -> None:
    space = NEATSpace(num_inputs=2, num_outputs=1)
    tracker = InnovationTracker()
    rng = np.random.default_rng(0)
    a = initial_genome(space, rng, tracker)
    b = initial_genome(space, rng, tracker)
    assert [c.innovation for c in a.connections] == [c.innovation for c in b.connections]
    # split the same connection in both: same node id, same two new innovations
    ra = rb = None
    for seed in range(50):
        child_a, ra = add_node(a, np.random.default_rng(seed), space, tracker)
        child_b, rb = add_node(b, np.random.default_rng(seed), space, tracker)
        if ra["split"] == rb["split"]:
            break
    assert ra["node"] == rb["node"]
    new_a = set(child_a.connection_map) - set(a.connection_map)
    new_b = set(child_b.connection_map) - set(b.connection_map)
    assert new_a == new_b and len(new_a) == 2
    # without the shared tracker numbers continue from the genome alone
    solo, record = add_node(a, np.random.default_rng(1), space)
    assert record["node"] == 3 and solo.max_innovation == a.max_innovation + 2


def test_add_node_keeps_the_function_close_and_disables_the_split() -> None:
    space = NEATSpace(num_inputs=2, num_outputs=1, activations=("identity",),
                      output_activations=("identity",))
    g = initial_genome(space, np.random.default_rng(0))
    child, record = add_node(g, np.random.default_rng(0), space)
    split = child.connection_map[record["split"]]
    assert not split.enabled
    into = [c for c in child.connections if c.dst == record["node"]]
    out = [c for c in child.connections if c.src == record["node"]]
    assert into[0].weight == 1.0 and out[0].weight == split.weight
    assert child.node_map[record["node"]].bias == 0.0


def test_feed_forward_space_never_gets_a_cycle_recurrent_space_can() -> None:
    ff = NEATSpace(num_inputs=1, num_outputs=1, max_connections=50)
    rec = NEATSpace(num_inputs=1, num_outputs=1, max_connections=50, recurrent=True)
    for space in (ff, rec):
        tracker = InnovationTracker()
        rng = np.random.default_rng(3)
        g = initial_genome(space, rng, tracker)
        recurrent_seen = False
        for _ in range(40):
            try:
                g, record = (add_node if rng.random() < 0.3 else add_connection)(
                    g, rng, space, tracker)
            except OperatorNotApplicable:
                continue
            recurrent_seen |= bool(record.get("recurrent"))
            assert g.is_feed_forward or space.recurrent
        assert recurrent_seen == space.recurrent


def test_operators_that_cannot_apply_say_so() -> None:
    space = NEATSpace(num_inputs=1, num_outputs=1, initial_connection="none",
                      activations=("sigmoid",), output_activations=("sigmoid",))
    bare = initial_genome(space, np.random.default_rng(0))
    for op in (add_node, mutate_weights, toggle_connection, mutate_activation):
        with pytest.raises(OperatorNotApplicable):
            op(bare, np.random.default_rng(0), space)
    full, _ = add_connection(bare, np.random.default_rng(0), space)
    with pytest.raises(OperatorNotApplicable, match="every allowed node pair"):
        add_connection(full, np.random.default_rng(0), space)
    with pytest.raises(GenomeError):
        mutate_weights(full, np.random.default_rng(0), NEATSpace(num_inputs=2))
    with pytest.raises(ValueError, match="probability"):
        MutationRates(add_node=2.0)


def test_mutate_neat_is_deterministic_and_records_its_steps() -> None:
    space = NEATSpace(activations=("sigmoid", "tanh"))
    g = initial_genome(space, np.random.default_rng(0))
    rates = MutationRates(add_node=0.5, add_connection=0.5, activation=1.0, toggle=1.0)
    a = mutate_neat(g, np.random.default_rng(5), space, InnovationTracker.for_genome(g), rates)
    b = mutate_neat(g, np.random.default_rng(5), space, InnovationTracker.for_genome(g), rates)
    assert a == b and a[1]["op"] == "mutate_neat"
    assert all("op" in step for step in a[1]["steps"])


def test_weights_stay_in_range() -> None:
    space = NEATSpace(weight_range=(-1.0, 1.0), weight_perturb_std=5.0, weight_init_std=5.0,
                      bias_range=(-0.5, 0.5), bias_perturb_std=5.0)
    rng = np.random.default_rng(0)
    g = initial_genome(space, rng)
    for _ in range(20):
        g, _ = mutate_weights(g, rng, space)
        g, _ = mutate_biases(g, rng, space)
    assert all(-1.0 <= c.weight <= 1.0 for c in g.connections)
    assert all(-0.5 <= n.bias <= 0.5 for n in g.nodes)
