"""The training recipe: every option trains, schedules have their curves, augmentation, checks."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import pytest
import torch
from torch import nn

from evonas.tasks import TaskError, build_task
from evonas.tasks.recipe import RECIPE_DEFAULTS, Recipe, recipe_from_options
from evonas.tasks.training import (
    augment,
    augment_seed,
    autocast_dtype,
    draw_augmentation,
    make_optimizer,
    make_scheduler,
    steps_per_epoch,
    train_subset,
    use_channels_last,
)
from genomes import DAGGenome, Edge, FreeSpace

SPACE = FreeSpace()
#: A small network: two 3x3 convolutions (16 -> 16 -> 16 channels) and a pooled skip.
SMALL = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_3x3"),
                              Edge(0, 2, "avg_pool_3x3")), (16, 16, 16))
ONE_EPOCH = {"name": "digits", "epochs": 1, "batch_size": 32}
TIMING = {"train_seconds"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, like a pool worker on a busy machine (and immune to oversubscription)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def evaluate(seed: int = 0, **options) -> dict[str, float]:
    return build_task({**ONE_EPOCH, **options}, SPACE).evaluate(SMALL, seed=seed)


def untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def recipe(**options) -> Recipe:
    return recipe_from_options({**RECIPE_DEFAULTS, **options})


# --- every option trains ----------------------------------------------------------------------


@pytest.mark.parametrize("options", [
    {},
    {"optimizer": "sgd", "lr": 0.05},
    {"optimizer": "sgd", "lr": 0.05, "nesterov": False},
    {"optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
    {"optimizer": "adamw", "weight_decay": 0.05},
    {"lr_schedule": "one_cycle"},
    {"lr_schedule": "constant"},
    {"lr_schedule": "cosine", "warmup_epochs": 0.5},
    {"lr_schedule": "constant", "warmup_epochs": 0.5},
    {"label_smoothing": 0.1},
    {"crop_padding": 2},
    {"hflip": True},
    {"crop_padding": 2, "hflip": True},
    {"precision": "bf16"},
    {"data_fraction": 0.25},
    {"channels_last": True},
    {"eval_batch_size": 100},
], ids=repr)
def test_each_option_trains_one_epoch_to_finite_metrics(options):
    metrics = evaluate(**options)
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy"} <= \
        set(metrics)
    for key in ("train_loss", "val_loss"):
        assert math.isfinite(metrics[key]) and metrics[key] > 0
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0


def test_one_epoch_of_the_default_recipe_learns_something():
    assert evaluate()["val_accuracy"] > 0.3  # chance is 0.1


def test_same_seed_gives_the_same_metrics_with_augmentation():
    on = {"crop_padding": 2, "hflip": True}
    a, b = evaluate(seed=5, **on), evaluate(seed=5, **on)
    assert untimed(a) == untimed(b)
    assert a["val_loss"] != evaluate(seed=5)["val_loss"], "augmentation changes training"
    assert a["val_loss"] != evaluate(seed=6, **on)["val_loss"]


def test_data_fraction_is_deterministic_and_changes_training():
    a, b = evaluate(seed=1, data_fraction=0.5), evaluate(seed=1, data_fraction=0.5)
    assert untimed(a) == untimed(b)
    assert a["train_loss"] != evaluate(seed=1)["train_loss"]
    assert a["train_loss"] != evaluate(seed=1, data_fraction=0.5, subset_seed=1)["train_loss"]


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning():
    with pytest.warns(RuntimeWarning, match="fp16 needs CUDA"):
        half = evaluate(seed=2, precision="fp16")
    assert untimed(half) == untimed(evaluate(seed=2))


def test_bf16_on_cpu_trains_under_autocast():
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    assert autocast_dtype("fp16", torch.device("cuda")) is torch.float16
    assert evaluate(seed=2, precision="bf16")["val_loss"] != evaluate(seed=2)["val_loss"]


def test_channels_last_auto_is_off_on_cpu_and_on_for_cuda_convs():
    conv, linear = nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Linear(2, 2))
    auto = recipe()
    assert auto.channels_last is None
    assert not use_channels_last(auto, conv, torch.device("cpu"))
    assert use_channels_last(auto, conv, torch.device("cuda"))  # no CUDA call is made
    assert not use_channels_last(auto, linear, torch.device("cuda"))
    assert use_channels_last(recipe(channels_last=True), linear, torch.device("cpu"))
    assert not use_channels_last(recipe(channels_last=False), conv, torch.device("cuda"))


def test_channels_last_gives_the_same_metrics_up_to_float_noise():
    plain, last = evaluate(seed=3), evaluate(seed=3, channels_last=True)
    assert abs(plain["val_loss"] - last["val_loss"]) < 1e-3


# --- schedules --------------------------------------------------------------------------------


def lr_curve(schedule: Recipe, per_epoch: int = 10) -> list[float]:
    """The learning rate of each optimizer step under ``schedule``."""
    optimizer = make_optimizer(nn.Linear(2, 2), schedule)
    scheduler = make_scheduler(optimizer, schedule, per_epoch)
    lrs = []
    for _ in range(per_epoch * schedule.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def test_cosine_anneals_from_lr_to_zero_over_all_steps():
    lrs = lr_curve(recipe(lr=0.1, epochs=2))
    assert len(lrs) == 20
    for step in (0, 5, 10, 19):
        assert lrs[step] == pytest.approx(0.05 * (1 + math.cos(math.pi * step / 20)), abs=1e-9)
    assert lrs == sorted(lrs, reverse=True)


def test_cosine_with_warmup_rises_linearly_then_anneals():
    lrs = lr_curve(recipe(lr=0.1, epochs=2, warmup_epochs=0.5))  # 5 warm-up steps of 20
    assert lrs[:5] == pytest.approx([0.1 * (s + 1) / 6 for s in range(5)])
    assert lrs[5] == pytest.approx(0.1)
    assert lrs[5 + 15 // 2] < 0.1 and lrs[19] == pytest.approx(
        0.05 * (1 + math.cos(math.pi * 14 / 15)))


def test_constant_is_flat_and_its_warmup_reaches_lr():
    assert lr_curve(recipe(lr=0.1, lr_schedule="constant")) == [0.1] * 80
    lrs = lr_curve(recipe(lr=0.1, epochs=2, lr_schedule="constant", warmup_epochs=1))
    assert lrs[0] == pytest.approx(0.1 / 11) and lrs[9] == pytest.approx(0.1 * 10 / 11)
    assert lrs[10:] == pytest.approx([0.1] * 10)


def test_one_cycle_rises_to_lr_over_30_percent_then_anneals_far_below():
    lrs = lr_curve(recipe(lr=0.1, epochs=2, lr_schedule="one_cycle"))
    peak = max(range(20), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(0.1 / 25)
    assert peak == 5 and lrs[peak] == pytest.approx(0.1)  # 30% of 20 steps, counted from 0
    assert lrs[:peak + 1] == sorted(lrs[:peak + 1])
    assert lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[19] == pytest.approx(0.1 / 25 / 1e4)


def test_steps_per_epoch_skips_a_last_batch_of_one():
    assert steps_per_epoch(128, 64) == 2
    assert steps_per_epoch(129, 64) == 2
    assert steps_per_epoch(130, 64) == 3


def test_optimizers_and_nesterov():
    model = nn.Linear(2, 2)
    sgd = make_optimizer(model, recipe(optimizer="sgd"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"]
    assert not make_optimizer(model, recipe(optimizer="sgd", nesterov=False)).defaults["nesterov"]
    assert not make_optimizer(model, recipe(optimizer="sgd", momentum=0.0)).defaults["nesterov"]
    assert isinstance(make_optimizer(model, recipe(optimizer="adamw")), torch.optim.AdamW)
    assert type(make_optimizer(model, recipe())) is torch.optim.Adam


# --- augmentation -----------------------------------------------------------------------------


def images(n: int = 16, size: int = 8) -> torch.Tensor:
    return torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(0)) + 0.1


def test_augmentation_changes_inputs_but_keeps_shape_and_dtype():
    x = images()
    flips, offsets = draw_augmentation(len(x), 4, True, torch.Generator().manual_seed(1))
    assert flips is not None and flips.dtype == torch.bool and flips.shape == (16,)
    assert offsets is not None and offsets.shape == (16, 2)
    assert int(offsets.min()) >= 0 and int(offsets.max()) <= 8
    out = augment(x, flips, offsets, 4)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)


def test_augmentation_off_is_the_identity():
    x = images()
    assert draw_augmentation(len(x), 0, False, torch.Generator()) == (None, None)
    assert augment(x, None, None, 0) is x
    unflipped = torch.zeros(len(x), dtype=torch.bool)
    centred = torch.full((len(x), 2), 4)
    assert torch.equal(augment(x, unflipped, centred, 4), x)


def test_crop_shifts_in_zeros_and_flip_mirrors():
    x = images(2)
    corner = torch.zeros((2, 2), dtype=torch.long)  # window at the padded image's top left
    out = augment(x, None, corner, 2)
    assert torch.equal(out[..., 2:, 2:], x[..., :6, :6])
    assert torch.all(out[..., :2, :] == 0) and torch.all(out[..., :, :2] == 0)
    flips = torch.tensor([True, False])
    mirrored = augment(x, flips, None, 0)
    assert torch.equal(mirrored[0], x[0].flip(2)) and torch.equal(mirrored[1], x[1])


def test_augmentation_draws_follow_the_generator():
    def draw(seed: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return draw_augmentation(64, 4, True, torch.Generator().manual_seed(seed))

    (f1, o1), (f2, o2), (f3, _) = draw(1), draw(1), draw(2)
    assert torch.equal(f1, f2) and torch.equal(o1, o2) and not torch.equal(f1, f3)
    assert augment_seed(3) != 3 and augment_seed(3) == augment_seed(3)


# --- data_fraction ----------------------------------------------------------------------------


def test_train_subset_is_stratified_sorted_and_seeded():
    y = torch.arange(10).repeat_interleave(torch.tensor([100, 50, 20, 10, 5, 100, 100, 100, 1, 2]))
    subset = train_subset(y, 0.2, seed=0)
    assert subset is not None
    assert torch.equal(subset, torch.unique(subset)), "sorted and distinct"
    counts = torch.bincount(y[subset], minlength=10).tolist()
    assert counts == [20, 10, 4, 2, 1, 20, 20, 20, 1, 1], "each class in proportion, at least 1"
    assert torch.equal(subset, train_subset(y, 0.2, seed=0))
    assert not torch.equal(subset, train_subset(y, 0.2, seed=1))
    assert train_subset(y, 1.0, seed=0) is None


# --- options ----------------------------------------------------------------------------------


def test_defaults_are_the_digits_recipe_with_new_options_off():
    assert {k: RECIPE_DEFAULTS[k] for k in (
        "optimizer", "lr", "weight_decay", "momentum", "epochs", "batch_size", "label_smoothing",
        "lr_schedule", "eval_batch_size")} == {
        "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0001, "momentum": 0.9, "epochs": 8,
        "batch_size": 64, "label_smoothing": 0.0, "lr_schedule": "cosine",
        "eval_batch_size": 1024}
    assert {k: RECIPE_DEFAULTS[k] for k in (
        "nesterov", "warmup_epochs", "crop_padding", "hflip", "data_fraction", "subset_seed",
        "precision", "channels_last")} == {
        "nesterov": None, "warmup_epochs": 0.0, "crop_padding": 0, "hflip": False,
        "data_fraction": 1.0, "subset_seed": 0, "precision": "fp32", "channels_last": None}
    assert list(RECIPE_DEFAULTS) == [f.name for f in fields(Recipe)]
    assert not Recipe().augments


def test_recipe_stays_a_dataclass_for_the_batch_scale_retry():
    scaled = replace(recipe(crop_padding=4), batch_size=32, eval_batch_size=512)
    assert (scaled.batch_size, scaled.eval_batch_size, scaled.crop_padding) == (32, 512, 4)


def test_auto_flags_accept_auto_true_and_false():
    assert recipe(nesterov="auto", channels_last="auto") == Recipe()
    assert recipe(optimizer="sgd", nesterov=True).nesterov is True
    assert recipe(channels_last=False).channels_last is False
    assert recipe(optimizer="sgd").uses_nesterov and not recipe().uses_nesterov


@pytest.mark.parametrize(("options", "message"), [
    ({"optimizer": "rmsprop"}, r"task\.optimizer: unknown optimizer 'rmsprop'"),
    ({"optimizer": "adamw", "nesterov": True}, r"task\.nesterov: true needs optimizer: sgd"),
    ({"optimizer": "sgd", "nesterov": True, "momentum": 0.0}, r"task\.nesterov: .*momentum"),
    ({"nesterov": "yes"}, r"task\.nesterov: must be auto, true or false"),
    ({"channels_last": 1}, r"task\.channels_last: must be auto, true or false"),
    ({"lr_schedule": "step"}, r"task\.lr_schedule: unknown schedule 'step'"),
    ({"data_fraction": 0.0}, r"task\.data_fraction: must be in \(0, 1\]"),
    ({"data_fraction": 1.5}, r"task\.data_fraction"),
    ({"precision": "fp8"}, r"task\.precision: unknown precision 'fp8'"),
    ({"warmup_epochs": -1.0}, r"task\.warmup_epochs"),
    ({"warmup_epochs": 8.0}, r"task\.warmup_epochs: must be in \[0, epochs=8\)"),
    ({"lr_schedule": "one_cycle", "warmup_epochs": 1.0}, r"task\.warmup_epochs: must be 0"),
    ({"crop_padding": -1}, r"task\.crop_padding: must be >= 0"),
])
def test_bad_values_raise_task_error_naming_the_field(options, message):
    with pytest.raises(TaskError, match=message):
        recipe(**options)


@pytest.mark.parametrize(("options", "message"), [
    ({"data_fraction": 0}, r"task\.data_fraction"),
    ({"hflip": "yes"}, r"task\.hflip: expected bool"),
    ({"crop_padding": 4.0}, r"task\.crop_padding: expected int"),
    ({"precision": "half"}, r"task\.precision"),
])
def test_the_digits_task_checks_the_new_options(options, message):
    with pytest.raises(TaskError, match=message):
        build_task({"name": "digits", **options}, SPACE)
