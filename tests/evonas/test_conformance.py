"""Conformance: every registered strategy and every registered task against its contract.

The tests are parametrized over the registries themselves (:data:`evonas.strategies.STRATEGIES`
and :func:`evonas.tasks.task_names`), so a newly registered strategy or task is tested by
registering it. What one needs to run quickly (a space it supports, small options, a task) comes
from :data:`STRATEGY_CASES` / :data:`TASK_CASES` below; a registered name missing there is still
tested with defaults, and :func:`test_every_registered_strategy_has_a_case` /
:func:`test_every_registered_task_has_a_case` fail, saying what to add.

Strategies (``evonas.strategies.base``): ask/tell with deterministic fake results, told in birth
order and out of order (``strategy.asynchronous = True``, as ``campaign.order: async`` sets it);
``state_dict()`` through strict JSON into a fresh strategy (another seed: everything must come
from the state) mid-flight, after which both ask the same for the same tells; a campaign stopped
dead and resumed ends with the journal of one never interrupted, in both campaign orders.

Tasks (``evonas.tasks.base``): an unknown option and a wrongly typed option are rejected naming
``task.<option>`` (by the task factory and by the config layer); the same genome and seed give
the same metrics (timing metrics aside), from the same task object and from a fresh one; the
metrics are finite JSON numbers including ``fitness``.
"""

from __future__ import annotations

import atexit
import json
import math
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tests.campaigns as campaigns
from evonas.config import ConfigError, validate
from evonas.strategies import STRATEGIES, Evaluated, Strategy, build_strategy
from evonas.tasks import TASK_DEFAULTS, EvaluationFailure, TaskError, build_task, task_names
from evonas.tasks.datasets.samples import write_samples
from genomes import space_from_dict
from tests.campaigns import interrupted_equals_uninterrupted
from tests.conftest import tabular_config

TABULAR = {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"}
TABULAR_COST = {"name": "tabular", "table": "nb201_cifar10_cost", "metric": "cifar10_test_acc"}
#: The smallest NB201 network (4 stem channels, one cell per stage), for tasks that train.
TINY_NB201 = {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1}
TINY_DIGITS = {"name": "digits", "epochs": 1, "batch_size": 128}
#: Small files of every dataset format (the digits; 1 epoch on 300 images), written once.
_SAMPLES_DIR = tempfile.mkdtemp(prefix="evonas-conformance-")
atexit.register(shutil.rmtree, _SAMPLES_DIR, ignore_errors=True)
DATASET_SAMPLES = write_samples(_SAMPLES_DIR)
#: ... training on 30% of the digits (a supernet epoch then takes a fraction of a second).
SMALL_DIGITS = {**TINY_DIGITS, "train_fraction": 0.3, "val_fraction": 0.2, "test_fraction": 0.5}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread, like a pool worker: on a busy machine several threads of tiny networks
    spin against each other (an evaluation of 0.05 s then takes seconds)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------- the tables
@dataclass(frozen=True)
class StrategyCase:
    """How to run one strategy quickly.

    Attributes:
        options: the ``strategy:`` options besides ``name``.
        space: a ``space:`` mapping the strategy supports.
        task: a ``task:`` mapping it can work with (``bind_task`` and the campaigns).
        tells: tells before the state round trip, and after it.
        budget: ``budget.evaluations`` of the kill-and-resume campaigns.
        kill_at: tells before the abrupt stop (between snapshots, mid-generation if any).
        campaign: more config changes for the kill-and-resume campaigns (``section__key``).
    """

    options: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=lambda: {"name": "nb201"})
    task: dict[str, Any] = field(default_factory=lambda: dict(TABULAR))
    tells: tuple[int, int] = (23, 30)
    budget: int = 30
    kill_at: int = 17
    campaign: dict[str, Any] = field(default_factory=dict)


#: Per registered strategy name: what it needs. A new strategy needs an entry (even an empty
#: ``StrategyCase()`` when the NB201 table and default options suit it).
STRATEGY_CASES: dict[str, StrategyCase] = {
    "generational": StrategyCase({"population": 6, "offspring": 6}),
    "regularized_evolution": StrategyCase({"population": 8, "sample": 3}),
    "random": StrategyCase(),
    "nsga2": StrategyCase({"population": 8}, task=TABULAR_COST),  # objectives: fitness, params
    "reinforce": StrategyCase({"hidden_size": 16, "batch_size": 4}),
    # Pole, not XOR: XOR scores in batches, and a batched evaluator's capacity (1024) lets an
    # asynchronous campaign ask its whole budget before the first tell (nothing left to kill).
    "neat": StrategyCase({"population": 12}, space={"name": "neat", "num_inputs": 6},
                         task={"name": "pole", "max_steps": 200}, tells=(29, 30), budget=40),
    # DARTS trains a supernet epoch per ask (about 0.4 s at this size, on 30% of the digits); it is
    # done after ``epochs``; a snapshot at every tell makes the resume restore, not replay.
    "darts": StrategyCase({"epochs": 2, "batch_size": 128}, space=TINY_NB201,
                          task=SMALL_DIGITS, tells=(1, 1), budget=10, kill_at=1,
                          campaign={"campaign__checkpoint_every": 1}),
    # A tiny predictor (2 MLPs, 20 steps per fit): the protocol, not the model, is under test.
    "bananas": StrategyCase({"initial": 4, "members": 2, "hidden": 8, "epochs": 20,
                             "parents": 3, "mutations": 3, "random_candidates": 2}),
    "local_search": StrategyCase({"initial": 3}),
    # SPOS and ENAS search in their first ask (a 2-epoch supernet), then propose their top_k
    # cells (more than the driver's 4 in flight, so some are asked after the round trip).
    "spos": StrategyCase({"epochs": 2, "batch_size": 128, "evaluations": 16, "population": 4,
                          "sample": 2, "top_k": 8, "bn_images": 128}, space=TINY_NB201,
                         task=SMALL_DIGITS, tells=(1, 1), budget=3, kill_at=1,
                         campaign={"campaign__checkpoint_every": 1}),
    "enas": StrategyCase({"epochs": 2, "batch_size": 128, "controller_steps": 2,
                          "controller_batch": 4, "hidden_size": 16, "samples": 16, "top_k": 8,
                          "bn_images": 128}, space=TINY_NB201, task=SMALL_DIGITS, tells=(1, 1),
                         budget=3, kill_at=1, campaign={"campaign__checkpoint_every": 1}),
}


@dataclass(frozen=True)
class TaskCase:
    """How to build and evaluate one task quickly.

    Attributes:
        config: a small ``task:`` mapping.
        space: a ``space:`` mapping the task works on.
        genomes: the strategy (a name in ``STRATEGY_CASES``) whose first asks are the genomes
            evaluated.
        evaluates: False for a task whose results come from elsewhere (``external``: the
            ask-and-tell study's user); its ``evaluate`` must then raise EvaluationFailure.
    """

    config: dict[str, Any]
    space: dict[str, Any] = field(default_factory=lambda: {"name": "nb201"})
    genomes: str = "random"
    evaluates: bool = True


#: Per registered task name: what it needs. A new task needs an entry.
TASK_CASES: dict[str, TaskCase] = {
    **{name: TaskCase(config, space=TINY_NB201) for name, config in DATASET_SAMPLES.items()},
    "tabular": TaskCase(dict(TABULAR)),
    "external": TaskCase({"name": "external", "input_shape": [3, 8, 8], "num_classes": 10},
                         evaluates=False),
    "proxy": TaskCase({"name": "proxy", "inner": dict(TINY_DIGITS), "batch_size": 16},
                      space=TINY_NB201),
    "digits": TaskCase(dict(TINY_DIGITS), space=TINY_NB201),
    "faulty": TaskCase({"name": "faulty", "inner": dict(TABULAR)}),
    "simulated": TaskCase({"name": "simulated", "inner": dict(TABULAR),
                           "duration": {"distribution": "fixed", "mean": 0.001}}),
    "xor": TaskCase({"name": "xor"}, space={"name": "neat"}, genomes="neat"),
    "pole": TaskCase({"name": "pole", "max_steps": 200}, space={"name": "neat", "num_inputs": 6},
                     genomes="neat"),
    "digits_hyperneat": TaskCase({"name": "digits_hyperneat", "hidden": [3, 3]},
                                 space={"name": "neat", "num_inputs": 4, "num_outputs": 4},
                                 genomes="neat"),
}

STRATEGY_NAMES = sorted(STRATEGIES)
TASK_NAMES = task_names()


def strategy_case(name: str) -> StrategyCase:
    """The table's case, or the defaults for a strategy missing from it (which
    :func:`test_every_registered_strategy_has_a_case` reports)."""
    return STRATEGY_CASES.get(name, StrategyCase())


def task_case(name: str) -> TaskCase:
    return TASK_CASES.get(name, TaskCase({"name": name}))


def test_every_registered_strategy_has_a_case() -> None:
    missing = sorted(set(STRATEGIES) - set(STRATEGY_CASES))
    assert not missing, (
        f"strategies {missing} are registered in evonas.strategies.STRATEGIES but have no entry "
        f"in STRATEGY_CASES of {__file__}: add one saying which space, task and small options "
        f"they run with (StrategyCase() for the NB201 table with default options)")
    stale = sorted(set(STRATEGY_CASES) - set(STRATEGIES))
    assert not stale, f"STRATEGY_CASES names strategies that are not registered: {stale}"


def test_every_registered_task_has_a_case() -> None:
    missing = sorted(set(task_names()) - set(TASK_CASES))
    assert not missing, (
        f"tasks {missing} are registered (evonas.tasks.register_task) but have no entry in "
        f"TASK_CASES of {__file__}: add a TaskCase with a small config and a space it works on")
    stale = sorted(set(TASK_CASES) - set(task_names()))
    assert not stale, f"TASK_CASES names tasks that are not registered: {stale}"
    unknown = {n: c.genomes for n, c in TASK_CASES.items() if c.genomes not in STRATEGY_CASES}
    assert not unknown, f"TASK_CASES draw genomes from strategies without a case: {unknown}"


# --------------------------------------------------------------------------- strategies
def fake_result(genome: Any, individual_id: int) -> tuple[float | None, dict[str, Any]]:
    """A deterministic result: a fitness and a size from the genome's JSON; every 7th fails."""
    if individual_id % 7 == 3:
        return None, {}
    key = zlib.crc32(json.dumps(genome.to_dict(), sort_keys=True).encode())
    fitness = (key % 100_003) / 100_003
    return fitness, {"fitness": fitness, "params": key % 9973}


def make_strategy(name: str, seed: int, asynchronous: bool) -> Strategy:
    """A strategy as the campaign builds it: options, space, ``asynchronous`` and ``bind_task``
    before anything else."""
    case = strategy_case(name)
    strategy = build_strategy({"name": name, **case.options}, space_from_dict(dict(case.space)),
                              np.random.default_rng(seed))
    strategy.asynchronous = asynchronous
    strategy.bind_task(dict(case.task))
    return strategy


def untimed(operator: dict[str, Any]) -> dict[str, Any]:
    """An operator record without its wall-clock parts (DARTS' ``search_seconds``, SPOS' and
    ENAS' ``supernet_seconds`` and ``scoring_seconds``: every ``*_seconds`` key)."""
    return {k: v for k, v in operator.items() if not k.endswith("_seconds")}


@dataclass
class Driver:
    """Plays the campaign: keeps ``ahead`` candidates in flight, tells one result at a time,
    in birth order or (``shuffled``) in a deterministic out-of-order pattern."""

    space: Any
    ahead: int
    shuffled: bool
    next_id: int = 0
    told: int = 0
    in_flight: list[tuple[int, Any]] = field(default_factory=list)
    known: set[int] = field(default_factory=set)

    def copy(self) -> Driver:
        return Driver(self.space, self.ahead, self.shuffled, self.next_id, self.told,
                      list(self.in_flight), set(self.known))

    def run(self, strategy: Strategy, tells: int) -> list[tuple]:
        """Tell ``tells`` results (fewer if the strategy is done); return what was asked."""
        asked: list[tuple] = []
        goal = self.told + tells
        while self.told < goal:
            want = self.ahead - len(self.in_flight)
            if want > 0 and not strategy.done:
                candidates = strategy.ask(want)
                assert len(candidates) <= want, f"ask({want}) returned {len(candidates)}"
                for c in candidates:
                    self.check_candidate(c)
                    asked.append((self.next_id, json.dumps(c.genome.to_dict(), sort_keys=True),
                                  tuple(c.parents), json.dumps(untimed(c.operator),
                                                               sort_keys=True), c.generation))
                    self.in_flight.append((self.next_id, c.genome))
                    self.known.add(self.next_id)
                    self.next_id += 1
            if not self.in_flight:
                assert strategy.done, (
                    f"{strategy.name}: ask({want}) proposed nothing with nothing in flight, but "
                    "the strategy is not done: a campaign would stall")
                break
            index = (self.told * 5 + 3) % len(self.in_flight) if self.shuffled else 0
            individual_id, genome = self.in_flight.pop(index)
            fitness, metrics = fake_result(genome, individual_id)
            strategy.tell([Evaluated(individual_id, genome, fitness, metrics)])
            self.told += 1
        return asked

    def check_candidate(self, candidate: Any) -> None:
        self.space.validate(candidate.genome)
        assert all(isinstance(p, int) and p in self.known for p in candidate.parents), \
            f"parents {candidate.parents} are not ids handed out so far"
        json.dumps(candidate.operator, allow_nan=False)  # the journal stores it as strict JSON
        assert candidate.generation is None or isinstance(candidate.generation, int)


ORDERS = {"birth": (False, False), "out_of_order": (True, True)}  # asynchronous, shuffled


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategy_asks_and_tells(name: str, order: str) -> None:
    """Ask/tell cycles run without stalling; the same seed and results give the same asks."""
    asynchronous, shuffled = ORDERS[order]
    case = strategy_case(name)
    space = space_from_dict(dict(case.space))
    steps = sum(case.tells)
    runs = []
    for _ in range(2):
        strategy = make_strategy(name, 11, asynchronous)
        runs.append(Driver(space, 4, shuffled).run(strategy, steps))
        json.dumps(strategy.summary(), allow_nan=False)
    assert runs[0], f"{name} asked for nothing"
    assert runs[0] == runs[1], f"{name} is not a deterministic function of its seed and results"


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategy_state_round_trips_through_json(name: str, order: str) -> None:
    """Mid-flight state through strict JSON into a fresh strategy (another seed): both then ask
    the same for the same tells."""
    asynchronous, shuffled = ORDERS[order]
    case = strategy_case(name)
    before, after = case.tells
    original = make_strategy(name, 11, asynchronous)
    driver = Driver(space_from_dict(dict(case.space)), 4, shuffled)
    driver.run(original, before)
    text = json.dumps(original.state_dict(), allow_nan=False)
    restored = make_strategy(name, 12345, asynchronous)
    restored.load_state_dict(json.loads(text))
    assert json.dumps(restored.state_dict(), allow_nan=False) == text, \
        f"{name}: state_dict() after load_state_dict() differs from the state loaded"
    twin = driver.copy()
    expected = driver.run(original, after)
    assert expected, f"{name} asked for nothing after the round trip"
    assert twin.run(restored, after) == expected


_JOURNAL_ROWS = campaigns.journal_rows


def _untimed_journal_rows(run_dir: Path) -> list[tuple]:
    """:func:`tests.campaigns.journal_rows` without wall-clock values (``search_seconds`` in an
    operator record, ``*_seconds`` metrics), for strategies and tasks that time themselves."""
    rows = []
    for row in _JOURNAL_ROWS(run_dir):
        row = list(row)
        row[4] = untimed(row[4]) if isinstance(row[4], dict) else row[4]
        if isinstance(row[8], dict):
            row[8] = {k: v for k, v in row[8].items() if not k.endswith("_seconds")}
        rows.append(tuple(row))
    return rows


@pytest.mark.parametrize("order", ["birth", "async"])
@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_strategy_campaign_resumes_after_a_kill(name: str, order: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign stopped dead after ``kill_at`` tells and resumed ends with the journal of one
    never interrupted (``tests.campaigns.interrupted_equals_uninterrupted``)."""
    case = strategy_case(name)
    # Timing values (DARTS' search_seconds, digits' train_seconds) differ between any two runs.
    monkeypatch.setattr(campaigns, "journal_rows", _untimed_journal_rows)
    n = interrupted_equals_uninterrupted(
        tmp_path, case.kill_at, space=dict(case.space), task=dict(case.task),
        strategy={"name": name, **case.options}, budget__evaluations=case.budget,
        campaign__order=order, **case.campaign)
    assert n > case.kill_at


# --------------------------------------------------------------------------- tasks
def wrong_type(default: Any) -> Any:
    """A value of another type than ``default`` (what a typo in a config gives)."""
    if isinstance(default, bool):
        return "yes"
    if isinstance(default, int | float):
        return "3"
    if isinstance(default, str):
        return 3
    return "x"  # a mapping or a list


TYPED_OPTIONS = [(name, key) for name in TASK_NAMES
                 for key, default in TASK_DEFAULTS.get(name, {}).items()
                 if default is not None and key != "name"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_rejects_an_unknown_option_naming_it(name: str) -> None:
    case = task_case(name)
    config = {**case.config, "no_such_option": 1}
    with pytest.raises(TaskError, match=r"task\.no_such_option\b"):
        build_task(config, dict(case.space))
    with pytest.raises(ConfigError, match=r"task\.no_such_option\b"):
        validate(campaign_config(case, config), "x.yaml")


@pytest.mark.parametrize(("name", "option"), TYPED_OPTIONS)
def test_task_rejects_a_wrongly_typed_option_naming_it(name: str, option: str) -> None:
    case = task_case(name)
    config = {**case.config, option: wrong_type(TASK_DEFAULTS[name][option])}
    with pytest.raises(TaskError, match=rf"task\.{option}\b"):
        build_task(config, dict(case.space))
    with pytest.raises(ConfigError, match=rf"task\.{option}\b"):
        validate(campaign_config(case, config), "x.yaml")


def campaign_config(case: TaskCase, task: dict[str, Any]) -> dict[str, Any]:
    """A whole campaign config around ``task`` (its space, the strategy its genomes come from)."""
    strategy = {"name": case.genomes, **strategy_case(case.genomes).options}
    return tabular_config(Path("unused"), space=dict(case.space), task=task, strategy=strategy)


def untimed_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_is_deterministic_and_reports_json_numbers(name: str) -> None:
    """The same genome and seed give the same metrics, from the same task and a fresh one."""
    case = task_case(name)
    space = space_from_dict(dict(case.space))
    source = strategy_case(case.genomes)
    genomes = [c.genome for c in build_strategy({"name": case.genomes, **source.options}, space,
                                                np.random.default_rng(3)).ask(2)]
    assert genomes, f"the {case.genomes} strategy proposed no genome"
    task, fresh = build_task(dict(case.config), space), build_task(dict(case.config), space)
    assert task.name == name
    if not case.evaluates:
        with pytest.raises(EvaluationFailure):
            task.evaluate(genomes[0], 5)
        return
    seeds = list(range(5, 5 + len(genomes)))
    first = [task.evaluate(g, seed) for g, seed in zip(genomes, seeds, strict=True)]
    for metrics in first:
        assert "fitness" in metrics, f"{name}: no fitness in {metrics}"
        for key, value in metrics.items():
            assert isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value), f"{name}: metric {key}={value!r} is not a finite number"
        json.dumps(metrics, allow_nan=False)
    # A fresh task, in the other order: nothing may carry over from one evaluation to the next.
    again = [fresh.evaluate(g, seed) for g, seed in reversed(list(zip(genomes, seeds,
                                                                       strict=True)))][::-1]
    assert [untimed_metrics(m) for m in again] == [untimed_metrics(m) for m in first]
    assert untimed_metrics(task.evaluate(genomes[0], seeds[0])) == untimed_metrics(first[0])
