"""The training recipe of the supervised tasks: optimizer, learning rate, epochs, batch size.

Plain data, no torch: the config layer and the tasks read it without importing torch; the
training loop (:mod:`evonas.tasks.training`) applies it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evonas.tasks.options import require

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    """How a network is trained.

    Attributes:
        optimizer: ``adam``, ``adamw`` or ``sgd`` (with Nesterov momentum).
        lr: peak learning rate.
        weight_decay: L2 penalty (decoupled for ``adamw``).
        momentum: SGD momentum (ignored by the Adam family).
        epochs: passes over the training split.
        batch_size: training batch size.
        label_smoothing: cross-entropy label smoothing of the training loss (0 = none).
        lr_schedule: ``cosine`` (anneal to 0 over all steps) or ``constant``.
        eval_batch_size: batch size when scoring the validation and test splits.
    """

    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0001
    momentum: float = 0.9
    epochs: int = 8
    batch_size: int = 64
    label_smoothing: float = 0.0
    lr_schedule: str = "cosine"
    eval_batch_size: int = 1024

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The recipe options a task config may set, with their defaults.
RECIPE_DEFAULTS: dict[str, Any] = Recipe().to_dict()


def recipe_from_options(options: dict[str, Any]) -> Recipe:
    """Build a :class:`Recipe` from checked task options (extra keys are ignored).

    Raises:
        TaskError: naming ``task.<field>`` for an out-of-range value.
    """
    values = {key: options[key] for key in RECIPE_DEFAULTS if key in options}
    recipe = Recipe(**values)
    require(recipe.optimizer in OPTIMIZERS, "optimizer",
            f"unknown optimizer {recipe.optimizer!r}; choose one of {list(OPTIMIZERS)}")
    require(recipe.lr_schedule in LR_SCHEDULES, "lr_schedule",
            f"unknown schedule {recipe.lr_schedule!r}; choose one of {list(LR_SCHEDULES)}")
    require(recipe.lr > 0, "lr", f"must be positive, got {recipe.lr}")
    require(recipe.weight_decay >= 0, "weight_decay", f"must be >= 0, got {recipe.weight_decay}")
    require(0 <= recipe.momentum < 1, "momentum", f"must be in [0, 1), got {recipe.momentum}")
    require(recipe.epochs >= 1, "epochs", f"must be at least 1, got {recipe.epochs}")
    require(recipe.batch_size >= 2, "batch_size", f"must be at least 2, got {recipe.batch_size}")
    require(recipe.eval_batch_size >= 1, "eval_batch_size",
            f"must be at least 1, got {recipe.eval_batch_size}")
    require(0 <= recipe.label_smoothing < 1, "label_smoothing",
            f"must be in [0, 1), got {recipe.label_smoothing}")
    return recipe
