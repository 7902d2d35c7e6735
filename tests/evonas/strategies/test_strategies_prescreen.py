"""The proxy pre-screen and warm start (``prescreen:``, ``warm_start:``): the wrapper's choices,
``discard`` in the strategies that need it, config checks, and exact resume of a screened
campaign."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import evonas
from evonas.cli import main
from evonas.config import ConfigError, load_config
from evonas.strategies import Candidate, Evaluated, Strategy, build_strategy
from evonas.strategies.prescreen import Prescreened, ProxyScorer, wrap_strategy
from genomes import DAGGenome, Genome, NB201Space, space_from_dict
from tests.campaigns import Kill, journal_rows, with_changes

SMALL_SPACE = {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1}


class ConvCount(ProxyScorer):
    """A scorer without torch: the number of convolution edges, plus a tie-break from the
    hash (a pure function of the genome, as a proxy's score is)."""

    def __init__(self) -> None:
        super().__init__("params", 0)
        self._data = object()  # bound
        self.calls: list[str] = []

    def _compute(self, genome: Genome) -> float:
        assert isinstance(genome, DAGGenome)
        self.calls.append(genome.canonical_hash())
        convs = sum(e.op.startswith("nor_conv") for e in genome.edges)
        return convs + int(genome.canonical_hash()[:4], 16) / 65536 / 10


def convs(genome: Genome) -> int:
    assert isinstance(genome, DAGGenome)
    return sum(e.op.startswith("nor_conv") for e in genome.edges)


def tell_all(strategy: Strategy, candidates: list[Candidate], first_id: int,
             fitness: float = 0.5) -> int:
    for i, c in enumerate(candidates):
        strategy.tell([Evaluated(first_id + i, c.genome, fitness, {"params": 1.0})])
    return first_id + len(candidates)


def wrapped(name: str, keep: float = 0.25, **options: Any) -> tuple[Prescreened, ConvCount]:
    scorer = ConvCount()
    inner = build_strategy({"name": name, **options}, NB201Space(), np.random.default_rng(0))
    return Prescreened(inner, np.random.default_rng(1), prescreen=scorer, keep=keep), scorer


# ----------------------------------------------------------------- the pre-screen
def test_prescreen_asks_for_n_over_keep_and_keeps_the_best_in_proposal_order() -> None:
    strategy, scorer = wrapped("random")
    reference = build_strategy({"name": "random"}, NB201Space(), np.random.default_rng(0))
    proposed = reference.ask(12)  # what the inner strategy proposes: the same generator
    kept = strategy.ask(3)
    assert len(kept) == 3 and len(scorer.calls) == 12
    scores = sorted((scorer.score(c.genome) for c in proposed), reverse=True)
    assert [c.operator["prescreen"]["score"] for c in kept] == \
        [round(scorer.score(c.genome), 6) for c in kept]
    assert sorted(c.operator["prescreen"]["score"] for c in kept) == \
        sorted(round(s, 6) for s in scores[:3])
    order = [next(i for i, p in enumerate(proposed) if p.genome == c.genome) for c in kept]
    assert order == sorted(order)  # handed out in the order they were proposed
    assert sorted(c.operator["prescreen"]["rank"] for c in kept) == [1, 2, 3]
    assert {c.operator["prescreen"]["of"] for c in kept} == {12}
    assert all(c.operator["search_seconds"] >= 0 for c in kept)
    assert strategy.summary()["screened"] == 12 and strategy.discarded == 9


def test_prescreen_time_counts_as_search_seconds() -> None:
    strategy, scorer = wrapped("random", keep=0.5)
    kept = strategy.ask(4)
    total = sum(c.operator["search_seconds"] for c in kept)
    assert total == pytest.approx(scorer.seconds, abs=1e-5)
    assert evonas.strategies.search_seconds(kept[0].operator) > 0


def test_regularized_evolution_keeps_a_whole_random_population() -> None:
    """Discarded proposals give their places back: ``asked`` counts the kept, so the random
    phase lasts P individuals (less what mutations win where a pool straddles its end: the
    strategy's next proposals are screened, whatever they are)."""
    strategy, _ = wrapped("regularized_evolution", population=6, sample=2)
    inner = strategy.inner
    next_id, ops = 0, []
    for _ in range(10):
        kept = strategy.ask(1)
        ops.append(kept[0].operator["op"])
        next_id = tell_all(strategy, kept, next_id)
    assert inner.asked == 10  # type: ignore[attr-defined]
    assert ops[:3] == ["random"] * 3  # pools of four randoms (asked + 4 <= P)
    assert 3 <= ops.count("random") <= 6 and "random" not in ops[6:]


@pytest.mark.parametrize("name, options", [
    ("generational", {"population": 6, "offspring": 6}),
    ("nsga2", {"population": 8}),
])
def test_generational_strategies_stay_whole_under_a_prescreen(name: str,
                                                              options: dict) -> None:
    """Screened-out members are bred again, so each generation closes with all its members
    (told in birth order, one at a time) and the strategy never stalls."""
    strategy, scorer = wrapped(name, **options)
    inner: Any = strategy.inner
    size = options["population"]
    next_id = 0
    for generation in range(3):
        assert inner.generation == generation
        for _ in range(size):
            kept = strategy.ask(1)
            assert len(kept) == 1, "the strategy stalled"
            assert kept[0].generation == generation
            next_id = tell_all(strategy, kept, next_id)
    assert inner.generation == 3 and inner._waiting == 0
    assert strategy.screened > 3 * size * 3  # most asks screened four


def test_generational_prescreen_closes_generations_told_asynchronously() -> None:
    strategy, _ = wrapped("generational", population=4, offspring=4)
    strategy.asynchronous = True
    assert strategy.inner.asynchronous
    inner: Any = strategy.inner
    next_id, out = 0, []
    for _ in range(5):
        out += strategy.ask(2)
        next_id = tell_all(strategy, out[:2], next_id)
        out = out[2:]
    assert inner.generation >= 2


def test_reinforce_forgets_discarded_samples() -> None:
    pytest.importorskip("torch")
    strategy, _ = wrapped("reinforce", keep=0.25, batch_size=2)
    inner: Any = strategy.inner
    next_id = 0
    for _ in range(4):
        kept = strategy.ask(2)
        assert len(inner._pending) == 2
        next_id = tell_all(strategy, kept, next_id)
    assert inner._pending == [] and inner.updates == 4


def test_prescreen_state_round_trips_and_resumes_the_same_proposals() -> None:
    import json

    strategy, _ = wrapped("regularized_evolution", population=4, sample=2)
    next_id = tell_all(strategy, strategy.ask(3), 0)
    state = json.loads(json.dumps(strategy.state_dict()))
    expected = [c.genome.canonical_hash() for c in strategy.ask(3)]
    again, _ = wrapped("regularized_evolution", population=4, sample=2)
    again.load_state_dict(state)
    assert [c.genome.canonical_hash() for c in again.ask(3)] == expected
    assert next_id == 3


# ----------------------------------------------------------------- the warm start
def test_warm_start_draws_the_best_of_sample_for_random_proposals_only() -> None:
    scorer = ConvCount()
    inner = build_strategy({"name": "regularized_evolution", "population": 5, "sample": 2},
                           NB201Space(), np.random.default_rng(0))
    strategy = Prescreened(inner, np.random.default_rng(1), warm_start=scorer, sample=4)
    next_id, records = 0, []
    for _ in range(12):
        kept = strategy.ask(1)
        records.append(kept[0].operator)
        next_id = tell_all(strategy, kept, next_id)
    assert [r["op"] for r in records[:5]] == ["random"] * 5
    assert all(r["warm_start"]["of"] == 4 for r in records[:5])
    assert all("warm_start" not in r and "prescreen" not in r for r in records[5:])
    assert len(scorer.calls) == 5 * 4 and strategy.warm_started == 5


def test_warm_start_keeps_the_highest_score_of_its_draws() -> None:
    scorer = ConvCount()
    inner = build_strategy({"name": "random"}, NB201Space(), np.random.default_rng(0))
    strategy = Prescreened(inner, np.random.default_rng(1), warm_start=scorer, sample=8)
    kept = strategy.ask(20)
    plain = build_strategy({"name": "random"}, NB201Space(), np.random.default_rng(0)).ask(20)
    # each is the best of 8 random cells, so on average it has more convolutions
    assert np.mean([convs(c.genome) for c in kept]) > np.mean([convs(c.genome) for c in plain])
    for c in kept:
        assert c.operator["warm_start"]["score"] == round(scorer.score(c.genome), 6)


# ----------------------------------------------------------------- config
def tabular(tmp_path: Path, **changes: object) -> dict:
    from tests.conftest import tabular_config

    config = tabular_config(tmp_path, space=dict(SMALL_SPACE),
                            strategy={"name": "regularized_evolution", "population": 4,
                                      "sample": 2},
                            budget__evaluations=12, campaign__checkpoint_every=3)
    return with_changes(config, changes)


@pytest.mark.parametrize("changes, message", [
    ({"prescreen__proxy": "nasw"}, "prescreen.proxy: must be one of"),
    ({"prescreen__proxy": "naswot", "prescreen__keep": 0}, "prescreen.keep: must be more than 0"),
    ({"prescreen__proxy": "naswot", "prescreen__keep": 1.5}, "prescreen.keep: must be at most 1"),
    ({"prescreen__keep": 0.5}, "prescreen.proxy: missing; prescreen.keep does nothing"),
    ({"warm_start__proxy": "synflow", "warm_start__sample": 1},
     "warm_start.sample: must be at least 2"),
    ({"prescreen__proxy": "naswot", "prescreen__bach_size": 8},
     "prescreen.bach_size: unknown key; did you mean 'batch_size'?"),
    ({"warm_start__proxy": "naswot", "warm_start__task": {"epochs": 2}},
     "warm_start.task: must be a task mapping with a name"),
])
def test_bad_values_are_one_line_naming_the_field(tmp_path: Path, changes: dict,
                                                  message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("?", r"\?")):
        load_config(tabular(tmp_path, **changes))


@pytest.mark.parametrize("strategy, section, message", [
    ({"name": "local_search"}, "prescreen",
     "prescreen.proxy: the local_search strategy cannot be pre-screened"),
    ({"name": "bananas"}, "prescreen", "prescreen.proxy: the bananas strategy cannot be"),
    ({"name": "reinforce"}, "warm_start",
     "warm_start.proxy: the reinforce strategy cannot be warm-started"),
])
def test_strategies_that_cannot_be_screened_are_refused(tmp_path: Path, strategy: dict,
                                                        section: str, message: str) -> None:
    config = load_config(tabular(tmp_path, strategy=strategy, **{f"{section}__proxy": "naswot"}))
    with pytest.raises(ConfigError, match=message):
        evonas.api.check_strategy_builds(config)


def test_the_cli_refuses_a_bad_section_with_exit_code_2(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    import yaml

    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(tabular(tmp_path, prescreen__proxy="naswot",
                                           prescreen__keep=2)))
    assert main(["run", str(path), "--quiet"]) == 2
    assert "prescreen.keep: must be at most 1" in capsys.readouterr().err


def test_a_proxy_needs_a_dataset_task_to_take_images_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prescreen\.proxy: needs a dataset task .* "
                                          r"prescreen\.task"):
        evonas.run(tabular(tmp_path, prescreen__proxy="naswot"))


def test_no_section_no_wrapper(tmp_path: Path) -> None:
    config = load_config(tabular(tmp_path))
    assert config.section("prescreen")["proxy"] is None
    strategy = build_strategy(config.section("strategy"), config.space(),
                              np.random.default_rng(0))
    assert wrap_strategy(strategy, config) is strategy


# ----------------------------------------------------------------- campaigns
def screened(tmp_path: Path, name: str, **changes: object) -> dict:
    return tabular(tmp_path, name=name, prescreen__proxy="naswot", prescreen__keep=0.5,
                   prescreen__batch_size=16, prescreen__task={"name": "digits"},
                   warm_start__proxy="naswot", warm_start__sample=2,
                   warm_start__batch_size=16, warm_start__task={"name": "digits"}, **changes)


def outcome(run_dir: Path) -> list[tuple]:
    """The journal without the measured seconds of the operator records."""
    def strip(record: dict) -> dict:
        return {k: v for k, v in record.items() if k != "search_seconds"}
    return [(*row[:4], strip(row[4]), *row[5:]) for row in journal_rows(run_dir)]


def test_a_screened_campaign_counts_its_search_seconds(tmp_path: Path) -> None:
    run = evonas.run(screened(tmp_path, "full"))
    individuals = run.individuals()
    assert len(individuals) >= 12
    assert all(ind.operator["prescreen"]["of"] == 2 for ind in individuals)
    assert [ind.operator["op"] for ind in individuals[:3]] == ["random"] * 3
    for ind in individuals:  # each random proposal warm-started, nothing else
        assert ("warm_start" in ind.operator) == (ind.operator["op"] == "random")
        if ind.operator["op"] == "random":
            assert ind.operator["warm_start"]["of"] == 2
    spent = sum(ind.operator["search_seconds"] for ind in individuals)
    assert spent > 0
    assert run.status()["device_seconds"] >= spent - 1e-3  # with the table look-ups' seconds


def test_killed_and_resumed_screened_campaign_proposes_the_same_genomes(tmp_path: Path) -> None:
    from evonas.api import start_campaign

    full = evonas.run(screened(tmp_path, "full"))
    config = load_config(screened(tmp_path, "cut"))

    def stop(counters: dict) -> None:
        if counters["told"] == 5:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, stop)
    cut = Path(config.runs_dir) / "cut"
    assert len(journal_rows(cut)) < len(journal_rows(full.path))
    evonas.resume(cut)
    assert outcome(cut) == outcome(full.path)


def test_proxies_as_objectives_of_nsga2_on_the_proxy_task(tmp_path: Path) -> None:
    """NSGA-II trades a proxy off against FLOPs when the task reports proxies (``proxy``)."""
    config = tabular(tmp_path, task={"name": "proxy", "inner": {"name": "digits"},
                                     "proxies": ["naswot"], "fitness": "naswot",
                                     "batch_size": 16},
                     strategy={"name": "nsga2", "population": 4,
                               "objectives": [{"metric": "naswot", "goal": "max"},
                                              {"metric": "flops", "goal": "min"}]},
                     budget__evaluations=8)
    run = evonas.run(config)
    assert run.status()["evaluations"] == 8
    assert all(math.isfinite(ind.metrics["naswot"]) for ind in run.individuals())


def test_real_proxy_scores_are_pure_functions_of_the_genome() -> None:
    pytest.importorskip("torch")
    space = space_from_dict(SMALL_SPACE)
    scorer = ProxyScorer("naswot", 7, batch_size=16)
    scorer.bind({"name": "digits"}, space)
    genome = space.sample(np.random.default_rng(3))
    first = scorer.score(genome)
    again = ProxyScorer("naswot", 7, batch_size=16)
    again.bind({"name": "digits"}, space)
    assert again.score(genome) == first and math.isfinite(first)
    assert scorer.scored == 1 and scorer.score(genome) == first and scorer.scored == 1
