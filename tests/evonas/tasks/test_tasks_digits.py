"""The digits task: fixed stratified split, deterministic training, sensible accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evonas.compiler import compile_genome, count_params
from evonas.tasks import TASK_DEFAULTS, DigitsTask, EvaluationFailure, TaskError, build_task
from evonas.tasks.classification import stratified_split
from evonas.tasks.digits import load_digits_arrays
from genomes import DAGGenome, Edge, FreeSpace

SPACE = FreeSpace()
#: A small, reasonable network: two 3x3 convolutions (16 -> 32 -> 32 channels).
TWO_CONVS = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_3x3")), (16, 32, 32))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, like a pool worker on a busy machine (and immune to oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def task() -> DigitsTask:
    return build_task({"name": "digits"}, SPACE)


@pytest.fixture(scope="module")
def metrics(task: DigitsTask) -> dict[str, float]:
    return task.evaluate(TWO_CONVS, seed=3)


def test_same_seed_gives_the_same_metrics(task, metrics):
    again = task.evaluate(TWO_CONVS, seed=3)
    timing = {"train_seconds"}
    assert {k: v for k, v in again.items() if k not in timing} == \
        {k: v for k, v in metrics.items() if k not in timing}


def test_default_recipe_reaches_a_sensible_accuracy(metrics):
    assert metrics["val_accuracy"] >= 0.95
    assert metrics["test_accuracy"] >= 0.95


def test_metrics_report_fitness_test_accuracy_params_and_time(task, metrics):
    assert set(metrics) == {"fitness", "val_accuracy", "val_loss", "test_accuracy", "params",
                            "train_seconds", "epochs", "train_loss", "train_accuracy"}
    assert metrics["fitness"] == metrics["val_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["val_loss"] > 0
    assert metrics["params"] == count_params(compile_genome(TWO_CONVS, SPACE, (1, 8, 8), 10))
    assert metrics["epochs"] == TASK_DEFAULTS["digits"]["epochs"]
    assert metrics["train_seconds"] > 0


def test_other_seeds_differ_and_the_global_rng_is_left_alone():
    quick = build_task({"name": "digits", "epochs": 1}, SPACE)
    before = torch.random.get_rng_state()
    a = quick.evaluate(TWO_CONVS, seed=1)
    b = quick.evaluate(TWO_CONVS, seed=2)
    assert a["val_loss"] != b["val_loss"]
    assert torch.equal(torch.random.get_rng_state(), before)


def test_exploding_loss_is_an_evaluation_failure():
    unstable = build_task({"name": "digits", "epochs": 1, "optimizer": "sgd", "lr": 1e8}, SPACE)
    with pytest.raises(EvaluationFailure, match="nan loss"):
        unstable.evaluate(TWO_CONVS, seed=0)


def test_task_shape_and_split_sizes(task):
    assert task.input_shape == (1, 8, 8)
    assert task.num_classes == 10
    assert task.fitness_metric == "val_accuracy"
    s = task.splits
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 1797
    assert abs(len(s.y_train) - 0.6 * 1797) <= 10
    assert abs(len(s.y_val) - 0.2 * 1797) <= 10
    assert s.x_train.dtype == np.float32 and s.x_train.shape[1:] == (1, 8, 8)
    assert s.x_train.min() >= 0.0 and s.x_train.max() <= 1.0


def test_split_is_stratified_disjoint_and_fixed_by_its_seed():
    _, y = load_digits_arrays()
    fractions = (0.6, 0.2, 0.2)
    train, val, test = stratified_split(y, fractions, seed=0)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(y)))
    for cls in range(10):
        n = int((y == cls).sum())
        for part, fraction in zip((train, val), fractions, strict=False):
            assert abs(int((y[part] == cls).sum()) - n * fraction) <= 1
    again = stratified_split(y, fractions, seed=0)
    other = stratified_split(y, fractions, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test), strict=True))
    assert not np.array_equal(other[0], train)


def test_split_options_are_used():
    task = build_task({"name": "digits", "split_seed": 4, "train_fraction": 0.5,
                       "val_fraction": 0.3, "test_fraction": 0.2}, SPACE)
    assert abs(len(task.splits.y_train) - 0.5 * 1797) <= 10
    assert abs(len(task.splits.y_val) - 0.3 * 1797) <= 10


@pytest.mark.parametrize(("config", "message"), [
    ({"epoch": 3}, r"task\.epoch: unknown key .*did you mean 'epochs'"),
    ({"lr": "fast"}, r"task\.lr: expected float"),
    ({"epochs": 2.5}, r"task\.epochs: expected int"),
    ({"optimizer": "adagrad"}, r"task\.optimizer: unknown optimizer 'adagrad'"),
    ({"lr_schedule": "step"}, r"task\.lr_schedule"),
    ({"lr": 0}, r"task\.lr: must be positive"),
    ({"batch_size": 1}, r"task\.batch_size"),
    ({"label_smoothing": 1.0}, r"task\.label_smoothing"),
    ({"train_fraction": 0.7}, r"task\.train_fraction: .*must be 1"),
    ({"val_fraction": 0.0}, r"task\.val_fraction: must be between 0 and 1"),
])
def test_bad_options_raise_task_error_naming_the_field(config, message):
    with pytest.raises(TaskError, match=message):
        build_task({"name": "digits", **config}, SPACE)


def test_documented_defaults():
    defaults = TASK_DEFAULTS["digits"]
    assert defaults["optimizer"] == "adam"
    assert defaults["label_smoothing"] == 0.0
    assert defaults["split_seed"] == 0
    assert (defaults["train_fraction"], defaults["val_fraction"], defaults["test_fraction"]) == \
        (0.6, 0.2, 0.2)
    assert build_task({"name": "digits", **defaults}, SPACE).recipe.to_dict().items() <= \
        defaults.items()
