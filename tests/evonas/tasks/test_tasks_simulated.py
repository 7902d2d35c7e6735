"""The simulated-duration task: seeded draws, their means, options, and the metrics it returns."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import yaml

from evonas.tasks import TASK_DEFAULTS, SimulatedTask, TaskError, build_task
from evonas.tasks.plan import TrainingPlan
from evonas.tasks.simulated import SIMULATED_DEFAULTS
from genomes import DAGGenome, NB201Space

NB201 = NB201Space()
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
SEEDS = range(20_000)


def simulated(**duration) -> SimulatedTask:
    task = build_task({"name": "simulated", "duration": duration}, NB201)
    assert isinstance(task, SimulatedTask)
    return task


def test_registered_with_its_defaults():
    assert TASK_DEFAULTS["simulated"] == SIMULATED_DEFAULTS
    task = build_task({"name": "simulated"}, NB201)
    assert (task.distribution, task.mean, task.sigma) == ("lognormal", 1.0, 1.0)
    assert task.fitness_metric == "cifar10_test_acc"


def test_durations_are_a_function_of_the_seed():
    task = simulated(distribution="lognormal", mean=1.0, sigma=1.0)
    first = [task.duration_for(seed) for seed in range(50)]
    again = simulated(mean=1.0, sigma=1.0)
    assert first == [again.duration_for(seed) for seed in range(50)]
    assert len(set(first)) == 50  # different seeds, different durations
    assert all(d > 0 for d in first)
    assert task.duration_for(2**64 + 3) == task.duration_for(3)  # seeds taken modulo 2**64


@pytest.mark.parametrize("mean, sigma", [(1.0, 1.0), (0.2, 1.0), (2.0, 0.5)])
def test_lognormal_mean_is_the_configured_mean(mean, sigma):
    task = simulated(mean=mean, sigma=sigma)
    draws = np.array([task.duration_for(s) for s in SEEDS])
    # The sample mean of a lognormal(sigma=1) has a standard error of about 1.3 * mean / sqrt(n).
    stderr = mean * math.sqrt(math.exp(sigma ** 2) - 1) / math.sqrt(len(draws))
    assert abs(draws.mean() - mean) < 4 * stderr
    median = mean * math.exp(-sigma ** 2 / 2)
    assert abs(np.median(draws) / median - 1) < 0.05
    assert abs(np.log(draws).std() - sigma) < 0.03


def test_fixed_and_uniform():
    fixed = simulated(distribution="fixed", mean=0.3)
    assert {fixed.duration_for(s) for s in range(20)} == {0.3}
    task = simulated(distribution="uniform", mean=2.0, spread=0.5)
    draws = np.array([task.duration_for(s) for s in SEEDS])
    assert draws.min() >= 1.0 and draws.max() <= 3.0
    assert abs(draws.mean() - 2.0) < 0.02
    default = simulated(distribution="uniform", mean=1.0)
    assert all(0 <= default.duration_for(s) <= 2.0 for s in range(200))


def test_evaluate_sleeps_the_duration_and_adds_it_to_the_inner_metrics():
    genome = DAGGenome.from_nb201(CELL)
    task = simulated(distribution="fixed", mean=0.05)
    inner = build_task({"name": "tabular"}, NB201).evaluate(genome, seed=4)
    start = time.perf_counter()
    metrics = task.evaluate(genome, seed=4)
    assert time.perf_counter() - start >= 0.05
    assert metrics == {**inner, "simulated_seconds": 0.05}


def test_a_rung_sleeps_its_share_and_the_next_continues_from_its_epoch(tmp_path) -> None:
    genome = DAGGenome.from_nb201(CELL)
    task = simulated(distribution="fixed", mean=0.9)
    state = str(tmp_path / "0.r0.safetensors")
    first = task.evaluate(genome, seed=4, plan=TrainingPlan(save_to=state, epochs=1,
                                                            schedule_epochs=9))
    assert first["simulated_seconds"] == 0.1 and first["epochs"] == 1
    assert "resumed_from_epoch" not in first
    second = task.evaluate(genome, seed=4, plan=TrainingPlan(resume_from=state, epochs=3,
                                                             schedule_epochs=9))
    assert second["simulated_seconds"] == 0.2 and second["resumed_from_epoch"] == 1
    assert task.evaluate(genome, seed=4, plan=TrainingPlan(data_fraction=0.5))[
        "simulated_seconds"] == 0.45
    with pytest.raises(TaskError, match="cannot continue from epoch 1"):
        task.evaluate(genome, seed=4, plan=TrainingPlan(resume_from=state, epochs=1,
                                                        schedule_epochs=9))


def test_a_simulated_campaign_climbs_a_ladder_and_keeps_no_weights(tmp_path, capsys) -> None:
    import evonas
    from evonas.cli import main
    from tests.conftest import tabular_config

    config = tabular_config(tmp_path, name="ladder", task={
        "name": "simulated", "duration": {"distribution": "fixed", "mean": 0.01}},
        fidelity={"scheduler": "asha", "max": 9}, budget__evaluations=12)
    run = evonas.run(config)
    run.close()
    ladders = [evonas.open_run(run.path).ladder(i) for i in range(12)]
    assert max(len(ladder) for ladder in ladders) >= 2  # some were promoted
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**config, "name": "kept", "campaign": {"keep_weights": 2}}))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c.yaml: campaign.keep_weights: the simulated task has no " \
        "weights to keep or inherit; of these options it takes only fidelity.scheduler" in err[0]


def test_inner_task_options_reach_the_inner_task():
    task = build_task({"name": "simulated", "inner": {"name": "tabular",
                                                      "table": "nb201_cifar10_cost"},
                       "duration": {"distribution": "fixed", "mean": 0.01}}, NB201)
    assert "params" in task.evaluate(DAGGenome.from_nb201(CELL), seed=0)


@pytest.mark.parametrize("config, message", [
    ({"duration": {"distribution": "gamma"}}, r"task\.duration\.distribution: unknown"),
    ({"duration": {"distribution": "lognormall"}}, r"did you mean 'lognormal'"),
    ({"duration": {"mean": 0}}, r"task\.duration\.mean: must be a finite number above 0"),
    ({"duration": {"mean": -1.0}}, r"task\.duration\.mean: must be a finite number above 0"),
    ({"duration": {"mean": float("nan")}}, r"task\.duration\.mean: must be a finite"),
    ({"duration": {"mean": float("inf")}}, r"task\.duration\.mean: must be a finite"),
    ({"duration": {"mean": "1"}}, r"task\.duration\.mean: must be a finite"),
    ({"duration": {"mean": True}}, r"task\.duration\.mean: must be a finite"),
    ({"duration": {"sigma": 0.0}}, r"task\.duration\.sigma: must be a finite number above 0"),
    ({"duration": {"distribution": "fixed", "sigma": 1.0}},
     r"task\.duration\.sigma: unknown key for the fixed distribution"),
    ({"duration": {"distribution": "uniform", "spread": 1.5}},
     r"task\.duration\.spread: must be at most 1"),
    ({"duration": {"meen": 1.0}}, r"task\.duration\.meen: .*did you mean 'mean'"),
    ({"duration": 1.0}, r"task\.duration: expected dict"),
    ({"sleep": 1.0}, r"task\.sleep: unknown key for the simulated task"),
    ({"inner": {"name": "nope"}}, r"task\.inner\.name: must name a registered task"),
    ({"inner": {"name": "evonas.tasks.tabular:make_tabular_task"}},
     r"task\.inner\.name: must name a registered task"),
    ({"inner": {"name": "tabular", "table": "missing.csv"}},
     r"task\.inner\.table: file not found"),
])
def test_bad_options_are_rejected_naming_the_field(config, message):
    with pytest.raises(TaskError, match=message):
        build_task({"name": "simulated", **config}, NB201)
