"""Training plans: a continued state trains on exactly as one run would, weights are saved with
their network, and a child inherits what it shares with its parent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evonas.evaluation.base import EvalJob
from evonas.evaluation.execute import run_job
from evonas.tasks.plan import TrainingPlan
from evonas.tasks.registry import build_task_and_space
from evonas.weights import load_state

TASK = {"name": "digits", "epochs": 4, "data_fraction": 0.5}
SPACE = {"name": "nb201", "stem_channels": 8, "cells_per_stage": 1}


@pytest.fixture(scope="module")
def task_and_space():
    return build_task_and_space(TASK, SPACE)


def _genome(space, seed: int):
    return space.sample(np.random.default_rng(seed))


def test_continuing_a_saved_rung_equals_training_straight_through(task_and_space,
                                                                   tmp_path: Path) -> None:
    task, space = task_and_space
    genome = _genome(space, 0)
    straight = task.evaluate(genome, 7)
    low = task.evaluate(genome, 7, plan=TrainingPlan(epochs=1, schedule_epochs=4,
                                                     save_to=str(tmp_path / "r0.safetensors")))
    assert low["epochs"] == 1
    high = task.evaluate(genome, 7, plan=TrainingPlan(
        epochs=4, resume_from=str(tmp_path / "r0.safetensors")))
    assert high.pop("resumed_from_epoch") == 1
    for key in ("val_accuracy", "val_loss", "test_accuracy", "train_loss", "train_accuracy",
                "epochs", "params"):
        assert high[key] == straight[key], key
    assert low["val_loss"] != straight["val_loss"]  # the low rung really trained less


def test_a_saved_state_records_its_network_and_epoch(task_and_space, tmp_path: Path) -> None:
    task, space = task_and_space
    path = tmp_path / "w.safetensors"
    task.evaluate(_genome(space, 1), 3, plan=TrainingPlan(epochs=2, save_to=str(path)))
    state = load_state(path)
    assert state["epoch"] == 2
    assert state["network"] == {"input_shape": [1, 8, 8], "num_classes": 10}
    assert state["optimizer"]["state"]  # what a continuation needs


def test_a_child_inherits_its_parents_matching_tensors(task_and_space, tmp_path: Path) -> None:
    task, space = task_and_space
    parent = _genome(space, 2)
    path = tmp_path / "parent.safetensors"
    task.evaluate(parent, 3, plan=TrainingPlan(save_to=str(path)))
    same = task.evaluate(parent, 3, plan=TrainingPlan(inherit_from=str(path), epochs=1))
    assert same["fresh_tensors"] == 0 and same["inherited_tensors"] > 0
    other = task.evaluate(_genome(space, 5), 3, plan=TrainingPlan(inherit_from=str(path),
                                                                  epochs=1))
    assert other["inherited_tensors"] > 0  # the stem and the classifier at least
    assert other["fresh_tensors"] + other["sliced_tensors"] > 0  # another cell: not all of it


def test_a_resume_from_another_network_fails_the_job_with_a_reason(task_and_space,
                                                                   tmp_path: Path) -> None:
    task, space = task_and_space
    path = tmp_path / "a.safetensors"
    task.evaluate(_genome(space, 0), 3, plan=TrainingPlan(epochs=1, save_to=str(path)))
    other = _genome(space, 5)
    job = EvalJob(0, other.to_dict(), 3, plan={"resume_from": str(path), "epochs": 2})
    result = run_job(task, space, job, "w")
    assert result.status == "failed" and "does not fit" in result.error


def test_a_missing_weights_file_fails_the_job_naming_it(task_and_space, tmp_path: Path) -> None:
    task, space = task_and_space
    job = EvalJob(0, _genome(space, 0).to_dict(), 3,
                  plan={"inherit_from": str(tmp_path / "gone.safetensors")})
    result = run_job(task, space, job, "w")
    assert result.status == "failed" and "gone.safetensors" in result.error


def test_a_task_that_trains_nothing_fails_a_planned_job() -> None:
    task, space = build_task_and_space({"name": "tabular"}, {"name": "nb201"})
    job = EvalJob(0, _genome(space, 0).to_dict(), 3, plan={"epochs": 2})
    result = run_job(task, space, job, "w")
    assert result.status == "failed" and "trains no weights" in result.error
