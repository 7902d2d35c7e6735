"""Lineage queries on small real journals, checked against networkx and brute force."""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import networkx as nx
import pytest

from evonas.analysis import lineage
from evonas.config import ConfigError
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, EvaluationRow, Journal
from genomes import DAGGenome
from tests.evonas.analysis.lineage_runs import FAILING


def test_lineage_graph_has_every_individual_and_parent_link(gen: Run) -> None:
    individuals = gen.individuals()
    graph = gen.lineage()
    assert sorted(graph.nodes) == [ind.id for ind in individuals]
    assert graph.number_of_edges() == sum(len(set(ind.parents)) for ind in individuals)
    assert nx.is_directed_acyclic_graph(graph)
    by_id = {ind.id: ind for ind in individuals}
    for parent, child, attrs in graph.edges(data=True):
        assert parent in by_id[child].parents
        assert attrs["operator"] == by_id[child].operator
        assert attrs["op"] == by_id[child].operator["op"]
        assert attrs["delta"] == pytest.approx(by_id[child].fitness - by_id[parent].fitness)
    for ind in individuals:
        assert graph.nodes[ind.id]["fitness"] == ind.fitness
        assert graph.nodes[ind.id]["generation"] == ind.generation
        assert graph.nodes[ind.id]["hash"] == ind.hash
    assert any(ind.operator["op"] == "crossover_dag" for ind in individuals)
    with_genomes = gen.lineage(genomes=True)
    assert with_genomes.nodes[5]["genome"] == by_id[5].genome.to_dict()


@pytest.mark.parametrize("which", ["reg", "gen"])
def test_ancestors_descendants_agree_with_networkx(which: str,
                                                  request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(which)
    graph = run.lineage()
    ids = sorted(graph.nodes)
    for k in [*ids[::7], run.best().id, ids[-1]]:
        assert run.ancestors(k) == sorted(nx.ancestors(graph, k))
        assert run.descendants(k) == sorted(nx.descendants(graph, k))


def test_path_to_root_follows_parents(gen: Run) -> None:
    by_id = {ind.id: ind for ind in gen.individuals()}
    for k in (by_id[max(by_id)].id, gen.best().id):
        for follow in ("first", "fittest"):
            path = gen.path_to_root(k, follow)
            assert path[0] == k and not by_id[path[-1]].parents
            for child, parent in itertools.pairwise(path):
                parents = by_id[child].parents
                if follow == "first":
                    assert parent == parents[0]
                else:
                    assert by_id[parent].fitness == max(by_id[p].fitness for p in parents)
    with pytest.raises(ValueError, match="follow"):
        gen.path_to_root(3, "oldest")


def test_unknown_individual_is_a_key_error(reg: Run) -> None:
    for call in (reg.ancestors, reg.descendants, reg.path_to_root):
        with pytest.raises(KeyError, match="no individual 9999"):
            call(9999)
    with pytest.raises(KeyError):
        reg.diff(0, 9999)


def _brute_operator_rows(run: Run, include_cached: bool = True) -> dict[str, dict]:
    by_id = {ind.id: ind for ind in run.individuals()}
    out: dict[str, dict] = {}
    for ind in by_id.values():
        if not include_cached and ind.status == "cached":
            continue
        row = out.setdefault(ind.operator["op"], {"children": 0, "changes": [], "failed": 0,
                                                  "cached": 0})
        row["children"] += 1
        row["failed"] += ind.status == "failed"
        row["cached"] += ind.status == "cached"
        parents = [by_id[p].fitness for p in ind.parents if by_id[p].fitness is not None]
        if ind.fitness is not None and parents:
            row["changes"].append(ind.fitness - max(parents))
    return out


@pytest.mark.parametrize(("which", "include_cached"),
                         [("reg", True), ("gen", True), ("gen", False)])
def test_operator_stats_match_brute_force(which: str, include_cached: bool,
                                          request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(which)
    stats = run.operator_stats(windows=4, include_cached=include_cached)
    expected = _brute_operator_rows(run, include_cached)
    assert {r.operator for r in stats.rows} == set(expected)
    for row in stats.rows:
        want = expected[row.operator]
        assert row.children == want["children"]
        assert row.failed == want["failed"] and row.cached == want["cached"]
        assert row.compared == len(want["changes"])
        assert row.improved == sum(c > 0 for c in want["changes"])
        if want["changes"]:
            assert row.mean_change == pytest.approx(sum(want["changes"]) / len(want["changes"]))
            assert row.best_change == pytest.approx(max(want["changes"]))
            assert row.improved_share == row.improved / row.compared
        else:
            assert row.mean_change is None and row.improved_share is None
    assert len(stats.windows) == 4
    assert stats.windows[0].start == 0
    for a, b in itertools.pairwise(stats.windows):
        assert a.end == b.start
    for row in stats.rows:  # windows partition the individuals
        assert sum(w.row(row.operator).children for w in stats.windows
                   if w.row(row.operator)) == row.children
    assert json.loads(json.dumps(stats.to_dict()))["rows"][0]["operator"] == stats.rows[0].operator


def test_operator_stats_count_failures(reg: Run) -> None:
    stats = reg.operator_stats()
    assert sum(r.failed for r in stats.rows) == len(FAILING)
    random = stats.row("random")
    assert random.children == 10 and random.compared == 0 and random.improved_share is None


def test_diversity_by_window_matches_brute_force(reg: Run) -> None:
    individuals = reg.individuals()
    rows = lineage.diversity(reg._journal, by="window", windows=5, max_pairs=10_000)
    assert [r.start for r in rows][0] == 0 and rows[-1].end == len(individuals)
    assert sum(r.individuals for r in rows) == len(individuals)
    seen: set[str] = set()
    for row in rows:
        members = individuals[row.start:row.end]
        hashes = {m.hash for m in members}
        assert row.generation is None
        assert row.distinct == len(hashes) and row.new == len(hashes - seen)
        seen |= hashes
        pairs = list(itertools.combinations(members, 2))
        assert row.pairs == len(pairs)
        assert row.mean_distance == pytest.approx(
            sum(lineage.genome_distance(a.genome, b.genome) for a, b in pairs) / len(pairs))
    assert reg.diversity() == lineage.diversity(reg._journal)  # the default: by window
    with pytest.raises(ValueError, match="generation"):
        reg.diversity(by="generation")


def test_diversity_by_generation_and_sampling(gen: Run) -> None:
    rows = gen.diversity()
    generations = sorted({ind.generation for ind in gen.individuals()})
    assert [r.generation for r in rows] == generations
    sampled = lineage.diversity(gen._journal, max_pairs=5, seed=1)
    assert all(r.pairs <= 5 for r in sampled)
    assert sampled == lineage.diversity(gen._journal, max_pairs=5, seed=1)  # seeded
    assert all(r.mean_distance is None or r.mean_distance >= 0 for r in sampled)


def test_genome_distance_and_diff_in_words() -> None:
    a = DAGGenome.from_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|"
                             "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    b = DAGGenome.from_nb201("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|"
                             "+|skip_connect~0|nor_conv_1x1~1|none~2|")
    assert lineage.genome_distance(a, a) == 0
    assert lineage.genome_distance(a, b) == lineage.genome_distance(b, a) == 2
    words = lineage.genome_diff(a, b, ("#1", "#2"))
    assert "edge 0->2: nor_conv_3x3 in #1, avg_pool_3x3 in #2" in words
    assert "edge 2->3: nor_conv_3x3 in #1, none in #2" in words
    assert lineage.genome_diff(a, a) == ["a and b are the same genome"]
    free_a = {"kind": "dag", "version": 1, "space": "free", "num_nodes": 3,
              "edges": [[0, 1, "conv_3x3"], [1, 2, "conv_3x3"]], "widths": [16, 32, 16]}
    free_b = {"kind": "dag", "version": 1, "space": "free", "num_nodes": 4,
              "edges": [[0, 1, "conv_5x5"], [1, 3, "conv_3x3"], [0, 3, "identity"]],
              "widths": [16, 64, 32, 16]}
    # 1 node more, 0->1 op, 1->2 gone, 1->3 and 0->3 new, node 1 and node 2 widths
    assert lineage.genome_distance(free_a, free_b) == 1 + 1 + 1 + 2 + 2
    words = lineage.genome_diff(free_a, free_b)
    assert "a has 3 nodes, b has 4" in words and "node 1 width: 32 in a, 64 in b" in words
    assert "edge 0->3 (identity) only in b" in words
    # node 1 is dead (only ``none`` leaves it): its op differs, the function does not
    c = DAGGenome.from_nb201("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    d = DAGGenome.from_nb201("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert lineage.genome_diff(c, d) == [
        "edge 0->1: nor_conv_3x3 in a, avg_pool_3x3 in b",
        "the canonical hashes agree: a and b compute the same function"]


def test_cppn_distance_and_diff() -> None:
    a = {"kind": "cppn", "version": 1, "num_inputs": 2, "num_outputs": 1,
         "nodes": [[2, "sigmoid", 0.0]],
         "connections": [[0, 0, 2, 0.5, True], [1, 1, 2, -0.5, True]]}
    b = {"kind": "cppn", "version": 1, "num_inputs": 2, "num_outputs": 1,
         "nodes": [[2, "tanh", 0.0], [3, "sin", 0.1]],
         "connections": [[0, 0, 2, 0.5, False], [1, 1, 2, -0.5, True], [2, 0, 3, 1.0, True],
                         [3, 3, 2, 1.0, True]]}
    assert lineage.genome_distance(a, b) == 1 + 1 + 1 + 2  # activation, node 3, toggle, 2 new
    words = lineage.genome_diff(a, b)
    assert "node 2 activation: sigmoid in a, tanh in b" in words
    assert "connection 0->2 (innovation 0): enabled in a, disabled in b" in words
    assert "connection 0->3 (innovation 2) only in b" in words
    assert lineage.genome_distance(a, {"kind": "dag", "num_nodes": 2, "edges": []}) == math.inf


def test_run_diff_of_parent_and_child(reg: Run) -> None:
    child = next(ind for ind in reg.individuals() if ind.operator["op"] == "mutate_op")
    text = reg.diff(child.parents[0], child.id)
    src, dst = child.operator["edge"]
    assert f"edge {src}->{dst}: {child.operator['from']} in #{child.parents[0]}, " \
           f"{child.operator['to']} in #{child.id}" in text.splitlines()
    assert reg.diff(3, 3) == "#3 and #3 are the same genome"


@pytest.mark.parametrize(("record", "words"), [
    ({"op": "random"}, "random genome"),
    ({"op": "reproduce"}, "reproduce: a copy of the parent"),
    ({"op": "mutate_op", "edge": [1, 2], "from": "none", "to": "skip_connect"},
     "mutate_op: edge 1->2 none -> skip_connect"),
    ({"op": "add_edge", "edge": [0, 3], "to": "conv_3x3"}, "add_edge: 0->3 (conv_3x3)"),
    ({"op": "remove_edge", "edge": [0, 3], "from": "conv_3x3"}, "remove_edge: 0->3 (conv_3x3)"),
    ({"op": "add_node", "how": "split", "split": [0, 2], "node": 1, "width": 32,
      "in_edge": [0, 1, "conv_3x3"], "out_edge": [1, 3, "identity"]},
     "add_node: node 1 width 32 by split of 0->2, in 0->1 (conv_3x3), out 1->3 (identity)"),
    ({"op": "remove_node", "node": 2, "width": 16, "removed_edges": [], "bypass": [0, 2, "x"]},
     "remove_node: node 2 width 16, bypass 0->2 (x)"),
    ({"op": "mutate_width", "node": 2, "from": 16, "to": 32},
     "mutate_width: node 2 width 16 -> 32"),
    ({"op": "crossover_dag", "from_a": 4, "from_b": 2, "edges_from_b": []},
     "crossover_dag: 4 genes from the first parent, 2 from the second"),
    ({"op": "add_node", "node": 7, "split": 3}, "add_node: node 7 splits connection 3"),
    ({"op": "add_connection", "connection": [1, 7], "innovation": 9, "recurrent": True},
     "add_connection: 1->7 (recurrent), innovation 9"),
    ({"op": "mutate_neat", "steps": [{"op": "mutate_weights", "perturbed": 2, "replaced": 1}]},
     "mutate_neat: mutate_weights: 2 perturbed, 1 replaced"),
    ({"op": "crossover_neat", "matching": 3, "disjoint": 1, "excess": 0, "from_b": 1},
     "crossover_neat: 3 matching, 1 disjoint, 0 excess genes"),
    ({"op": "toggle_connection", "innovation": 4, "enabled": False},
     "toggle_connection: innovation 4 disabled"),
    ({"op": "invented", "k": 1}, "invented: k=1"),
])
def test_describe_record(record: dict, words: str) -> None:
    assert lineage.describe_record(record) == words


@pytest.mark.parametrize("suffix", [".graphml", ".json", ".dot"])
def test_export_round_trips(gen: Run, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tree{suffix}"
    graph = lineage.export(gen._journal, path)
    assert path.is_file() and not list(tmp_path.glob("*.writing"))
    if suffix == ".graphml":
        back = nx.read_graphml(path, node_type=int)
        assert set(back.edges) == set(graph.edges)
        edge = next(iter(back.edges(data=True)))
        assert json.loads(edge[2]["operator"]) == graph.edges[edge[0], edge[1]]["operator"]
        assert json.loads(back.nodes[0]["genome"])["kind"] == "dag"
    elif suffix == ".json":
        back = nx.node_link_graph(json.loads(path.read_text()), edges="edges")
        assert set(back.edges) == set(graph.edges) and back.is_directed()
        assert back.nodes[0]["genome"] == json.loads(graph.nodes[0]["genome"])
        u, v = next(iter(graph.edges))
        assert back.edges[u, v]["operator"] == graph.edges[u, v]["operator"]
    else:
        text = path.read_text()
        assert text.startswith("digraph lineage {")
        assert text.count(" -> ") == graph.number_of_edges()
    with pytest.raises(ConfigError, match="unknown export format"):
        lineage.export(gen._journal, tmp_path / "tree.txt")


def test_queries_on_a_run_in_progress(tmp_path: Path) -> None:
    """Individuals born but not evaluated yet count as pending, and nothing breaks."""
    a = DAGGenome.from_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|"
                             "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    b = DAGGenome.from_nb201("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|"
                             "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    folder = tmp_path / "live"
    folder.mkdir()
    writer = Journal.create(folder / JOURNAL_FILE, {"strategy": {"name": "x"}})
    writer.add_individual(0, a.to_dict(), a.canonical_hash(), (), {"op": "random"}, None)
    writer.add_evaluation(EvaluationRow(0, "ok", 90.0, {"fitness": 90.0}, None, None, 0.1, None))
    writer.add_individual(1, b.to_dict(), b.canonical_hash(), (0,),
                          {"op": "mutate_op", "edge": [0, 2], "from": "nor_conv_3x3",
                           "to": "avg_pool_3x3"}, None)
    writer.commit()
    writer.add_individual(2, b.to_dict(), b.canonical_hash(), (1,), {"op": "mutate_op"}, None)
    # individual 2 is written but not committed: readers must not see it
    with Run(folder) as run:
        assert run.ancestors(1) == [0] and run.descendants(0) == [1]
        stats = run.operator_stats()
        assert stats.row("mutate_op").pending == 1 and stats.row("mutate_op").compared == 0
        assert [n.status for n in lineage.nodes(run._journal)] == ["ok", "pending"]
        with pytest.raises(KeyError):
            run.ancestors(2)
        with lineage.read_snapshot(run._journal):
            assert len(lineage.nodes(run._journal)) == 2
            writer.commit()
            assert len(lineage.nodes(run._journal)) == 2  # still the moment the read began
        assert len(lineage.nodes(run._journal)) == 3
    writer.close()


def test_streaming_writers_match_networkx(tmp_path: Path) -> None:
    graph = nx.DiGraph()
    graph.add_node(0)
    graph.add_node(1, op="random", fitness=1.5, generation=2, flag=True, note='a "<b>" & c')
    graph.add_node(2, op="mutate_op", genome='{"kind":"dag"}')
    graph.add_edge(0, 1)
    graph.add_edge(1, 2, operator={"op": "mutate_op", "edge": [1, 2]}, rank=0, delta=-0.25)
    mine = tmp_path / "mine.graphml"
    with mine.open("w") as out:
        lineage.write_graphml(graph, out)
    theirs = tmp_path / "theirs.graphml"
    scalar = graph.copy()
    scalar.edges[1, 2]["operator"] = json.dumps(graph.edges[1, 2]["operator"],
                                                separators=(",", ":"))
    nx.write_graphml(scalar, theirs)
    a, b = nx.read_graphml(mine, node_type=int), nx.read_graphml(theirs, node_type=int)
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))
    text = io.StringIO()
    lineage.write_node_link(graph, text)
    back = nx.node_link_graph(json.loads(text.getvalue()), edges="edges")
    assert back.nodes[2]["genome"] == {"kind": "dag"} and back.nodes[0] == {}
    assert back.edges[1, 2] == graph.edges[1, 2] and back.edges[0, 1] == {}
