"""The supervised training loop: compile a genome, train it with a :class:`Recipe`, score it.

Everything random comes from the evaluation seed: weight initialisation uses ``torch.manual_seed``
inside :func:`torch.random.fork_rng` (so the caller's global RNG is left as it was), batch order
uses its own :class:`torch.Generator` and augmentation another one, seeded from the same seed
(so turning augmentation on leaves the batch order alone). The random numbers are drawn on the
CPU, one epoch at a time, and copied to the device: on CPU the same seed gives the same metrics,
and a GPU run sees the same batches and crops as a CPU run.

The data stay on the device (:func:`splits_to_tensors`); augmentation (random crop with zero
padding, horizontal flip) runs batch-wise there. On CUDA the recipe may ask for mixed precision
(``bf16`` autocast, or ``fp16`` autocast with a gradient scaler) and the channels-last memory
format; on CPU ``bf16`` autocast works, ``fp16`` falls back to ``fp32`` with a warning.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from evonas.compiler import compile_genome, count_params
from evonas.tasks.errors import EvaluationFailure
from evonas.tasks.plan import TrainingPlan
from evonas.tasks.recipe import Recipe
from evonas.weights import WeightsFileError, inherit_matching, load_state, save_state

if TYPE_CHECKING:
    from evonas.tasks.classification import Splits
    from genomes import DAGGenome, SearchSpace

#: Tensors of one dataset on one device: ``(x_train, y_train, x_val, y_val, x_test, y_test)``.
TensorSplits = tuple[torch.Tensor, ...]

#: Mixes the evaluation seed into the augmentation generator's seed (an odd 63-bit constant).
_AUGMENT_SEED_MIX = 0x1E3779B97F4A7C15


def splits_to_tensors(splits: Splits, device: str) -> TensorSplits:
    """Copy the numpy splits to ``device`` once (the task caches the result)."""
    arrays = (splits.x_train, splits.y_train, splits.x_val, splits.y_val, splits.x_test,
              splits.y_test)
    return tuple(torch.from_numpy(a).to(device) for a in arrays)


def train_and_score(genome: DAGGenome, space: SearchSpace, data: TensorSplits,
                    input_shape: tuple[int, int, int], num_classes: int, recipe: Recipe,
                    seed: int, device: str, plan: TrainingPlan | None = None
                    ) -> dict[str, float]:
    """Compile ``genome``, train it on the train split and score the validation and test splits.

    Args:
        plan: weight files and fidelity (:class:`~evonas.tasks.plan.TrainingPlan`): start from a
            parent's matching tensors (``inherit_from``), continue a saved state
            (``resume_from``: model, optimizer, schedule, generators and the epoch reached),
            stop at ``epochs`` of a schedule spanning ``schedule_epochs``, and save the state at
            the end (``save_to``); train on a share of the data (``data_fraction``, reported
            as the ``data_fraction`` metric, the recipe's own fraction included). Continuing a
            state saved at epoch ``k`` up to epoch ``E`` gives the same weights and metrics as
            training to ``E`` at once, on the same device.

    Returns:
        ``fitness`` (= ``val_accuracy``), ``val_accuracy``, ``val_loss``, ``test_accuracy``,
        ``params``, ``train_seconds``, ``epochs`` (the epoch training stopped at),
        ``train_loss`` and ``train_accuracy`` (the final epoch's mean training loss and
        accuracy, measured on the training batches as they were trained on: in train mode,
        augmented, with label smoothing in the loss); with a plan that inherits,
        ``inherited_tensors``, ``sliced_tensors`` and ``fresh_tensors``; with one that resumes,
        ``resumed_from_epoch``.

    Raises:
        EvaluationFailure: ``"nan loss"`` when a training or validation loss is not finite;
            a weights file that cannot be read or does not fit the network.
    """
    x_train, y_train, x_val, y_val, x_test, y_test = data
    plan = plan or _NO_PLAN
    dev = torch.device(device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    extra: dict[str, float] = {}
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = compile_genome(genome, space, input_shape, num_classes).to(dev)
        params = count_params(model)
        if plan.inherit_from is not None:
            counts = inherit_matching(model, _read_state(plan.inherit_from, device)["model"])
            extra.update({f"{key}_tensors": value for key, value in counts.items()})
        channels_last = use_channels_last(recipe, model, dev)
        if channels_last:
            # Module.to takes memory_format (documented), which torch's stubs leave out
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        dtype = autocast_dtype(recipe.precision, dev)
        fraction = recipe.data_fraction * (plan.data_fraction or 1.0)
        if plan.data_fraction is not None:
            extra["data_fraction"] = fraction
        subset = train_subset(y_train, fraction, recipe.subset_seed)
        n = len(x_train) if subset is None else len(subset)
        schedule_epochs = plan.schedule_epochs or plan.epochs or recipe.epochs
        session = TrainingSession(model, recipe, seed, n, schedule_epochs, dtype, dev)
        if plan.resume_from is not None:
            session.restore(_read_state(plan.resume_from, device))
            extra["resumed_from_epoch"] = session.epoch
        stop = min(plan.epochs or schedule_epochs, schedule_epochs)
        start = time.perf_counter()
        train_loss, train_accuracy = run_epochs(session, x_train, y_train, stop, subset=subset,
                                            channels_last=channels_last)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        train_seconds = time.perf_counter() - start
        if plan.save_to is not None:
            save_state(plan.save_to, {**session.state(), "network": {
                "input_shape": list(input_shape), "num_classes": num_classes}})
    val_accuracy, val_loss = score(model, x_val, y_val, recipe.eval_batch_size, dtype=dtype,
                                   channels_last=channels_last)
    if not math.isfinite(val_loss):
        raise EvaluationFailure("nan loss")
    test_accuracy, _ = score(model, x_test, y_test, recipe.eval_batch_size, dtype=dtype,
                             channels_last=channels_last)
    return {
        "fitness": val_accuracy,
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "test_accuracy": test_accuracy,
        "params": params,
        "train_seconds": round(train_seconds, 4),
        "epochs": session.epoch,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        **extra,
    }


_NO_PLAN = TrainingPlan()


def _read_state(path: str, device: str) -> dict[str, Any]:
    """A weights file's state, or an :class:`EvaluationFailure` naming the file."""
    try:
        state = load_state(path, device)
    except WeightsFileError as exc:
        raise EvaluationFailure(str(exc)) from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise EvaluationFailure(f"{path}: holds no model state")
    return state


class TrainingSession:
    """Everything a training run carries from epoch to epoch, which a saved state restores:
    the model, the optimizer, the schedule (spanning ``schedule_epochs``), the gradient scaler,
    the batch-order and augmentation generators, torch's global generator and the epoch reached.
    """

    def __init__(self, model: nn.Module, recipe: Recipe, seed: int, n: int,
                 schedule_epochs: int, dtype: torch.dtype | None, device: torch.device) -> None:
        self.model = model
        self.recipe = recipe
        self.epoch = 0
        self.optimizer = make_optimizer(model, recipe)
        self.scheduler = make_scheduler(self.optimizer, replace(recipe, epochs=schedule_epochs),
                                        steps_per_epoch(n, recipe.batch_size))
        self.scaler = (torch.amp.GradScaler("cuda")
                       if dtype == torch.float16 and device.type == "cuda" else None)
        self.dtype = dtype
        self.shuffle = torch.Generator().manual_seed(seed)
        self.augment_rng = torch.Generator().manual_seed(augment_seed(seed))

    def state(self) -> dict[str, Any]:
        """The state to save: continuing from it is the same as never having stopped."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else _plain(self.scheduler.state_dict()),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "generators": {"shuffle": self.shuffle.get_state(),
                           "augment": self.augment_rng.get_state(),
                           "torch": torch.get_rng_state()},
            "epoch": self.epoch,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a :meth:`state` saved by an earlier run of the same genome and recipe."""
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            generators = state["generators"]
            self.shuffle.set_state(generators["shuffle"])
            self.augment_rng.set_state(generators["augment"])
            torch.set_rng_state(generators["torch"])
            self.epoch = int(state["epoch"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise EvaluationFailure(f"the saved state does not fit this network ({exc})"[:300]
                                    ) from None


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    """A scheduler's state dict without its functions (``LambdaLR`` keeps ``None`` for them)."""
    return {key: value for key, value in state.items() if not callable(value)}


def run_epochs(session: TrainingSession, x: torch.Tensor, y: torch.Tensor, stop: int, *,
           subset: torch.Tensor | None = None, channels_last: bool = False
           ) -> tuple[float, float]:
    """Train ``session.model`` in place from ``session.epoch`` up to epoch ``stop``; return the
    final epoch's mean loss and accuracy (zeros when no epoch ran).

    Batches of one sample are skipped (batch norm cannot train on them).
    """
    model, recipe, optimizer, scheduler = (session.model, session.recipe, session.optimizer,
                                           session.scheduler)
    scaler, dtype = session.scaler, session.dtype
    n = len(x) if subset is None else len(subset)
    autocast = (contextlib.nullcontext() if dtype is None
                else torch.autocast(device_type=x.device.type, dtype=dtype))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    augmenting = recipe.augments
    model.train()
    epoch_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    seen = 0
    for epoch in range(session.epoch, stop):
        order = torch.randperm(n, generator=session.shuffle)
        if subset is not None:
            order = subset[order]
        order = order.to(x.device)
        flips = offsets = None
        if augmenting:
            flips, offsets = draw_augmentation(n, recipe.crop_padding, recipe.hflip,
                                               session.augment_rng, x.device)
        last_epoch = epoch == stop - 1
        epoch_loss = torch.zeros((), device=x.device)
        for begin in range(0, n, recipe.batch_size):
            end = begin + recipe.batch_size
            batch = order[begin:end]
            if len(batch) < 2:  # batch norm cannot train on a single sample
                continue
            inputs, target = x[batch], y[batch]
            if augmenting:
                inputs = augment(inputs, None if flips is None else flips[begin:end],
                                 None if offsets is None else offsets[begin:end],
                                 recipe.crop_padding)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = model(inputs)
                loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            epoch_loss += loss.detach().float() * len(batch)
            if last_epoch:
                correct += (logits.detach().argmax(dim=1) == target).sum()
                seen += len(batch)
        if not torch.isfinite(epoch_loss):  # one check (one device sync) per epoch
            raise EvaluationFailure("nan loss")
        session.epoch = epoch + 1
    seen = max(seen, 1)
    return epoch_loss.item() / seen, correct.item() / seen


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one epoch over ``n`` samples (a last batch of one is skipped)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 else 0)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The optimizer ``recipe.optimizer`` names, over the model's parameters."""
    params = model.parameters()
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.uses_nesterov, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of ``recipe``, stepped once per optimizer step.

    ``cosine`` without warm-up is torch's ``CosineAnnealingLR`` over all steps; with
    ``warmup_epochs`` the factor rises linearly, ``(s + 1) / (W + 1)`` at step ``s`` of the ``W``
    warm-up steps, then follows a cosine from 1 to 0 over the remaining steps. ``constant`` with
    warm-up keeps the factor at 1 after the warm-up. ``one_cycle`` is ``OneCycleLR`` with
    ``max_lr = lr`` and torch's other defaults, except that momentum is not cycled.

    Returns:
        The scheduler, or ``None`` for a constant rate without warm-up (or no steps at all).
    """
    total = steps_per_epoch * recipe.epochs
    if total == 0:
        return None
    warmup = 0
    if recipe.warmup_epochs > 0:
        warmup = min(max(1, round(recipe.warmup_epochs * steps_per_epoch)), total - 1)
    if recipe.lr_schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total,
                                                   cycle_momentum=False)
    if recipe.lr_schedule == "cosine":
        if warmup == 0:
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: _warmup_cosine(step, warmup, total))
    if warmup == 0:
        return None
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / (warmup + 1)))


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor at ``step``: linear warm-up, then cosine to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, total - warmup) / (total - warmup)))


def augment_seed(seed: int) -> int:
    """The augmentation generator's seed for evaluation ``seed`` (distinct from the batch order's).
    """
    return (seed * _AUGMENT_SEED_MIX + 1) % (1 << 63)


def draw_augmentation(n: int, crop_padding: int, hflip: bool, generator: torch.Generator,
                      device: torch.device | str = "cpu",
                      ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Draw one epoch's augmentation: per-sample flips and crop offsets, on the CPU.

    Args:
        n: samples in the epoch.
        crop_padding: the crop's padding ``p`` (0 = no crop).
        hflip: whether to draw flips.
        generator: a CPU generator (the draws are the same on every device).
        device: where the results go.

    Returns:
        ``(flips, offsets)``: ``bool (n,)`` (``True`` = flip) or ``None`` without ``hflip``, and
        ``int64 (n, 2)`` row and column offsets in ``[0, 2p]`` or ``None`` without a crop.
    """
    flips = offsets = None
    if hflip:
        flips = (torch.rand(n, generator=generator) < 0.5).to(device)
    if crop_padding > 0:
        offsets = torch.randint(0, 2 * crop_padding + 1, (n, 2), generator=generator).to(device)
    return flips, offsets


def augment(x: torch.Tensor, flips: torch.Tensor | None, offsets: torch.Tensor | None,
            crop_padding: int) -> torch.Tensor:
    """Randomly crop and flip a batch of images ``(B, C, H, W)``, on their device.

    Each image is zero-padded by ``crop_padding`` on every side and the ``H x W`` window at its
    ``offsets`` (row, column) is kept, so an offset of ``(p, p)`` is the original image; then the
    images where ``flips`` is true are mirrored left to right.

    Args:
        x: the batch.
        flips: ``bool (B,)`` or ``None`` (no flip).
        offsets: ``int64 (B, 2)`` in ``[0, 2 * crop_padding]`` or ``None`` (no crop).
        crop_padding: the padding the offsets were drawn for.

    Returns:
        A new batch of the same shape and dtype (``x`` itself when both are off).
    """
    if offsets is not None and crop_padding > 0:
        b, c, h, w = x.shape
        p = crop_padding
        padded = nn.functional.pad(x, (p, p, p, p))
        rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
        cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
        x = padded[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    if flips is not None:
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
    return x


def train_subset(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor | None:
    """A stratified subset of the train split: ``fraction`` of each class, at least one sample.

    Each class's members are shuffled by a generator seeded with ``seed`` and the first
    ``round(count * fraction)`` kept, so the subset depends only on ``(y, fraction, seed)``.

    Returns:
        Sorted ``int64`` indices into ``y`` on the CPU, or ``None`` for ``fraction >= 1`` (all).
    """
    if fraction >= 1:
        return None
    labels = y.cpu()
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for cls in torch.unique(labels):
        members = torch.nonzero(labels == cls).flatten()
        count = max(1, round(len(members) * fraction))
        keep.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.sort(torch.cat(keep)).values


def use_channels_last(recipe: Recipe, model: nn.Module, device: torch.device) -> bool:
    """Whether to train in channels-last: the recipe's choice, or ``auto`` = CUDA with convs."""
    if recipe.channels_last is not None:
        return recipe.channels_last
    return device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``; ``None`` = plain fp32.

    ``fp16`` needs CUDA (its gradient scaler is CUDA's); elsewhere it falls back to fp32 with a
    :class:`RuntimeWarning`.
    """
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cuda":
            return torch.float16
        warnings.warn(f"precision: fp16 needs CUDA; training in fp32 on {device.type}",
                      RuntimeWarning, stacklevel=2)
    return None


@torch.inference_mode()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, *,
          dtype: torch.dtype | None = None, channels_last: bool = False) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)``, in eval mode.

    Args:
        model: the trained network.
        x: inputs.
        y: labels.
        batch_size: scoring batch size.
        dtype: the autocast dtype (``None`` = fp32); the loss is computed in fp32.
        channels_last: feed the batches in the channels-last memory format.
    """
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    total_loss = torch.zeros((), device=x.device)
    autocast = (contextlib.nullcontext() if dtype is None
                else torch.autocast(device_type=x.device.type, dtype=dtype))
    for begin in range(0, len(x), batch_size):
        inputs = x[begin:begin + batch_size]
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = model(inputs)
        target = y[begin:begin + batch_size]
        total_loss += nn.functional.cross_entropy(logits.float(), target, reduction="sum")
        correct += (logits.argmax(dim=1) == target).sum()
    n = max(len(x), 1)
    return correct.item() / n, total_loss.item() / n
