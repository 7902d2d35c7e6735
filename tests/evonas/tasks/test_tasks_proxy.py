"""The proxy task: options, metrics, the fixed batch, and a short campaign journaling proxies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evonas import api
from evonas.proxies import PROXY_NAMES
from evonas.tasks import TASK_DEFAULTS, TaskError, build_task
from evonas.tasks.proxy import PROXY_DEFAULTS, ProxyTask, distinct_rows
from genomes import DAGGenome, NB201Space

SPACE = NB201Space(stem_channels=4, cells_per_stage=1)
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def proxy_task(**options) -> ProxyTask:
    task = build_task({"name": "proxy", "inner": {"name": "digits"}, **options}, SPACE)
    assert isinstance(task, ProxyTask)
    return task


def test_registered_with_its_defaults():
    assert TASK_DEFAULTS["proxy"] == PROXY_DEFAULTS
    task = proxy_task()
    assert task.fitness_metric == "naswot"
    assert task.proxies == list(PROXY_NAMES)
    assert (task.input_shape, task.num_classes) == ((1, 8, 8), 10)
    assert task.batch_x.shape == (64, 1, 8, 8) and len(set(task.batch_y.tolist())) == 10


def test_metrics_are_every_proxy_params_and_flops():
    task = proxy_task(proxies=["naswot", "synflow"], fitness="synflow", batch_size=32)
    metrics = task.evaluate(DAGGenome.from_nb201(BEST), seed=1)
    assert set(metrics) == {"naswot", "synflow", "params", "flops", "proxy_seconds", "fitness"}
    assert metrics["fitness"] == metrics["synflow"] > 0
    assert all(math.isfinite(v) for v in metrics.values())
    assert isinstance(metrics["params"], int) and isinstance(metrics["flops"], int)
    again = task.evaluate(DAGGenome.from_nb201(BEST), seed=1)
    assert {k: v for k, v in again.items() if k != "proxy_seconds"} == \
        {k: v for k, v in metrics.items() if k != "proxy_seconds"}
    other_seed = task.evaluate(DAGGenome.from_nb201(BEST), seed=2)
    assert other_seed["synflow"] != metrics["synflow"]  # the seed draws the weights


def test_params_or_flops_can_be_the_fitness():
    task = proxy_task(proxies=["naswot"], fitness="flops", batch_size=16)
    metrics = task.evaluate(DAGGenome.from_nb201(BEST), seed=0)
    assert metrics["fitness"] == metrics["flops"]


def test_a_non_finite_fitness_proxy_fails_the_evaluation_and_others_pass_through():
    from evonas.tasks import EvaluationFailure

    task = proxy_task(proxies=["naswot", "jacov"], fitness="jacov", batch_size=16)
    with pytest.raises(EvaluationFailure, match="jacov is not finite"):
        task.evaluate(DAGGenome.from_nb201(EMPTY), seed=0)
    task = proxy_task(proxies=["synflow", "jacov"], fitness="synflow", batch_size=16)
    metrics = task.evaluate(DAGGenome.from_nb201(EMPTY), seed=0)
    assert "jacov" not in metrics  # NaN: left out, an objective on it sees a missing value
    assert all(math.isfinite(v) for v in metrics.values())


def test_the_batch_is_fixed_by_batch_seed_and_holds_distinct_images():
    a, b, c = proxy_task(batch_seed=0), proxy_task(batch_seed=0), proxy_task(batch_seed=1)
    assert np.array_equal(a.batch_x, b.batch_x)
    assert not np.array_equal(a.batch_x, c.batch_x)
    assert len(distinct_rows(a.batch_x)) == 64
    x = np.array([[1, 2], [3, 4], [1, 2], [0, 0]], dtype=np.float32)
    assert distinct_rows(x).tolist() == [0, 1, 3]


@pytest.mark.parametrize("options, field", [
    ({"proxies": ["naswot", "synflo"]}, "task.proxies: unknown proxy 'synflo'; did you mean"),
    ({"proxies": []}, "task.proxies: must be a non-empty list"),
    ({"proxies": "naswot"}, "task.proxies: expected list"),
    ({"proxies": ["naswot", "naswot"]}, "task.proxies: lists a proxy twice"),
    ({"proxies": ["params"]}, "task.proxies: unknown proxy 'params'"),
    ({"proxies": ["naswot"], "fitness": "snip"}, "task.fitness: must be one of the listed"),
    ({"batch_size": 1}, "task.batch_size: must be between 2"),
    ({"batch_size": 100_000}, "task.batch_size: must be between 2"),
    ({"batch": 3}, "task.batch: unknown key"),
    ({"inner": {"name": "tabular"}}, "task.inner.name: the proxy task needs a dataset task"),
    ({"inner": {"name": "nope"}}, "task.inner.name: must name a registered task"),
])
def test_bad_options_name_the_field(options, field):
    config = {"name": "proxy", "inner": {"name": "digits"}, **options}
    with pytest.raises(TaskError) as info:
        build_task(config, SPACE)
    assert str(info.value).startswith(field), str(info.value)


def test_a_short_campaign_journals_the_proxies(tmp_path):
    config = {
        "name": "proxy-run",
        "seed": 0,
        "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        "task": {"name": "proxy", "inner": {"name": "digits"},
                 "proxies": ["naswot", "synflow", "snip"], "fitness": "naswot",
                 "batch_size": 32},
        "strategy": {"name": "regularized_evolution", "population": 3, "sample": 2},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 5},
        "campaign": {"progress": False},
    }
    run = api.run(config)
    try:
        individuals = run.individuals()
        assert len(individuals) == 5
        done = [i for i in individuals if i.status in ("ok", "cached")]
        assert len(done) >= 3
        # a cell with no input-to-output path has one ReLU code for every image: it fails
        for ind in individuals:
            if ind.status == "failed":
                assert ind.error == "proxy naswot is not finite (-inf)"
        for ind in done:
            assert {"naswot", "synflow", "snip", "params", "flops"} <= set(ind.metrics)
            assert ind.fitness == ind.metrics["naswot"]
        best = run.best()
        assert best is not None and best.fitness == max(i.fitness for i in done)
    finally:
        run.close()


def test_nsga2_can_use_proxies_as_objectives(tmp_path):
    config = {
        "name": "proxy-nsga2",
        "seed": 0,
        "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        "task": {"name": "proxy", "inner": {"name": "digits"}, "proxies": ["naswot"],
                 "batch_size": 16},
        "strategy": {"name": "nsga2", "population": 4,
                     "objectives": [{"metric": "naswot", "goal": "max"},
                                    {"metric": "flops", "goal": "min"}]},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 6},
        "campaign": {"progress": False},
    }
    run = api.run(config)
    try:
        assert sum(i.status == "ok" for i in run.individuals()) >= 4
    finally:
        run.close()


def test_a_training_proxy_task_reports_the_inner_metrics_beside_the_proxies():
    task = proxy_task(proxies=["synflow"], train=True,
                      inner={"name": "digits", "epochs": 1, "data_fraction": 0.3})
    genome = DAGGenome.from_nb201(BEST)
    metrics = task.evaluate(genome, 3)
    inner = task.inner.evaluate(genome, 3)
    assert task.fitness_metric == "val_accuracy" and task.accepts_plan
    assert metrics["synflow"] > 0 and "flops" in metrics
    for key in ("fitness", "val_accuracy", "test_accuracy", "epochs"):
        assert metrics[key] == inner[key]  # the same network from the same seed, trained
    assert not proxy_task().accepts_plan


def test_nsga2_trades_trained_accuracy_against_a_proxy(tmp_path):
    config = {
        "name": "proxy-train", "seed": 0, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        "task": {"name": "proxy", "proxies": ["synflow"], "batch_size": 16, "train": True,
                 "inner": {"name": "digits", "epochs": 1, "data_fraction": 0.3}},
        "strategy": {"name": "nsga2", "population": 4,
                     "objectives": [{"metric": "fitness", "goal": "max"},
                                    {"metric": "synflow", "goal": "max"}]},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 6},
        "campaign": {"progress": False},
    }
    run = api.run(config)
    try:
        done = [i for i in run.individuals() if i.status == "ok"]
        assert len(done) >= 4
        assert all("synflow" in i.metrics and i.fitness == i.metrics["val_accuracy"]
                   for i in done)
    finally:
        run.close()
