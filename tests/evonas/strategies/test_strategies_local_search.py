"""Local search: neighbourhoods, best- and first-improvement moves, shuffled hand-out, restarts,
asynchronous hand-out, exact JSON state, options and a campaign on the NB201 table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from evonas.api import run as run_campaign
from evonas.config import ConfigError, load_config
from evonas.strategies import Evaluated, build_strategy
from evonas.strategies.local_search import LocalSearch, neighbours
from genomes import DAGGenome, FreeSpace, NB201Space, NEATSpace
from tests.campaigns import (
    async_pool_campaign_resumes,
)
from tests.conftest import tabular_config

BEST = DAGGenome.from_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                            "nor_conv_3x3~1|nor_conv_1x1~2|")


def toy(genome: Any) -> float:
    """A smooth fitness: how many edges carry a 3x3 convolution, plus a tie-breaking hash."""
    return sum(e.op == "nor_conv_3x3" for e in genome.edges) + \
        int(genome.canonical_hash()[:6], 16) / 1e9


def single_steps(a: Any, b: Any) -> int:
    return sum(x.op != y.op for x, y in zip(a.edges, b.edges, strict=True))


def test_nb201_neighbourhood_is_every_single_op_change() -> None:
    space = NB201Space()
    hood = neighbours(BEST, space)
    assert len(hood) == 24
    assert len({g for g, _ in hood}) == 24
    assert all(single_steps(BEST, g) == 1 for g, _ in hood)
    genome, record = hood[0]
    assert record == {"op": "local_search", "edge": [0, 1], "from": "nor_conv_3x3",
                      "to": "none"}
    assert {(r["edge"][0], r["edge"][1]) for _, r in hood} == \
        {(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)}


def test_free_space_neighbourhood_changes_edge_ops() -> None:
    space = FreeSpace(max_nodes=5, max_edges=6)
    genome = space.sample(np.random.default_rng(4))
    hood = neighbours(genome, space)
    assert len(hood) == len(genome.edges) * (len(space.ops) - 1)
    for genome_, _ in hood:
        child = cast(DAGGenome, genome_)
        space.validate(child)
        assert child.num_nodes == genome.num_nodes and child.widths == genome.widths


def test_a_space_neighbourhood_method_is_used() -> None:
    class Ring(NB201Space):
        def neighbours(self, genome: DAGGenome) -> list[DAGGenome]:
            return [BEST]

    assert neighbours(BEST, Ring()) == [(BEST, {"op": "neighbour"})]


def test_neat_space_is_refused() -> None:
    with pytest.raises(TypeError, match="neighbourhood"):
        neighbours(BEST, NEATSpace())


def drive(strategy: LocalSearch, steps: int, fitness: Any = toy) -> list[tuple[int, Any, dict]]:
    """Ask one, tell it, ``steps`` times; return ``(id, genome, operator)`` of every ask."""
    asked = []
    for i in range(steps):
        (candidate,) = strategy.ask(1)
        asked.append((i, candidate.genome, candidate.operator))
        strategy.tell([Evaluated(i, candidate.genome, fitness(candidate.genome))])
    return asked


def test_visits_exactly_the_neighbourhood_then_moves_to_the_best() -> None:
    space = NB201Space()
    strategy = LocalSearch(space, np.random.default_rng(0), initial=3, improvement="best")
    asked = drive(strategy, 3)
    start = max(asked, key=lambda a: toy(a[1]))
    assert strategy.current is not None and strategy.current[0] == start[1]
    expected = {g.canonical_hash() for g, _ in neighbours(start[1], space)} - \
        {a[1].canonical_hash() for a in asked}
    hood = drive_until_move(strategy, expected)
    assert {g.canonical_hash() for _, g, _ in hood} == expected
    assert all(op["op"] == "local_search" and op["step"] == 0 for _, _, op in hood)
    best = max(hood, key=lambda a: toy(a[1]))
    assert strategy.moves == 1
    assert strategy.current is not None and strategy.current[0] == best[1]
    assert strategy.current[1] == best[0] + 3


def test_first_improvement_moves_at_the_first_better_neighbour() -> None:
    space = NB201Space()
    strategy = LocalSearch(space, np.random.default_rng(8), initial=1)
    assert strategy.improvement == "first" and strategy.shuffle
    (first,) = strategy.ask(1)
    strategy.tell([Evaluated(0, first.genome, 1.0)])
    start = strategy.current
    hood = strategy.ask(3)  # in flight together: a worse, a better and another better one
    strategy.tell([Evaluated(1, hood[0].genome, 0.5)])
    assert strategy.current == start and strategy.moves == 0
    strategy.tell([Evaluated(2, hood[1].genome, 2.0)])
    assert strategy.moves == 1 and strategy.current is not None
    assert strategy.current[0] == hood[1].genome and strategy.current[1] == 2
    expected = {g.canonical_hash() for g, _ in neighbours(hood[1].genome, space)} - \
        {c.genome.canonical_hash() for c in (first, *hood)}
    nxt = strategy.ask(100)  # the new genome's neighbours, none asked before
    assert {c.genome.canonical_hash() for c in nxt} == expected
    assert all(c.parents == (2,) for c in nxt)
    strategy.tell([Evaluated(3, hood[2].genome, 1.5)])  # the old neighbourhood's straggler
    assert strategy.current[1] == 2 and strategy.moves == 1
    assert strategy.results[hood[2].genome.canonical_hash()] == (3, 1.5)  # kept for reuse


def test_neighbourhoods_are_shuffled_unless_asked_not_to() -> None:
    space = NB201Space()

    def hood_order(shuffle: bool, seed: int) -> list[str]:
        strategy = LocalSearch(space, np.random.default_rng(seed), initial=1, shuffle=shuffle)
        strategy._move_to((BEST, 0, 1.0))
        return [key for key, _, _ in strategy.hood]

    fixed = [g.canonical_hash() for g, _ in neighbours(BEST, space)]
    assert hood_order(False, 0) == hood_order(False, 1) == fixed
    shuffled = [hood_order(True, seed) for seed in range(3)]
    assert all(sorted(order) == sorted(fixed) for order in shuffled)
    assert len({tuple(order) for order in [fixed, *shuffled]}) == 4


def drive_until_move(strategy: LocalSearch, expected: set[str]) -> list[tuple]:
    """Tell the neighbours of the current genome, one at a time (ids after the first 3)."""
    out = []
    for k in range(len(expected)):
        (candidate,) = strategy.ask(1)
        assert strategy.current is not None
        assert candidate.parents == (strategy.current[1],)
        out.append((k, candidate.genome, candidate.operator))
        strategy.tell([Evaluated(3 + k, candidate.genome, toy(candidate.genome))])
    return out


def test_climbs_to_the_optimum_and_restarts_there() -> None:
    space = NB201Space()
    strategy = LocalSearch(space, np.random.default_rng(1), initial=1)
    asked = drive(strategy, 200)
    ops = [op for _, _, op in asked]
    assert strategy.restarts >= 1
    restarts = [op for op in ops if op.get("restart")]
    assert restarts, "a local optimum leads to a random restart"
    # The first optimum: a genome with 3x3 convolutions on every edge.
    assert max(toy(g) for _, g, _ in asked) >= 6
    # No genome is asked twice.
    hashes = [g.canonical_hash() for _, g, _ in asked]
    assert len(hashes) == len(set(hashes))


def test_restart_at_a_local_optimum_without_spares() -> None:
    space = NB201Space()
    strategy = LocalSearch(space, np.random.default_rng(2), initial=1)
    (first,) = strategy.ask(1)
    strategy.tell([Evaluated(0, first.genome, 1.0)])
    hood = strategy.ask(100)
    assert len(hood) == len({g.canonical_hash() for g, _ in neighbours(first.genome, space)}
                            - {first.genome.canonical_hash()})
    assert strategy.ask(1) == []  # birth order: nothing more until the neighbourhood is told
    for i, c in enumerate(hood):  # every neighbour is worse: a local optimum
        strategy.tell([Evaluated(1 + i, c.genome, 0.5)])
    assert strategy.restarts == 1 and strategy.current is None
    (restart,) = strategy.ask(1)
    assert restart.operator == {"op": "random", "restart": 1}
    strategy.tell([Evaluated(100, restart.genome, 0.2)])
    assert strategy.current is not None and strategy.current[1] == 100


def test_asynchronous_hands_out_fillers_while_the_neighbourhood_is_in_flight() -> None:
    space = NB201Space()
    strategy = LocalSearch(space, np.random.default_rng(3), initial=2)
    strategy.asynchronous = True
    init = strategy.ask(3)
    assert [c.operator for c in init] == [{"op": "random"}, {"op": "random"},
                                          {"op": "random", "filler": True}]
    strategy.tell([Evaluated(2, init[2].genome, 9.0)])  # the filler, first
    strategy.tell([Evaluated(1, init[1].genome, 1.0)])
    assert strategy.current is None  # the initial design is not told yet
    strategy.tell([Evaluated(0, init[0].genome, 2.0)])
    assert strategy.current is not None and strategy.current[1] == 2  # the best evaluated
    hood = strategy.ask(30)
    assert sum(c.operator["op"] == "local_search" for c in hood) == 24 - sum(
        g.canonical_hash() in {c.genome.canonical_hash() for c in init}
        for g, _ in neighbours(init[2].genome, space))
    assert all(c.operator.get("filler") for c in hood if c.operator["op"] == "random")


def test_state_round_trips_through_json_and_resumes_exactly() -> None:
    space = NB201Space()
    original = LocalSearch(space, np.random.default_rng(5), initial=4)
    drive(original, 37)
    text = json.dumps(original.state_dict(), allow_nan=False)
    restored = LocalSearch(space, np.random.default_rng(99), initial=4)
    restored.load_state_dict(json.loads(text))
    assert json.dumps(restored.state_dict(), allow_nan=False) == text

    def rest(s: LocalSearch) -> list[tuple]:
        return [(i, g.to_json(), json.dumps(op, sort_keys=True))
                for i, g, op in drive(s, 40)]

    assert rest(original) == rest(restored)


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.initial"):
        load_config(tabular_config(tmp_path, strategy={"name": "local_search", "initial": 0}))
    with pytest.raises(ConfigError, match=r"strategy\.improvement"):
        load_config(tabular_config(tmp_path, strategy={"name": "local_search",
                                                       "improvement": "steepest"}))
    with pytest.raises(ConfigError, match=r"strategy\.name"):
        load_config(tabular_config(tmp_path, strategy={"name": "local_search"},
                                   space={"name": "neat"}, task={"name": "xor"}))
    built = build_strategy({"name": "local_search"}, NB201Space(), np.random.default_rng(0))
    assert isinstance(built, LocalSearch) and built.initial == 10
    assert built.improvement == "first" and built.shuffle


def test_campaign_on_the_nb201_table(tmp_path: Path) -> None:
    run = run_campaign(tabular_config(tmp_path, strategy={"name": "local_search"},
                                    budget__evaluations=30))
    try:
        status = run.status()
        assert status["evaluations"] == 30 and status["state"] == "completed"
        ops = [ind.operator["op"] for ind in run.individuals()]
        assert ops[:10] == ["random"] * 10 and "local_search" in ops
    finally:
        run.close()


def test_async_campaign_on_a_local_pool_resumes_after_a_stop(tmp_path: Path) -> None:
    async_pool_campaign_resumes(tmp_path, {"name": "local_search", "initial": 5})
