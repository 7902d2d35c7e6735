"""ENAS: the controller learns from shared-weight rewards, the ranking, state and campaigns."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

import evonas
from evonas.api import start_campaign
from evonas.config import ConfigError, load_config, validate
from evonas.evaluation.threads import torch_threads
from evonas.storage import JOURNAL_FILE, Journal
from evonas.strategies import strategy_class
from evonas.strategies.enas import ENAS
from evonas.strategies.reinforce import Controller
from genomes import FreeSpace, NB201Space
from tests.campaigns import Kill
from tests.conftest import tabular_config

SPACE = NB201Space(stem_channels=4, cells_per_stage=1)
TASK = {"name": "digits", "epochs": 1, "batch_size": 128}
CONV3 = SPACE.ops.index("nor_conv_3x3")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: the in-process evaluations of the campaigns run several times faster
    on a loaded machine than with a thread per core (results are the same)."""
    with torch_threads(1):
        yield


def bound_enas(seed: int = 0, **options: object) -> ENAS:
    settings: dict = {"epochs": 2, "batch_size": 128, "controller_steps": 2,
                      "controller_batch": 4, "hidden_size": 16, "samples": 12, "top_k": 3,
                      "bn_images": 128, **options}
    strategy = ENAS(SPACE, np.random.default_rng(seed), **settings)
    strategy.bind_task(TASK)
    return strategy


def enas_config(tmp_path: Path, **changes: object) -> dict:
    """A tiny ENAS campaign on digits (4-channel supernet, one cell per stage)."""
    base = {"space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
            "task": dict(TASK),
            "strategy": {"name": "enas", "epochs": 2, "batch_size": 128,
                         "controller_steps": 2, "controller_batch": 4, "hidden_size": 16,
                         "samples": 12, "top_k": 3, "bn_images": 128},
            "budget__evaluations": 10}
    return tabular_config(tmp_path, **{**base, **changes})


def conv3_share(strategy: ENAS, draws: int = 100) -> float:
    """Mean number of ``nor_conv_3x3`` edges in cells drawn from the controller's policy."""
    return float(np.mean([strategy.sample_child().count(CONV3) for _ in range(draws)]))


# --------------------------------------------------------------------------- controller
def test_the_controller_is_reinforce_and_learns_from_the_rewards() -> None:
    """With a reward that counts 3x3 convolutions, the controller's updates move its policy
    towards them: the REINFORCE machinery (baseline, normalised advantages) is wired to the
    shared-weight reward."""
    strategy = bound_enas(controller_steps=15, controller_batch=8, controller_lr=0.03)
    assert isinstance(strategy.policy.controller, Controller)
    before = conv3_share(strategy)  # uniform policy: 6 edges x 1/5
    assert before == pytest.approx(1.2, abs=0.3)

    def reward(path: Sequence[int], x: torch.Tensor, y: torch.Tensor) -> int:
        return round(len(y) * list(path).count(CONV3) / 6)

    strategy._batch_correct = reward  # type: ignore[method-assign]  # noqa: SLF001
    mean_reward = strategy._train_controller()  # noqa: SLF001
    assert strategy.policy.updates == 15
    assert mean_reward is not None and 0 <= mean_reward <= 1
    assert conv3_share(strategy) > before + 2.5


def test_children_of_the_policy_train_the_shared_weights() -> None:
    strategy = bound_enas(epochs=3)
    drawn: list[tuple[int, ...]] = []
    sample = strategy.sample_child

    def recording() -> tuple[int, ...]:
        drawn.append(sample())
        return drawn[-1]

    strategy.sample_child = recording  # type: ignore[method-assign]
    candidates = strategy.ask(1)
    assert len(drawn) == 3 * strategy.steps_per_epoch  # one child per weight step
    record = candidates[0].operator
    assert record["op"] == "enas" and record["epoch"] == 3
    assert record["policy_updates"] == 3 * 2
    assert all(0 <= h["mean_reward"] <= 1 for h in record["history"])
    assert record["history"][-1]["train_loss"] < record["history"][0]["train_loss"]
    assert record["search_seconds"] >= record["supernet_seconds"] > 0


def test_proposals_are_the_best_distinct_samples_in_order() -> None:
    strategy = bound_enas()
    proposed = strategy.ask(10)
    assert [c.operator["rank"] for c in proposed] == list(range(len(proposed)))
    assert 1 <= len(proposed) <= 3 and strategy.done and strategy.ask(1) == []
    scores = [c.operator["supernet_accuracy"] for c in proposed]
    assert scores == sorted(scores, reverse=True)
    assert len({c.genome.canonical_hash() for c in proposed}) == len(proposed)
    assert proposed[0].operator["distinct"] >= len(proposed)
    assert all("search_seconds" not in c.operator for c in proposed[1:])


def test_state_round_trips_through_json() -> None:
    original = bound_enas(seed=3)
    before = json.loads(json.dumps(original.state_dict()))
    original.ask(1)
    state = json.loads(json.dumps(original.state_dict()))
    restored = bound_enas(seed=99)  # a different seed: everything must come from the state
    restored.load_state_dict(state)
    assert [(c.genome, c.operator) for c in original.ask(5)] == \
        [(c.genome, c.operator) for c in restored.ask(5)]
    again = bound_enas(seed=3)  # before the search: the same seed repeats the same search
    again.load_state_dict(before)
    assert [c.genome for c in again.ask(3)] == [c.genome for c in bound_enas(seed=3).ask(3)]


# --------------------------------------------------------------------------- config and task
def test_config_errors_name_the_field(tmp_path: Path) -> None:
    def check(match: str, **changes: object) -> None:
        with pytest.raises(ConfigError, match=match):
            validate(enas_config(tmp_path, **changes), "x.yaml")

    check(r"x.yaml: strategy.name: enas trains a weight-sharing supernet over the nb201 cell "
          r"space \(space.name: nb201\), not 'free'", space=FreeSpace().to_dict())
    check(r"strategy.baseline_decay: must be less than 1",
          strategy={"name": "enas", "baseline_decay": 1.0})
    check(r"strategy.controller_lr: must be more than 0",
          strategy={"name": "enas", "controller_lr": 0})
    check(r"strategy.lr_min: must not exceed strategy.lr",
          strategy={"name": "enas", "lr": 0.01, "lr_min": 0.1})
    assert strategy_class("enas") is ENAS


def test_a_task_without_data_is_rejected_before_any_run_folder(tmp_path: Path) -> None:
    config = tabular_config(tmp_path, strategy={"name": "enas"})
    with pytest.raises(ConfigError, match="enas trains a supernet on the task's train and "
                                          "validation splits; task 'tabular' has none"):
        evonas.run(config)
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- campaigns
def _proposals(run_dir: Path) -> list[tuple]:
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        evals = {e.individual_id: e for e in journal.evaluations()}
        return [(i.hash, i.operator["rank"], i.operator["supernet_accuracy"],
                 evals[i.id].status, evals[i.id].fitness) for i in journal.individuals()]


def test_a_killed_campaign_resumes_to_the_same_proposals(tmp_path: Path) -> None:
    """Killed after the first tell (a snapshot after every tell) and resumed, the campaign
    proposes and scores what an uninterrupted one does; the search counts as device time."""
    changes = {"campaign__checkpoint_every": 1}
    full = evonas.run(enas_config(tmp_path, name="full", **changes))
    individuals = full.individuals()
    search = individuals[0].operator["search_seconds"]
    with Journal.open(full.path / JOURNAL_FILE, readonly=True) as journal:
        evaluation = sum(ev.seconds or 0.0 for ev in journal.evaluations() if ev.status == "ok")
    status = full.status()
    assert status["device_seconds"] == pytest.approx(search + evaluation, abs=2e-3)
    assert status["search"]["seconds"] == pytest.approx(search, abs=2e-3)
    config = load_config(enas_config(tmp_path, name="cut", **changes))

    def stop(counters: dict) -> None:
        if counters["told"] == 1:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, stop)
    cut = Path(config.runs_dir) / "cut"
    assert len(_proposals(cut)) < len(_proposals(full.path))
    evonas.resume(cut)
    assert _proposals(cut) == _proposals(full.path)
