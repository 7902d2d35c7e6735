"""CPPN genomes: invariants, JSON round trip, canonical hash, the neat space, the tracker."""

from __future__ import annotations

import json

import pytest

from genomes import (
    ConnectionGene,
    CPPNGenome,
    DAGGenome,
    GenomeError,
    InnovationTracker,
    NEATSpace,
    NodeGene,
    genome_from_dict,
    space_from_dict,
)
from genomes.substrate import Substrate, express, grid


def xor_net(hidden_id: int = 3, w: float = 2.5) -> CPPNGenome:
    """2 inputs, output 2, one hidden node; the hidden id is a parameter (renumbering)."""
    return CPPNGenome(2, 1, (
        NodeGene(2, "sigmoid", -0.5),
        NodeGene(hidden_id, "sigmoid", 0.25),
    ), (
        ConnectionGene(0, 0, 2, 1.0),
        ConnectionGene(1, 1, 2, -1.0),
        ConnectionGene(2, 0, hidden_id, w),
        ConnectionGene(3, hidden_id, 2, 1.5),
        ConnectionGene(4, 1, hidden_id, 0.75, enabled=False),
    ))


def test_roles_and_structure() -> None:
    g = xor_net()
    g.validate()
    assert list(g.input_ids) == [0, 1] and list(g.output_ids) == [2] and g.hidden_ids == [3]
    assert g.is_feed_forward and g.topological_order() == [3, 2]
    assert g.depths() == {3: 1, 2: 2}
    assert [c.innovation for c in g.enabled_connections] == [0, 1, 2, 3]
    assert g.max_innovation == 4
    text = g.describe()
    assert text.startswith("cppn in=2 out=1 hidden=1 conns=4/5")


def test_json_round_trip_is_versioned() -> None:
    g = xor_net()
    data = json.loads(g.to_json())
    assert data["kind"] == "cppn" and data["version"] == 1
    assert CPPNGenome.from_dict(data) == g
    assert CPPNGenome.from_json(g.to_json()) == g
    assert genome_from_dict(data) == g
    assert isinstance(genome_from_dict({"kind": "dag", "version": 1, "space": "free",
                                        "num_nodes": 2, "edges": [[0, 1, "identity"]],
                                        "widths": [16, 16]}), DAGGenome)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.update(kind="dag"), "kind"),
    (lambda d: d.pop("nodes"), "nodes: missing"),
    (lambda d: d["nodes"].append([7, "sigmoid"]), r"nodes\[2\]"),
    (lambda d: d["connections"].append([9, 0, 2, "w", True]), r"connections\[5\]"),
    (lambda d: d["nodes"].__setitem__(0, [2, "swish", 0.0]), "activation"),
    (lambda d: d["connections"].append([4, 0, 3, 1.0, True]), "duplicate innovation"),
    (lambda d: d["connections"].append([9, 0, 2, 1.0, True]), "duplicate connection"),
    (lambda d: d["connections"].append([9, 0, 9, 1.0, True]), "no output or hidden node 9"),
    (lambda d: d["connections"].append([9, 2, 1, 1.0, True]), "never end at an input"),
    (lambda d: d["nodes"].pop(0), "output node 2 has no gene"),
    (lambda d: d["nodes"].append([1, "sigmoid", 0.0]), "inputs"),
    (lambda d: d["connections"][0].__setitem__(3, float("inf")), "finite"),
])
def test_invalid_json_names_the_field(change, message) -> None:  # noqa: ANN001
    data = xor_net().to_dict()
    change(data)
    with pytest.raises(GenomeError, match=message):
        CPPNGenome.from_dict(data)


def test_not_json_is_a_genome_error() -> None:
    with pytest.raises(GenomeError, match="not valid JSON"):
        CPPNGenome.from_json("{")
    with pytest.raises(GenomeError, match="unknown genome kind"):
        genome_from_dict({"kind": "tree"})


def test_canonical_hash_ignores_numbering_disabled_genes_and_dead_nodes() -> None:
    a, b = xor_net(3), xor_net(7)
    assert a.canonical_hash() == b.canonical_hash()
    dead = CPPNGenome(2, 1, (*a.nodes, NodeGene(9, "tanh", 1.0)),
                      (*a.connections, ConnectionGene(20, 0, 9, 3.0)))
    assert dead.canonical_hash() == a.canonical_hash()
    assert xor_net(w=2.0).canonical_hash() != a.canonical_hash()
    flipped = CPPNGenome(2, 1, a.nodes, tuple(
        ConnectionGene(c.innovation, c.src, c.dst, c.weight, True) for c in a.connections))
    assert flipped.canonical_hash() != a.canonical_hash()
    # the input order matters: swapping the inputs' roles is another function
    swapped = CPPNGenome(2, 1, (NodeGene(2, "sigmoid", -0.5),), (
        ConnectionGene(0, 0, 2, -1.0), ConnectionGene(1, 1, 2, 1.0)))
    plain = CPPNGenome(2, 1, (NodeGene(2, "sigmoid", -0.5),), (
        ConnectionGene(0, 0, 2, 1.0), ConnectionGene(1, 1, 2, -1.0)))
    assert swapped.canonical_hash() != plain.canonical_hash()


def test_recurrent_connections_by_innovation_order() -> None:
    g = CPPNGenome(1, 1, (NodeGene(1, "tanh", 0.0), NodeGene(2, "tanh", 0.0)), (
        ConnectionGene(0, 0, 2, 1.0),
        ConnectionGene(1, 2, 1, 1.0),
        ConnectionGene(2, 1, 2, 1.0),   # closes the cycle 2 -> 1 -> 2: recurrent
        ConnectionGene(3, 1, 1, 0.5),   # self-loop: recurrent
    ))
    g.validate()
    assert g.recurrent_innovations == frozenset({2, 3})
    assert not g.is_feed_forward
    assert [c.innovation for c in g.forward_connections()] == [0, 1]
    assert g.canonical_form().startswith("rec|")
    with pytest.raises(GenomeError, match="closes a cycle"):
        NEATSpace(num_inputs=1, activations=("tanh",), output_activations=("tanh",)).validate(g)
    NEATSpace(num_inputs=1, activations=("tanh",), output_activations=("tanh",),
              recurrent=True).validate(g)


def test_with_values_keeps_structure_only() -> None:
    g = xor_net()
    g.validate()
    child = g.with_values(g.nodes, [ConnectionGene(c.innovation, c.src, c.dst, c.weight * 2,
                                                   c.enabled) for c in g.connections])
    assert child.topological_order() == g.topological_order() and child != g
    with pytest.raises(GenomeError, match="structure"):
        g.with_values(g.nodes, [ConnectionGene(c.innovation, c.src, c.dst, c.weight,
                                               not c.enabled) for c in g.connections])


def test_neat_space_from_config_and_rules() -> None:
    space = space_from_dict({"name": "neat", "num_inputs": 2, "activations": ["sigmoid", "sin"],
                             "weight_range": [-4, 4]})
    assert isinstance(space, NEATSpace) and space.activations == ("sigmoid", "sin")
    assert space_from_dict(space.to_dict()) == space
    with pytest.raises(GenomeError, match="space.colour: unknown key"):
        space_from_dict({"name": "neat", "colour": 1})
    with pytest.raises(GenomeError, match="space.activations: unknown activation"):
        NEATSpace(activations=("swish",))
    with pytest.raises(GenomeError, match="weight_range"):
        NEATSpace(weight_range=(1.0, -1.0))
    g = xor_net(w=6.0)
    with pytest.raises(GenomeError, match="outside"):
        space.validate(g)
    with pytest.raises(GenomeError, match="num_inputs"):
        NEATSpace(num_inputs=3).validate(xor_net())
    with pytest.raises(GenomeError, match="CPPN genomes"):
        space.validate(DAGGenome("free", 2, ()))
    with pytest.raises(GenomeError, match="over the limit of 1"):
        NEATSpace(max_nodes=1).validate(xor_net())


def test_tracker_aligns_and_round_trips() -> None:
    t = InnovationTracker()
    assert t.connection(0, 2) == 0 and t.connection(1, 2) == 1 and t.connection(0, 2) == 0
    t.next_node = 3
    first = t.split_node(0, taken=[0, 1, 2])
    assert first == 3 and t.split_node(0, taken=[0, 1, 2]) == 3  # same split, same node
    assert t.split_node(0, taken=[0, 1, 2, 3]) == 4  # re-split inside one genome: fresh id
    again = InnovationTracker.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t and again.connection(5, 6) == t.connection(5, 6)
    seeded = InnovationTracker.for_genome(xor_net(hidden_id=7))
    assert seeded.next_innovation == 5 and seeded.next_node == 8


def test_substrate_geometry_and_expression() -> None:
    assert grid(1, 1) == ((0.0, 0.0),)
    assert grid(2, 3)[0] == (-1.0, -1.0) and grid(2, 3)[-1] == (1.0, 1.0)
    s = Substrate.grids([(8, 8), (3, 3), (1, 10)])
    assert s.sizes == [64, 9, 10] and s.cppn_inputs == 4 and s.cppn_outputs == 4
    assert len(s.queries(0)) == 64 * 9 and s.queries(1)[0] == (-1.0, -1.0, -1.0, 0.0)
    assert Substrate.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert express(0.1, 0.2, 3.0) == 0.0 and express(2.0, 0.2, 3.0) == 3.0
    assert express(-0.6, 0.2, 3.0) == pytest.approx(-1.5)
    with pytest.raises(GenomeError):
        Substrate(((((0.0, 0.0)),),))
