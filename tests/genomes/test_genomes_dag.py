"""DAG genomes: NB201 notation, canonical hashing, invariants and their error messages, JSON."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from genomes import (
    DAGGenome,
    Edge,
    FreeSpace,
    GenomeError,
    NB201Space,
    genome_from_dict,
    space_from_dict,
)
from genomes.space import FREE_OPS, WIDTH_PRESERVING_OPS

NB201_CSV = Path(__file__).resolve().parents[2] / "evonas" / "data" / "nb201_cifar10.csv"
WIDTHS = (16, 32, 64)


@pytest.fixture(scope="module")
def nb201_archs() -> list[str]:
    with NB201_CSV.open(newline="") as fh:
        return [row["arch"] for row in csv.DictReader(fh)]


# --------------------------------------------------------------------- NB201
def test_nb201_notation_round_trips_on_every_row(nb201_archs: list[str]) -> None:
    assert len(nb201_archs) == 15_625
    space = NB201Space()
    for arch in nb201_archs:
        genome = DAGGenome.from_nb201(arch)
        space.validate(genome)
        assert genome.to_nb201() == arch
        assert DAGGenome.from_json(genome.to_json()) == genome
    assert len(set(nb201_archs)) == 15_625


def test_nb201_canonical_classes(nb201_archs: list[str]) -> None:
    genomes = [DAGGenome.from_nb201(arch) for arch in nb201_archs]
    assert len({g.canonical_hash() for g in genomes}) == 6_466
    assert len({g.canonical_form(strict=True) for g in genomes}) == 4_930


def test_nb201_hash_ignores_what_cannot_reach_the_output() -> None:
    # node 1 is fed by a conv but never reaches node 3 except through a `none` edge
    a = DAGGenome.from_nb201("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = DAGGenome.from_nb201("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert a.canonical_hash() == b.canonical_hash()
    c = DAGGenome.from_nb201("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|"
                             "none~2|")
    assert a.canonical_hash() != c.canonical_hash()


@pytest.mark.parametrize("arch", [
    "nor_conv_3x3~0|+|none~0|none~1|",
    "|nor_conv_3x3~0|+|conv_9x9~0|none~1|",
    "|nor_conv_3x3|+|none~0|none~1|",
    "|nor_conv_3x3~x|+|none~0|none~1|",
])
def test_bad_nb201_notation(arch: str) -> None:
    with pytest.raises(GenomeError, match="arch"):
        DAGGenome.from_nb201(arch)


# --------------------------------------------------------------------- free genomes
@st.composite
def free_genomes(draw: st.DrawFn, max_nodes: int = 8) -> DAGGenome:
    """Free genomes with an input-output path, some dead or unreachable nodes and mixed widths."""
    n = draw(st.integers(min_value=2, max_value=max_nodes))
    via = sorted(draw(st.sets(st.integers(min_value=1, max_value=n - 2), max_size=n - 2))
                 if n > 2 else [])
    chain = [0, *via, n - 1]
    pairs = set(zip(chain[:-1], chain[1:], strict=True))
    others = [(s, d) for d in range(1, n) for s in range(d) if (s, d) not in pairs]
    if others:
        pairs |= draw(st.sets(st.sampled_from(others), max_size=len(others)))
    edges = tuple(Edge(s, d, draw(st.sampled_from(FREE_OPS))) for s, d in sorted(pairs))
    widths = (16, *(draw(st.sampled_from(WIDTHS)) for _ in range(n - 1)))
    genome = DAGGenome("free", n, edges, widths)
    FreeSpace(max_nodes=max_nodes, max_edges=len(edges), widths=WIDTHS).validate(genome)
    return genome


def _relabel(genome: DAGGenome, rng: np.random.Generator) -> DAGGenome:
    """Renumber the inner nodes by another random topological order."""
    n = genome.num_nodes
    order = [0]
    left = set(range(1, n - 1))
    while left:
        ready = sorted(k for k in left if all(e.src in order for e in genome.in_edges(k)))
        k = ready[int(rng.integers(len(ready)))]
        order.append(k)
        left.remove(k)
    order.append(n - 1)
    new = {old: i for i, old in enumerate(order)}
    edges = tuple(Edge(new[e.src], new[e.dst], e.op) for e in genome.edges)
    widths = tuple(genome.widths[old] for old in order)
    relabelled = DAGGenome(genome.space, n, edges, widths)
    relabelled.validate()
    return relabelled


@settings(max_examples=300, deadline=None)
@given(genome=free_genomes(), seed=st.integers(min_value=0, max_value=2**32))
def test_isomorphic_relabelling_keeps_the_hash(genome: DAGGenome, seed: int) -> None:
    relabelled = _relabel(genome, np.random.default_rng(seed))
    assert relabelled.canonical_hash() == genome.canonical_hash()
    assert relabelled.canonical_form(strict=False) == genome.canonical_form(strict=False)


def test_relabelling_is_not_trivial() -> None:
    genome = DAGGenome("free", 4, (Edge(0, 1, "conv_3x3"), Edge(0, 2, "sep_conv_5x5"),
                                   Edge(1, 3, "max_pool_3x3"), Edge(2, 3, "identity")),
                       (16, 32, 64, 32))
    swapped = DAGGenome("free", 4, (Edge(0, 2, "conv_3x3"), Edge(0, 1, "sep_conv_5x5"),
                                    Edge(2, 3, "max_pool_3x3"), Edge(1, 3, "identity")),
                        (16, 64, 32, 32))
    assert swapped != genome
    assert swapped.canonical_hash() == genome.canonical_hash()


def _insert_node(genome: DAGGenome, at: int, edges: list[tuple[int, int, str]],
                 width: int) -> DAGGenome:
    """Insert a node at index ``at`` (later nodes shift up) with extra edges (new numbering)."""
    def shift(k: int) -> int:
        return k if k < at else k + 1

    moved = [Edge(shift(e.src), shift(e.dst), e.op) for e in genome.edges]
    widths = list(genome.widths)
    widths.insert(at, width)
    return DAGGenome(genome.space, genome.num_nodes + 1,
                     tuple(moved + [Edge(*e) for e in edges]), tuple(widths))


@settings(max_examples=200, deadline=None)
@given(genome=free_genomes(), data=st.data())
def test_dead_nodes_do_not_change_the_free_hash(genome: DAGGenome, data: st.DataObject) -> None:
    n = genome.num_nodes
    at = data.draw(st.integers(min_value=1, max_value=n - 1))
    op = data.draw(st.sampled_from(FREE_OPS))
    width = data.draw(st.sampled_from(WIDTHS))
    # fed from an earlier node, feeding nothing: never reaches the output
    src = data.draw(st.integers(min_value=0, max_value=at - 1))
    sink = _insert_node(genome, at, [(src, at, op)], width)
    sink.validate()
    assert sink.canonical_hash() == genome.canonical_hash()
    # feeding later nodes but fed by nothing: its value is zero
    dst = data.draw(st.integers(min_value=at + 1, max_value=n))
    source = _insert_node(genome, at, [(at, dst, op)], width)
    source.validate()
    assert source.canonical_hash() == genome.canonical_hash()


@settings(max_examples=200, deadline=None)
@given(genome=free_genomes(), data=st.data())
def test_width_changes_change_the_hash(genome: DAGGenome, data: st.DataObject) -> None:
    """A live node fed by a conv from a live node: its width is that conv's output channels."""
    live = genome.live_nodes()
    fed = sorted({e.dst for e in genome.edges if e.src in live and e.dst in live
                  and e.op not in WIDTH_PRESERVING_OPS})
    assume(fed)
    node = data.draw(st.sampled_from(fed))
    new = data.draw(st.sampled_from([w for w in WIDTHS if w != genome.widths[node]]))
    widths = list(genome.widths)
    widths[node] = new
    changed = DAGGenome(genome.space, genome.num_nodes, genome.edges, tuple(widths))
    assert changed.canonical_hash() != genome.canonical_hash()


def test_moving_a_projection_keeps_the_hash() -> None:
    """Not every width change is a new function: here it only moves the 1x1 projection.

    ``0 -max_pool-> 1 -identity-> 2``: with node 1 at 16 channels the identity edge projects
    16 -> 32; with node 1 at 32 the pooling edge does. Both compute proj32(max_pool(x)).
    """
    edges = (Edge(0, 1, "max_pool_3x3"), Edge(0, 2, "conv_3x3"), Edge(1, 2, "identity"))
    narrow = DAGGenome("free", 3, edges, (16, 16, 32))
    wide = DAGGenome("free", 3, edges, (16, 32, 32))
    assert narrow.canonical_hash() == wide.canonical_hash()
    convs = tuple(Edge(e.src, e.dst, "conv_3x3") for e in edges)
    assert (DAGGenome("free", 3, convs, (16, 16, 32)).canonical_hash()
            != DAGGenome("free", 3, convs, (16, 32, 32)).canonical_hash())


def test_ops_and_skips_matter() -> None:
    base = DAGGenome("free", 2, (Edge(0, 1, "conv_3x3"),), (16, 16))
    other_op = DAGGenome("free", 2, (Edge(0, 1, "conv_5x5"),), (16, 16))
    skip = DAGGenome("free", 2, (Edge(0, 1, "identity"),), (16, 16))
    assert len({g.canonical_hash() for g in (base, other_op, skip)}) == 3
    # in the strict form a skip of a sum joins the sum
    chain = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "identity")), (16, 16, 16))
    assert chain.canonical_hash() == base.canonical_hash()


@settings(max_examples=200, deadline=None)
@given(genome=free_genomes())
def test_free_json_round_trip(genome: DAGGenome) -> None:
    assert DAGGenome.from_json(genome.to_json()) == genome
    assert genome_from_dict(genome.to_dict()) == genome
    assert genome.to_dict()["kind"] == "dag" and genome.to_dict()["version"] == 1


# --------------------------------------------------------------------- invariants
def _free(num_nodes: int, edges: list[tuple[int, int, str]],
          widths: tuple[int, ...] | None = None) -> DAGGenome:
    return DAGGenome("free", num_nodes, tuple(Edge(*e) for e in edges),
                     widths if widths is not None else (16,) * num_nodes)


@pytest.mark.parametrize(("genome", "pattern"), [
    (_free(3, [(2, 1, "conv_3x3")]), r"edges\[2->1\]: edges must go from a lower"),
    (_free(3, [(1, 1, "conv_3x3")]), r"edges\[1->1\]: edges must go from a lower"),
    (_free(3, [(0, 5, "conv_3x3")]), r"edges\[0->5\]: dangling edge"),
    (_free(3, [(-1, 2, "conv_3x3")]), r"edges\[-1->2\]: dangling edge"),
    (_free(3, [(0, 2, "conv_3x3"), (0, 2, "conv_5x5")]), r"edges\[0->2\]: duplicate edge"),
    (_free(3, [(0, 2, "")]), r"edges\[0->2\]\.op"),
    (_free(1, []), r"num_nodes"),
    (_free(3, [(0, 2, "conv_3x3")], (16, 16)), r"widths: need one width per node"),
    (_free(3, [(0, 2, "conv_3x3")], (16, 0, 16)), r"widths\[1\]"),
])
def test_validate_names_the_field(genome: DAGGenome, pattern: str) -> None:
    with pytest.raises(GenomeError, match=pattern):
        genome.validate()
    with pytest.raises(GenomeError, match=pattern):
        FreeSpace().validate(genome)


def test_space_validate_names_the_field() -> None:
    space = FreeSpace(max_nodes=3, max_edges=2, widths=(16, 32))
    with pytest.raises(GenomeError, match="num_nodes: 4 nodes is over the limit of 3"):
        space.validate(_free(4, [(0, 3, "conv_3x3")]))
    with pytest.raises(GenomeError, match="edges: 3 edges is over the limit of 2"):
        space.validate(_free(3, [(0, 1, "conv_3x3"), (0, 2, "conv_3x3"), (1, 2, "conv_3x3")]))
    with pytest.raises(GenomeError, match=r"edges\[0->2\]\.op: op 'nor_conv_3x3'"):
        space.validate(_free(3, [(0, 2, "nor_conv_3x3")]))
    with pytest.raises(GenomeError, match=r"widths\[1\]: 64 is not one of"):
        space.validate(_free(3, [(0, 2, "conv_3x3")], (16, 64, 16)))
    with pytest.raises(GenomeError, match=r"widths\[0\]: must be 16"):
        space.validate(_free(3, [(0, 2, "conv_3x3")], (32, 16, 16)))
    with pytest.raises(GenomeError, match=r"widths\[2\]: must be 16"):
        FreeSpace(mode="cell").validate(_free(3, [(0, 2, "conv_3x3")], (16, 16, 32)))
    with pytest.raises(GenomeError, match="no path"):
        space.validate(_free(3, [(0, 1, "conv_3x3")]))
    with pytest.raises(GenomeError, match="space: genome is for space 'nb201'"):
        space.validate(DAGGenome.from_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))


def test_nb201_space_validate_names_the_field() -> None:
    space = NB201Space()
    cell = DAGGenome.from_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(GenomeError, match=r"edges\[0->1\]\.op: unknown op 'conv_3x3'"):
        space.validate(DAGGenome("nb201", 4, (Edge(0, 1, "conv_3x3"), *cell.edges[1:])))
    with pytest.raises(GenomeError, match=r"edges: an nb201 cell has all 6 edges; missing"):
        space.validate(DAGGenome("nb201", 4, cell.edges[1:]))
    with pytest.raises(GenomeError, match="num_nodes"):
        space.validate(DAGGenome("nb201", 5, cell.edges))
    with pytest.raises(GenomeError, match="widths"):
        space.validate(DAGGenome("nb201", 4, cell.edges, (16, 16, 16, 16)))


@pytest.mark.parametrize(("text", "pattern"), [
    ("{not json", "genome: not valid JSON"),
    ("", "genome: not valid JSON"),
    ("[1, 2]", "genome: expected a JSON object"),
    ('{"kind": "cppn", "version": 1}', "kind"),
    ('{"kind": "dag", "version": 2}', "version"),
    ('{"kind": "dag", "version": 1, "space": "free", "edges": []}', "num_nodes: missing"),
    ('{"kind": "dag", "version": 1, "space": "free", "num_nodes": "3", "edges": []}',
     "num_nodes: must be an integer"),
    ('{"kind": "dag", "version": 1, "space": "free", "num_nodes": 2, "edges": [[0, 1]]}',
     r"edges\[0\]: must be \[src, dst, op\]"),
    ('{"kind": "dag", "version": 1, "space": "free", "num_nodes": 2, "edges": [[1, 0, "x"]]}',
     r"edges\[1->0\]"),
])
def test_from_json_errors(text: str, pattern: str) -> None:
    with pytest.raises(GenomeError, match=pattern):
        DAGGenome.from_json(text)


def test_from_json_errors_on_undecodable_or_absurdly_nested_input() -> None:
    with pytest.raises(GenomeError, match="genome: not valid JSON"):
        DAGGenome.from_json(b"\xff")  # type: ignore[arg-type]
    with pytest.raises(GenomeError, match="genome: not valid JSON"):
        DAGGenome.from_json("[" * 100_000)


def test_genome_from_dict_unknown_kind() -> None:
    with pytest.raises(GenomeError, match="kind: unknown genome kind 'tree'"):
        genome_from_dict({"kind": "tree"})


def test_edges_are_kept_sorted() -> None:
    genome = _free(3, [(1, 2, "conv_3x3"), (0, 1, "conv_3x3")])
    assert [(e.src, e.dst) for e in genome.edges] == [(0, 1), (1, 2)]


def test_space_from_dict() -> None:
    assert space_from_dict({"name": "nb201"}) == NB201Space()
    free = space_from_dict({"name": "free", "ops": ["conv_3x3"], "widths": [8, 16]})
    assert free == FreeSpace(ops=("conv_3x3",), widths=(8, 16))
    with pytest.raises(GenomeError, match="space.depth: unknown key"):
        space_from_dict({"name": "free", "depth": 3})
    with pytest.raises(GenomeError, match="space.name"):
        space_from_dict({"name": "darts"})
    with pytest.raises(GenomeError, match="space.ops: unknown op 'conv_9x9'"):
        FreeSpace(ops=("conv_9x9",))


@settings(max_examples=200, deadline=None)
@given(genome=free_genomes(), op=st.text(max_size=6), space=st.text(max_size=6))
def test_json_text_is_the_encoders(genome: DAGGenome, op: str, space: str) -> None:
    """``to_json`` builds its text directly; it is exactly the JSON encoder's compact text of
    ``to_dict()``, odd names (quotes, non-ASCII) included, widths or none."""
    import json

    edges = tuple(Edge(e.src, e.dst, op) if i == 0 else e for i, e in enumerate(genome.edges))
    for variant in (genome, DAGGenome(space, genome.num_nodes, edges, genome.widths),
                    DAGGenome(space, genome.num_nodes, edges)):
        assert variant.to_json() == json.dumps(variant.to_dict(), separators=(",", ":"))


def test_json_text_of_odd_numbers_is_the_encoders() -> None:
    """Numbers that are not plain ints (a bool) take the encoder's path: the same text."""
    import json

    genome = DAGGenome("nb201", 4, (Edge(True, 2, "none"),))
    assert genome.to_json() == json.dumps(genome.to_dict(), separators=(",", ":"))
    assert '"edges":[[true,2,"none"]]' in genome.to_json()


def test_checked_genome_equals_the_constructed_one() -> None:
    edges = (Edge(0, 1, "none"), Edge(0, 2, "nor_conv_3x3"), Edge(1, 2, "skip_connect"))
    checked = DAGGenome.checked("nb201", 3, edges)
    made = DAGGenome("nb201", 3, edges)
    assert checked == made and hash(checked) == hash(made)
    assert checked.canonical_hash() == made.canonical_hash()
    assert checked.to_json() == made.to_json() and checked.to_dict() == made.to_dict()
