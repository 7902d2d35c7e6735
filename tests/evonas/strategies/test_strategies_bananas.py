"""BANANAS: the path encoding, the ensemble's gradients, proposals without repeats, exact JSON
state, options and a campaign on the NB201 table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evonas.api import run as run_campaign
from evonas.config import ConfigError, load_config
from evonas.strategies import Evaluated, build_strategy
from evonas.strategies.bananas import (
    BANANAS,
    Ensemble,
    active_features,
    featurizer,
    path_encoding,
    path_features,
    path_index,
    paths,
)
from genomes import DAGGenome, FreeSpace, NB201Space
from tests.campaigns import (
    async_pool_campaign_resumes,
)
from tests.conftest import tabular_config

OPS = NB201Space().ops  # none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
BEST = DAGGenome.from_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                            "nor_conv_3x3~1|nor_conv_1x1~2|")
SMALL: dict[str, Any] = {"initial": 5, "members": 3, "hidden": 16, "epochs": 30, "parents": 4,
                         "mutations": 4, "random_candidates": 3}


def toy(genome: DAGGenome) -> float:
    return sum(e.op == "nor_conv_3x3" for e in genome.edges) + \
        int(genome.canonical_hash()[:6], 16) / 1e8


def test_nb201_cell_has_four_paths_and_155_path_features() -> None:
    assert paths(4) == [(0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3)]
    # Op sequences of 1, 2 and 3 edges over 5 ops.
    assert path_features(4, 5) == 5 + 25 + 125 == 155
    encode, kind = featurizer(NB201Space())
    assert kind == "path" and encode(BEST).shape == (155,)
    indices = {path_index(seq, 5) for seq in np.ndindex(5, 5)}
    assert indices == set(range(5, 30))


def test_a_known_cell_encodes_its_four_paths() -> None:
    conv3, conv1, skip = OPS.index("nor_conv_3x3"), OPS.index("nor_conv_1x1"), \
        OPS.index("skip_connect")
    vector = path_encoding(BEST, OPS)
    expected = {
        skip,                                      # 0->3: skip
        5 + conv3 + 5 * conv3,                     # 0->1->3: conv3, conv3
        5 + conv3 + 5 * conv1,                     # 0->2->3: conv3, conv1x1
        30 + conv3 + 5 * conv3 + 25 * conv1,       # 0->1->2->3: conv3, conv3, conv1x1
    }
    assert set(np.flatnonzero(vector)) == expected == {1, 23, 18, 98}
    # Two cells with the same paths share the encoding; a changed edge changes it.
    assert path_encoding(BEST, OPS).tolist() == path_encoding(
        DAGGenome.from_nb201(BEST.to_nb201()), OPS).tolist()
    other = DAGGenome.from_nb201(BEST.to_nb201().replace("skip_connect~0", "none~0"))
    assert np.flatnonzero(path_encoding(other, OPS)).tolist() == [0, 18, 23, 98]


def test_free_space_falls_back_to_the_adjacency_encoding() -> None:
    space = FreeSpace(max_nodes=5, max_edges=6)
    encode, kind = featurizer(space)
    assert kind == "adjacency"
    decisions = space.encoding().decisions
    vector = encode(space.sample(np.random.default_rng(0)))
    assert vector.shape == (sum(len(d.options) for d in decisions),)
    assert vector.sum() == len(decisions)  # one option per decision
    assert featurizer(NB201Space(), "adjacency")[1] == "adjacency"


def test_ensemble_matches_a_dense_network_and_its_autograd_gradients() -> None:
    net = Ensemble(3, 7, 5, 2, torch.Generator().manual_seed(0))
    x = (np.random.default_rng(0).random((11, 7)) < 0.4).astype(np.float32)
    x[0] = 0  # a row without any active input
    t = torch.randn(1, 11, generator=torch.Generator().manual_seed(1))
    active = active_features(x)
    net.backward(active, t)
    params = [p.clone().requires_grad_() for p in net.params]
    first = torch.relu(torch.from_numpy(x) @ params[0][:7] + params[1])
    h = first.view(11, 3, 5).transpose(0, 1)
    for i in range(2, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i < len(params) - 2:
            h = torch.relu(h)
    torch.testing.assert_close(net(active), h.squeeze(-1).detach())
    (h.squeeze(-1) - t).abs().mean(dim=1).sum().backward()
    for p, g in zip(params, net.grads, strict=True):
        assert p.grad is not None
        torch.testing.assert_close(p.grad, g)


def test_active_features_lists_the_ones_of_each_row() -> None:
    x = np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    assert active_features(x).tolist() == [[1, 3], [4, 4], [0, 4]]
    with pytest.raises(ValueError, match="0 or 1"):
        active_features(np.array([[0.5]], dtype=np.float32))


def drive(strategy: BANANAS, steps: int, ahead: int = 1, start: int = 0,
          queue: list | None = None) -> list[tuple]:
    """Keep ``ahead`` candidates in flight, tell the oldest; return what was asked."""
    queue = [] if queue is None else queue
    asked, next_id = [], start
    for _ in range(steps):
        for c in strategy.ask(ahead - len(queue)):
            record = {k: v for k, v in c.operator.items() if k != "search_seconds"}
            asked.append((next_id, c.genome.to_json(), c.parents, json.dumps(record)))
            queue.append((next_id, c.genome))
            next_id += 1
        i, genome = queue.pop(0)
        strategy.tell([Evaluated(i, genome, None if i % 9 == 4 else toy(genome))])
    return asked


def test_no_repeats_within_a_batch_or_against_history() -> None:
    strategy = BANANAS(NB201Space(), np.random.default_rng(0), **SMALL)
    asked = drive(strategy, 40, ahead=3)
    batch = strategy.ask(8)
    assert len(batch) == 8
    hashes = [DAGGenome.from_json(g).canonical_hash() for _, g, _, _ in asked] + \
        [c.genome.canonical_hash() for c in batch]
    assert len(hashes) == len(set(hashes))
    for c in batch:
        assert c.operator["op"] == "bananas" and c.operator["acquisition"] == "its"
        assert c.operator["search_seconds"] >= 0
        assert c.operator["source"] in ("mutation", "random")
        assert (c.operator["source"] == "mutation") == bool(c.parents)


def test_initial_design_is_random_then_the_predictor_proposes() -> None:
    strategy = BANANAS(NB201Space(), np.random.default_rng(1), **SMALL)
    asked = drive(strategy, 20)
    ops = [json.loads(record)["op"] for _, _, _, record in asked]
    assert ops[:5] == ["random"] * 5 and set(ops[5:]) == {"bananas"}


def test_asks_before_any_result_stay_random() -> None:
    strategy = BANANAS(NB201Space(), np.random.default_rng(2), **SMALL)
    strategy.asynchronous = True
    first = strategy.ask(8)  # 5 initial + 3 more, nothing told yet
    assert [c.operator["op"] for c in first] == ["random"] * 8
    assert len({c.genome.canonical_hash() for c in first}) == 8


@pytest.mark.parametrize("acquisition", ["its", "ucb"])
def test_state_round_trips_through_json_and_resumes_exactly(acquisition: str) -> None:
    options = {**SMALL, "acquisition": acquisition}
    original = BANANAS(NB201Space(), np.random.default_rng(3), **options)
    queue: list = []
    drive(original, 17, ahead=2, queue=queue)
    original.ask(1)  # fitted, and asked again before a tell: the fit is part of the state
    text = json.dumps(original.state_dict(), allow_nan=False)
    restored = BANANAS(NB201Space(), np.random.default_rng(77), **options)
    restored.load_state_dict(json.loads(text))
    assert json.dumps(restored.state_dict(), allow_nan=False) == text
    assert [c.genome.to_json() for c in original.ask(3)] == \
        [c.genome.to_json() for c in restored.ask(3)]
    assert drive(original, 10, ahead=2, start=100) == drive(restored, 10, ahead=2, start=100)


def test_finds_good_cells_of_a_toy_fitness() -> None:
    strategy = BANANAS(NB201Space(), np.random.default_rng(4), **SMALL)
    asked = drive(strategy, 60)
    best = max(toy(DAGGenome.from_json(g)) for _, g, _, _ in asked)
    assert best >= 5  # random search rarely gets five 3x3 edges in 60 of 15,625 cells


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.acquisition"):
        load_config(tabular_config(tmp_path, strategy={"name": "bananas", "acquisition": "ei"}))
    with pytest.raises(ConfigError, match=r"strategy\.lr"):
        load_config(tabular_config(tmp_path, strategy={"name": "bananas", "lr": 0}))
    with pytest.raises(ConfigError, match=r"strategy\.name"):
        load_config(tabular_config(tmp_path, strategy={"name": "bananas"},
                                   space={"name": "neat"}, task={"name": "xor"}))
    config = load_config(tabular_config(tmp_path, strategy={"name": "bananas",
                                                            "acquisition": "ucb"}))
    built = build_strategy(config.data["strategy"], NB201Space(), np.random.default_rng(0))
    assert isinstance(built, BANANAS) and built.acquisition == "ucb" and built.initial == 10


def test_campaign_on_the_nb201_table(tmp_path: Path) -> None:
    run = run_campaign(tabular_config(tmp_path, strategy={"name": "bananas", **SMALL},
                                    budget__evaluations=30))
    try:
        status = run.status()
        assert status["evaluations"] == 30 and status["state"] == "completed"
        individuals = run.individuals()
        assert [i.operator["op"] for i in individuals[:5]] == ["random"] * 5
        assert all(i.operator["op"] == "bananas" for i in individuals[5:])
        assert status["device_seconds"] > 0  # the predictor's time counts
    finally:
        run.close()


def test_training_set_keeps_the_best_half_and_a_spread_of_the_rest() -> None:
    space = NB201Space()
    strategy = BANANAS(space, np.random.default_rng(6), **{**SMALL, "max_train": 10})
    rng = np.random.default_rng(7)
    for i in range(30):
        strategy.tell([Evaluated(i, space.sample(rng), None if i == 3 else float(i))])
    x, y = strategy._training_set(30)
    assert x.shape == (10, 155) and len(y) == 10
    assert sorted(y)[-5:] == [25.0, 26.0, 27.0, 28.0, 29.0]  # the best five
    assert 0.0 in y  # the failure, trained as the lowest fitness told (0.0), and the worst kept


def test_async_campaign_on_a_local_pool_resumes_after_a_stop(tmp_path: Path) -> None:
    async_pool_campaign_resumes(tmp_path, {"name": "bananas", **SMALL})
