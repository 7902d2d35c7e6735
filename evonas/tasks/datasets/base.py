"""What every dataset task shares: the split plan, normalisation and :class:`DatasetTask`.

A loader returns :class:`DataArrays` (images ``(N, C, H, W)`` in their stored dtype, labels
``int64``; validation and test arrays where the data has them). :meth:`DatasetTask.from_data`
then, in this order:

1. holds ``test_fraction`` of every class out of the training data as the test split, when the
   data has no test split (seed ``[split_seed, 1]``);
2. carves ``val_fraction`` of every class out of the remaining training data as the validation
   split, when the data has none (seed ``[split_seed, 2]``);
3. draws ``max_train`` / ``max_val`` / ``max_test`` samples of a split, stratified and seeded
   (``[split_seed, 3..5]``), where one is set above 0 (proxy runs on a subset);
4. converts to ``float32`` (``uint8`` images are divided by 255; other dtypes are cast as they
   are);
5. with ``normalize`` (the default), subtracts the per-channel mean and divides by the
   per-channel standard deviation of the *train* split, from all three splits.

Each step is a pure function of the data and ``split_seed``, so every worker process builds the
same splits. The test split is never used for selection: fitness is validation accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.classification import (
    ClassificationTask,
    Splits,
    stratified_holdout,
    stratified_subset,
)
from evonas.tasks.errors import TaskError
from evonas.tasks.options import read_options, require
from evonas.tasks.recipe import RECIPE_DEFAULTS, Recipe, recipe_from_options

if TYPE_CHECKING:
    from collections.abc import Mapping

    from genomes import SearchSpace

#: Split and preprocessing options of every dataset task, with their defaults.
DATASET_SPLIT_DEFAULTS: dict[str, Any] = {
    "split_seed": 0,
    "val_fraction": 0.1,
    "normalize": True,
    "max_train": 0,
    "max_val": 0,
    "max_test": 0,
}
#: ``test_fraction`` is an option of the formats whose files may hold no test split.
TEST_FRACTION_DEFAULTS: dict[str, Any] = {"test_fraction": 0.2}
#: Options every dataset task accepts: the split plan and the training recipe.
DATASET_DEFAULTS: dict[str, Any] = {**DATASET_SPLIT_DEFAULTS, **RECIPE_DEFAULTS}

LAYOUTS: tuple[str, ...] = ("auto", "nchw", "nhwc")


@dataclass(frozen=True)
class SplitPlan:
    """How loaded arrays become :class:`Splits` (see the module docstring for the steps).

    Attributes:
        split_seed: seeds every carve and subsample.
        val_fraction: share of the training data carved out as validation (data without one).
        test_fraction: share of all data held out as test (data without a test split).
        normalize: standardise every channel with the train split's mean and std.
        max_train: keep at most this many training samples (0: all).
        max_val: keep at most this many validation samples (0: all).
        max_test: keep at most this many test samples (0: all).
    """

    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    normalize: bool = True
    max_train: int = 0
    max_val: int = 0
    max_test: int = 0

    def __post_init__(self) -> None:
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            require(0 < value < 1, key, f"must be between 0 and 1 (exclusive), got {value}")
        for key in ("max_train", "max_val", "max_test"):
            value = getattr(self, key)
            require(value >= 0, key, f"must be 0 (all) or a positive count, got {value}")
        require(self.max_train == 0 or self.max_train >= 2, "max_train",
                f"must be 0 (all) or at least 2, got {self.max_train}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SplitPlan:
        """The plan from checked task options (keys it does not know are ignored).

        Raises:
            TaskError: naming ``task.<option>`` for an out-of-range value.
        """
        names = [f for f in cls.__dataclass_fields__ if f in options]
        return cls(**{name: options[name] for name in names})


@dataclass
class DataArrays:
    """Arrays as a loader read them, before splitting and conversion.

    Attributes:
        x_train: training images ``(N, C, H, W)``, any numeric dtype (``uint8`` is scaled by 1/255).
        y_train: training labels ``int64 (N,)``, in ``[0, num_classes)``.
        x_val: validation images, or None to carve them from the training data.
        y_val: validation labels, or None.
        x_test: test images, or None to hold them out of the training data.
        y_test: test labels, or None.
        num_classes: the number of classes, or None for one more than the largest label.
        class_names: a name per class, where the data has them.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None


def read_dataset_options(task_name: str, task_config: Mapping[str, Any],
                         extra_defaults: Mapping[str, Any] | None = None, *,
                         with_test_fraction: bool = True) -> dict[str, Any]:
    """Check a ``task:`` mapping against the dataset options plus a factory's own.

    Args:
        task_name: the task's name, for messages.
        task_config: the user's ``task:`` mapping.
        extra_defaults: the options a factory adds (a path, an image size) and their defaults.
        with_test_fraction: accept ``test_fraction`` (for data that may hold no test split).

    Returns:
        Every option, set (see :func:`evonas.tasks.options.read_options`).

    Raises:
        TaskError: naming ``task.<key>`` for an unknown key or a wrongly typed value.
    """
    defaults = {**DATASET_SPLIT_DEFAULTS, **(TEST_FRACTION_DEFAULTS if with_test_fraction else {}),
                **RECIPE_DEFAULTS, **(extra_defaults or {})}
    return read_options(task_name, task_config, defaults)


def resolve_path(value: str, key: str, *, base: Path | None = None, folder: bool = False) -> Path:
    """The existing file (or folder) a path option names.

    Args:
        value: the option's value; ``~`` expands, a relative path is taken from ``base`` (or the
            current directory).
        key: the option's name, for messages.
        base: the folder relative paths start from.
        folder: want a folder instead of a file.

    Raises:
        TaskError: ``task.<key>: missing`` for an empty value, ``task.<key>: PATH: not found``
            (or ``not a folder`` / ``not a file``).
    """
    require(bool(value), key, "missing; give a path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.exists():
        raise TaskError(f"task.{key}: {path}: not found")
    if folder and not path.is_dir():
        raise TaskError(f"task.{key}: {path}: not a folder")
    if not folder and not path.is_file():
        raise TaskError(f"task.{key}: {path}: not a file")
    return path


def to_nchw(x: np.ndarray, layout: str, where: str) -> np.ndarray:
    """Images as ``(N, C, H, W)``: ``(N, H, W)`` gains a channel axis, 4-D arrays follow ``layout``.

    ``auto`` reads the layout off the shape: the smaller of axes 1 and 3 holds the channels
    (``(N, 3, 32, 32)`` is NCHW, ``(N, 28, 28, 1)`` NHWC).

    Args:
        x: the images.
        layout: ``auto``, ``nchw`` or ``nhwc``.
        where: what the message starts with (``task.path: FILE: x``).

    Raises:
        TaskError: for another number of dimensions, or a shape ``auto`` cannot read (axes 1 and
            3 of the same size).
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise TaskError(f"{where}: expected images (N, H, W), (N, C, H, W) or (N, H, W, C), got "
                        f"shape {x.shape}")
    if layout == "auto":
        if x.shape[1] == x.shape[3]:
            raise TaskError(f"{where}: cannot tell the channel axis of shape {x.shape} (axes 1 "
                            "and 3 have the same size); set task.layout: nchw or nhwc")
        layout = "nchw" if x.shape[1] < x.shape[3] else "nhwc"
    return x if layout == "nchw" else x.transpose(0, 3, 1, 2)


def check_labels(y: np.ndarray, n_images: int, where: str) -> np.ndarray:
    """Labels as ``int64 (N,)``, checked: whole non-negative numbers, one per image.

    ``(N, 1)`` columns are flattened and whole-valued floats accepted.

    Raises:
        TaskError: starting with ``where``, saying what is wrong.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise TaskError(f"{where}: expected one label per image (shape (N,)), got shape {y.shape}")
    if len(y) != n_images:
        raise TaskError(f"{where}: {len(y)} labels for {n_images} images")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise TaskError(f"{where}: labels must be whole numbers (class indices)")
    elif y.dtype.kind not in "iub":
        raise TaskError(f"{where}: labels must be integers (class indices), got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise TaskError(f"{where}: labels must be class indices 0, 1, ...; got {y.min()}")
    return y.astype(np.int64)


def check_images(x: np.ndarray, where: str) -> None:
    """Refuse images of a non-numeric dtype, or float images holding NaN or infinity.

    Raises:
        TaskError: starting with ``where``.
    """
    if x.dtype.kind not in "uifb":
        raise TaskError(f"{where}: images must be numbers, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise TaskError(f"{where}: images hold NaN or infinite values")


def _as_float(x: np.ndarray) -> np.ndarray:
    """``float32``, C-contiguous; ``uint8`` scaled to ``[0, 1]``."""
    out = x.astype(np.float32, order="C")
    if x.dtype == np.uint8:
        out *= np.float32(1 / 255)
    return out


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``(N, C, H, W)`` images (``float32 (C,)``).

    Sums and sums of squares accumulate in ``float64``, a block of images at a time (fast, and
    no float64 copy of the whole split). A constant channel gets a standard deviation of 1
    (normalising leaves it at 0).
    """
    channels = x.shape[1]
    total = np.zeros(channels, np.float64)
    squares = np.zeros(channels, np.float64)
    for begin in range(0, len(x), 2048):
        block = x[begin:begin + 2048].astype(np.float64)
        total += block.sum(axis=(0, 2, 3))
        squares += np.square(block).sum(axis=(0, 2, 3))
    count = max(x.size // max(channels, 1), 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[~(std > 1e-6 * np.maximum(np.abs(mean), 1.0))] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def prepare_splits(data: DataArrays, plan: SplitPlan) -> tuple[Splits, np.ndarray, np.ndarray]:
    """Turn loaded arrays into float32 :class:`Splits` following ``plan``.

    Returns:
        ``(splits, mean, std)``; ``mean`` and ``std`` are the per-channel statistics of the train
        split that were applied (zeros and ones without ``normalize``).

    Raises:
        TaskError: naming ``task.val_fraction`` / ``task.test_fraction`` when a split would be
            empty.
    """
    seed = plan.split_seed
    x_pool, y_pool = data.x_train, data.y_train
    pool = np.arange(len(y_pool))
    test_ref: tuple[np.ndarray, np.ndarray]
    val_ref: tuple[np.ndarray, np.ndarray]
    if data.x_test is None or data.y_test is None:
        kept, held = stratified_holdout(y_pool, plan.test_fraction, [seed, 1])
        require(len(held) > 0, "test_fraction",
                f"{plan.test_fraction} of {len(y_pool)} samples leaves no test samples")
        test_ref, pool = (x_pool[held], y_pool[held]), kept
    else:
        test_ref = (data.x_test, data.y_test)
    if data.x_val is None or data.y_val is None:
        kept, held = stratified_holdout(y_pool[pool], plan.val_fraction, [seed, 2])
        require(len(held) > 0, "val_fraction",
                f"{plan.val_fraction} of {len(pool)} training samples leaves no validation "
                "samples")
        val_ref, pool = (x_pool[pool[held]], y_pool[pool[held]]), pool[kept]
    else:
        val_ref = (data.x_val, data.y_val)
    require(len(pool) >= 2, "val_fraction",
            f"leaves {len(pool)} training samples; at least 2 are needed")
    if plan.max_train:
        pool = pool[stratified_subset(y_pool[pool], plan.max_train, [seed, 3])]
    x_val, y_val = _limit(val_ref, plan.max_val, [seed, 4])
    x_test, y_test = _limit(test_ref, plan.max_test, [seed, 5])
    x_train = _as_float(x_pool[pool])
    x_val, x_test = _as_float(x_val), _as_float(x_test)
    channels = x_train.shape[1]
    if plan.normalize:
        mean, std = channel_stats(x_train)
        shift, scale = mean[None, :, None, None], (1 / std)[None, :, None, None]
        for x in (x_train, x_val, x_test):
            x -= shift
            x *= scale
    else:
        mean, std = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    splits = Splits(x_train, np.ascontiguousarray(y_pool[pool], dtype=np.int64),
                    x_val, np.ascontiguousarray(y_val, dtype=np.int64),
                    x_test, np.ascontiguousarray(y_test, dtype=np.int64))
    return splits, mean, std


def _limit(split: tuple[np.ndarray, np.ndarray], count: int,
           seed: list[int]) -> tuple[np.ndarray, np.ndarray]:
    x, y = split
    if not count or count >= len(y):
        return x, y
    keep = stratified_subset(y, count, seed)
    return x[keep], y[keep]


class DatasetTask(ClassificationTask):
    """Image classification on arrays from a file format or a dataset object.

    Build one with a format's factory (``name: idx``, ``npz``, ``image_folder``, ``cifar``),
    :meth:`from_arrays` or :meth:`from_torch`. Metrics are :class:`ClassificationTask`'s;
    fitness is validation accuracy.

    Args:
        space: the search space of the genomes.
        splits: the data, already split, converted and normalised.
        num_classes: number of classes.
        recipe: the training recipe (default: :class:`Recipe`'s defaults).
        name: the task's name (``idx``, ``npz``, the factory's import path...).
        source: where the data came from, for :meth:`describe`.
        class_names: a name per class, where known.
        mean: the per-channel mean subtracted from every split (from the train split).
        std: the per-channel standard deviation every split was divided by.

    Attributes:
        mean: see Args; with ``std``, what a deployed network's inputs need too.
        std: see Args.
    """

    def __init__(self, space: SearchSpace, splits: Splits, num_classes: int,
                 recipe: Recipe | None = None, *, name: str = "dataset", source: str = "",
                 class_names: tuple[str, ...] | None = None, mean: np.ndarray | None = None,
                 std: np.ndarray | None = None) -> None:
        super().__init__(space, splits, num_classes, recipe or Recipe())
        channels = self.input_shape[0]
        self.name = name
        self.source = source
        self.class_names = class_names
        self.mean = np.zeros(channels, np.float32) if mean is None else mean
        self.std = np.ones(channels, np.float32) if std is None else std

    @classmethod
    def from_data(cls, space: SearchSpace, data: DataArrays, plan: SplitPlan | None = None,
                  recipe: Recipe | None = None, *, name: str = "dataset",
                  source: str = "", where: str = "") -> DatasetTask:
        """Split, convert and normalise loaded arrays (module docstring) into a task.

        Args:
            space: the search space of the genomes.
            data: the loaded arrays.
            plan: how to split (default: :class:`SplitPlan`'s defaults).
            recipe: the training recipe.
            name: the task's name.
            source: where the data came from (a path), for :meth:`describe`.
            where: what a message about the labels starts with (``task.path: FILE``).

        Raises:
            TaskError: when a split would be empty or a label is out of range.
        """
        plan = plan or SplitPlan()
        where = where or "task"
        labels = [y for y in (data.y_train, data.y_val, data.y_test) if y is not None and len(y)]
        largest = max(int(y.max()) for y in labels) if labels else -1
        num_classes = data.num_classes if data.num_classes is not None else largest + 1
        if largest >= num_classes:
            raise TaskError(f"{where}: label {largest}, but there are {num_classes} classes")
        if num_classes < 2:
            raise TaskError(f"{where}: needs at least 2 classes, got {num_classes}")
        splits, mean, std = prepare_splits(data, plan)
        return cls(space, splits, num_classes, recipe, name=name, source=source,
                   class_names=data.class_names, mean=mean, std=std)

    @classmethod
    def from_arrays(cls, space: SearchSpace, x: np.ndarray, y: np.ndarray, *,
                    x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                    x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                    layout: str = "auto", plan: SplitPlan | None = None,
                    recipe: Recipe | None = None, name: str = "arrays",
                    num_classes: int | None = None) -> DatasetTask:
        """A task from numpy arrays: images ``(N, H, W)``, NCHW or NHWC, labels ``(N,)``.

        Validation and test arrays are optional (carved from ``x, y`` by ``plan`` otherwise).

        Raises:
            TaskError: for arrays of the wrong shape or dtype, naming which.
        """
        require(layout in LAYOUTS, "layout", f"must be one of {list(LAYOUTS)}, got {layout!r}")
        arrays: dict[str, np.ndarray | None] = {}
        for split, xs, ys in (("train", x, y), ("val", x_val, y_val), ("test", x_test, y_test)):
            if (xs is None) != (ys is None):
                raise TaskError(f"task: x_{split} and y_{split} must be given together")
            if xs is None or ys is None:
                arrays[f"x_{split}"] = arrays[f"y_{split}"] = None
                continue
            xs, ys = np.asarray(xs), np.asarray(ys)
            check_images(xs, f"task: x_{split}")
            arrays[f"x_{split}"] = to_nchw(xs, layout, f"task: x_{split}")
            arrays[f"y_{split}"] = check_labels(ys, len(xs), f"task: y_{split}")
        check_same_image_shape(arrays, "task")
        data = DataArrays(**arrays, num_classes=num_classes)  # type: ignore[arg-type]
        return cls.from_data(space, data, plan, recipe, name=name, source="arrays")

    @classmethod
    def from_torch(cls, space: SearchSpace, train: Any, test: Any = None, val: Any = None, *,
                   plan: SplitPlan | None = None, recipe: Recipe | None = None,
                   name: str = "torch_dataset", layout: str = "auto",
                   num_classes: int | None = None) -> DatasetTask:
        """A task from ``torch.utils.data.Dataset`` objects yielding ``(image, label)`` pairs.

        Each dataset is read once, item by item, into numpy arrays
        (:func:`evonas.tasks.datasets.torch_dataset.arrays_from_torch_dataset`); images may be
        tensors ``(C, H, W)``, PIL images or numpy arrays. Missing validation and test splits
        are carved from ``train`` by ``plan``.

        Raises:
            TaskError: for an item that is not an ``(image, label)`` pair, or images of
                different shapes.
        """
        from evonas.tasks.datasets.torch_dataset import arrays_from_torch_dataset

        x, y = arrays_from_torch_dataset(train, layout=layout, where="train dataset")
        x_val = y_val = x_test = y_test = None
        if val is not None:
            x_val, y_val = arrays_from_torch_dataset(val, layout=layout, where="val dataset")
        if test is not None:
            x_test, y_test = arrays_from_torch_dataset(test, layout=layout, where="test dataset")
        return cls.from_arrays(space, x, y, x_val=x_val, y_val=y_val, x_test=x_test,
                               y_test=y_test, plan=plan, recipe=recipe, name=name,
                               num_classes=num_classes)

    def describe(self) -> str:
        """``name (source: 54000/6000/10000 images 1x28x28, 10 classes; fitness = ...)``."""
        s = self.splits
        c, h, w = self.input_shape
        where = f"{self.source}: " if self.source else ""
        return (f"{self.name} ({where}{len(s.y_train)}/{len(s.y_val)}/{len(s.y_test)} "
                f"train/val/test images {c}x{h}x{w}, {self.num_classes} classes; "
                f"fitness = {self.fitness_metric})")


def check_same_image_shape(arrays: Mapping[str, np.ndarray | None], where: str) -> None:
    """Every ``x_*`` array of ``arrays`` has the same ``(C, H, W)`` as ``x_train``.

    Raises:
        TaskError: ``<where>: x_test: images 3x32x32, but x_train has 1x28x28``.
    """
    reference = arrays.get("x_train")
    if reference is None:
        return
    for key, x in arrays.items():
        if key.startswith("x_") and x is not None and x.shape[1:] != reference.shape[1:]:
            raise TaskError(f"{where}: {key}: images {_shape(x)}, but x_train has "
                            f"{_shape(reference)}")


def _shape(x: np.ndarray) -> str:
    return "x".join(str(d) for d in x.shape[1:])


def build_dataset_task(name: str, options: dict[str, Any], space: SearchSpace,
                       load: Any) -> DatasetTask:
    """The common tail of a format's factory: check the plan and recipe, then load and split.

    Args:
        name: the task's registered name.
        options: the checked options.
        space: the search space.
        load: ``load(options) -> (DataArrays, source)``, called after the cheap checks.
    """
    plan = SplitPlan.from_options(options)
    recipe = recipe_from_options(options)
    data, source = load(options)
    return DatasetTask.from_data(space, data, plan, recipe, name=name, source=source,
                                 where=f"task.path: {source}")
