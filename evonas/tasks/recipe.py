"""The training recipe of the supervised tasks: optimizer, schedule, augmentation, precision.

Plain data, no torch: the config layer and the tasks read it without importing torch; the
training loop (:mod:`evonas.tasks.training`) applies it. Every field is a ``task:`` config key of
every classification task (they merge :data:`RECIPE_DEFAULTS` into their own defaults), and the
defaults are the recipe the digits demo has always used: options added later default to off.

Two options take ``auto``: ``nesterov`` and ``channels_last``. Their default is ``None`` (which
the config reader lets through untyped), and ``auto``, ``true`` and ``false`` are accepted;
:func:`recipe_from_options` stores ``auto`` as ``None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evonas.tasks.options import require

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "one_cycle", "constant")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: The options whose value may be ``auto`` (stored as ``None``), ``true`` or ``false``.
AUTO_FLAGS: tuple[str, ...] = ("nesterov", "channels_last")


@dataclass(frozen=True)
class Recipe:
    """How a network is trained.

    Attributes:
        optimizer: ``adam``, ``adamw`` (decoupled weight decay) or ``sgd``.
        lr: peak learning rate.
        weight_decay: L2 penalty (decoupled for ``adamw``).
        momentum: SGD momentum (ignored by the Adam family).
        epochs: passes over the (possibly subsampled) training split.
        batch_size: training batch size.
        label_smoothing: cross-entropy label smoothing of the training loss (0 = none).
        lr_schedule: ``cosine`` (anneal to 0 over all steps, after the warm-up), ``one_cycle``
            (torch's ``OneCycleLR``: rise from ``lr / 25`` to ``lr`` over the first 30% of the
            steps, then anneal to ``lr / 250000``; momentum is not cycled) or ``constant``.
        eval_batch_size: batch size when scoring the validation and test splits.
        nesterov: Nesterov momentum for ``sgd``; ``None`` (``auto``) = on whenever
            ``momentum > 0``. ``true`` needs ``optimizer: sgd`` and ``momentum > 0``.
        warmup_epochs: linear learning-rate warm-up, in epochs (fractions allowed), before the
            ``cosine`` or ``constant`` schedule; 0 = none. ``one_cycle`` has its own warm-up.
        crop_padding: random-crop augmentation: zero-pad each training image by this many pixels
            on every side and crop a random window of the original size (0 = off; 4 is the
            CIFAR recipe).
        hflip: random horizontal flip of half the training images.
        data_fraction: train on this fraction of the train split, in ``(0, 1]``: a stratified
            subset (each class in proportion, at least one image per class) fixed by
            ``subset_seed``, the same for every evaluation. Validation and test stay whole.
        subset_seed: seeds the ``data_fraction`` subset.
        precision: ``fp32``; ``bf16`` (autocast, on CPU and CUDA); ``fp16`` (autocast with a
            gradient scaler, CUDA only: elsewhere it falls back to ``fp32`` with a warning, so a
            GPU config still runs on a CPU machine).
        channels_last: train in the channels-last memory format; ``None`` (``auto``) = on for
            CUDA when the network has convolutions, off on CPU.
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
    nesterov: bool | None = None
    warmup_epochs: float = 0.0
    crop_padding: int = 0
    hflip: bool = False
    data_fraction: float = 1.0
    subset_seed: int = 0
    precision: str = "fp32"
    channels_last: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a config mapping (field name -> value)."""
        return asdict(self)

    @property
    def uses_nesterov(self) -> bool:
        """Whether SGD runs with Nesterov momentum (``auto`` resolved)."""
        if self.nesterov is None:
            return self.optimizer == "sgd" and self.momentum > 0
        return self.nesterov

    @property
    def augments(self) -> bool:
        """Whether any training-time augmentation is on."""
        return self.crop_padding > 0 or self.hflip


#: The recipe options a task config may set, with their defaults.
RECIPE_DEFAULTS: dict[str, Any] = Recipe().to_dict()


def _auto_flag(options: dict[str, Any], key: str) -> bool | None:
    """Read an ``auto|true|false`` option as ``None``, ``True`` or ``False``."""
    value = options.get(key)
    if value is None or value == "auto":
        return None
    require(isinstance(value, bool), key, f"must be auto, true or false, got {value!r}")
    return bool(value)


def recipe_from_options(options: dict[str, Any]) -> Recipe:
    """Build a :class:`Recipe` from checked task options (extra keys are ignored).

    Args:
        options: the task's options after :func:`~evonas.tasks.options.read_options` (which
            checks each value's type against its default).

    Returns:
        The recipe, every value checked.

    Raises:
        TaskError: naming ``task.<field>`` for an out-of-range value or a bad combination.
    """
    values = {key: options[key] for key in RECIPE_DEFAULTS if key in options}
    for key in AUTO_FLAGS:
        values[key] = _auto_flag(options, key)
    recipe = Recipe(**values)
    check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe) -> None:
    """Check every field of ``recipe`` and their combinations.

    Raises:
        TaskError: naming ``task.<field>`` at fault.
    """
    require(recipe.optimizer in OPTIMIZERS, "optimizer",
            f"unknown optimizer {recipe.optimizer!r}; choose one of {list(OPTIMIZERS)}")
    require(recipe.lr_schedule in LR_SCHEDULES, "lr_schedule",
            f"unknown schedule {recipe.lr_schedule!r}; choose one of {list(LR_SCHEDULES)}")
    require(recipe.precision in PRECISIONS, "precision",
            f"unknown precision {recipe.precision!r}; choose one of {list(PRECISIONS)}")
    require(recipe.lr > 0, "lr", f"must be positive, got {recipe.lr}")
    require(recipe.weight_decay >= 0, "weight_decay", f"must be >= 0, got {recipe.weight_decay}")
    require(0 <= recipe.momentum < 1, "momentum", f"must be in [0, 1), got {recipe.momentum}")
    if recipe.nesterov:
        require(recipe.optimizer == "sgd", "nesterov",
                f"true needs optimizer: sgd, got {recipe.optimizer!r}")
        require(recipe.momentum > 0, "nesterov", "true needs momentum > 0")
    require(recipe.epochs >= 1, "epochs", f"must be at least 1, got {recipe.epochs}")
    require(recipe.batch_size >= 2, "batch_size", f"must be at least 2, got {recipe.batch_size}")
    require(recipe.eval_batch_size >= 1, "eval_batch_size",
            f"must be at least 1, got {recipe.eval_batch_size}")
    require(0 <= recipe.label_smoothing < 1, "label_smoothing",
            f"must be in [0, 1), got {recipe.label_smoothing}")
    require(0 <= recipe.warmup_epochs < recipe.epochs, "warmup_epochs",
            f"must be in [0, epochs={recipe.epochs}), got {recipe.warmup_epochs}")
    require(recipe.warmup_epochs == 0 or recipe.lr_schedule != "one_cycle", "warmup_epochs",
            "must be 0 with lr_schedule: one_cycle (it warms up over its first 30% of steps)")
    require(recipe.crop_padding >= 0, "crop_padding", f"must be >= 0, got {recipe.crop_padding}")
    require(0 < recipe.data_fraction <= 1, "data_fraction",
            f"must be in (0, 1], got {recipe.data_fraction}")
