"""The supervised training loop: compile a genome, train it with a :class:`Recipe`, score it.

Everything random comes from the evaluation seed: weight initialisation uses ``torch.manual_seed``
inside :func:`torch.random.fork_rng` (so the caller's global RNG is left as it was) and batch order
uses its own :class:`torch.Generator`. On CPU the same seed gives the same metrics.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch
from torch import nn

from evonas.compiler import compile_genome, count_params
from evonas.tasks.errors import EvaluationFailure
from evonas.tasks.recipe import Recipe

if TYPE_CHECKING:
    from evonas.tasks.classification import Splits
    from genomes import DAGGenome, SearchSpace

#: Tensors of one dataset on one device: ``(x_train, y_train, x_val, y_val, x_test, y_test)``.
TensorSplits = tuple[torch.Tensor, ...]


def splits_to_tensors(splits: Splits, device: str) -> TensorSplits:
    """Copy the numpy splits to ``device`` once (the task caches the result)."""
    arrays = (splits.x_train, splits.y_train, splits.x_val, splits.y_val, splits.x_test,
              splits.y_test)
    return tuple(torch.from_numpy(a).to(device) for a in arrays)


def train_and_score(genome: DAGGenome, space: SearchSpace, data: TensorSplits,
                    input_shape: tuple[int, int, int], num_classes: int, recipe: Recipe,
                    seed: int, device: str) -> dict[str, float]:
    """Compile ``genome``, train it on the train split and score the validation and test splits.

    Returns:
        ``fitness`` (= ``val_accuracy``), ``val_accuracy``, ``val_loss``, ``test_accuracy``,
        ``params``, ``train_seconds`` and ``epochs``.

    Raises:
        EvaluationFailure: ``"nan loss"`` when a training or validation loss is not finite.
    """
    x_train, y_train, x_val, y_val, x_test, y_test = data
    dev = torch.device(device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = compile_genome(genome, space, input_shape, num_classes).to(dev)
        params = count_params(model)
        shuffle = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        _train(model, x_train, y_train, recipe, shuffle)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        train_seconds = time.perf_counter() - start
    val_accuracy, val_loss = score(model, x_val, y_val, recipe.eval_batch_size)
    if not math.isfinite(val_loss):
        raise EvaluationFailure("nan loss")
    test_accuracy, _ = score(model, x_test, y_test, recipe.eval_batch_size)
    return {
        "fitness": val_accuracy,
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "test_accuracy": test_accuracy,
        "params": params,
        "train_seconds": round(train_seconds, 4),
        "epochs": recipe.epochs,
    }


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Recipe,
           shuffle: torch.Generator) -> None:
    optimizer = make_optimizer(model, recipe)
    n = len(x)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    scheduler = None
    if recipe.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=steps_per_epoch * recipe.epochs)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(n, generator=shuffle).to(x.device)
        epoch_loss = torch.zeros((), device=x.device)
        for begin in range(0, n, recipe.batch_size):
            batch = order[begin:begin + recipe.batch_size]
            if len(batch) < 2:  # batch norm cannot train on a single sample
                continue
            loss = loss_fn(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            epoch_loss += loss.detach()
        if not torch.isfinite(epoch_loss):  # one check (one device sync) per epoch
            raise EvaluationFailure("nan loss")


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The optimizer ``recipe.optimizer`` names, over the model's parameters."""
    params = model.parameters()
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                           weight_decay=recipe.weight_decay)


@torch.inference_mode()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
          batch_size: int) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)``, in eval mode."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    total_loss = torch.zeros((), device=x.device)
    for begin in range(0, len(x), batch_size):
        logits = model(x[begin:begin + batch_size])
        target = y[begin:begin + batch_size]
        total_loss += nn.functional.cross_entropy(logits.float(), target, reduction="sum")
        correct += (logits.argmax(dim=1) == target).sum()
    n = max(len(x), 1)
    return correct.item() / n, total_loss.item() / n
