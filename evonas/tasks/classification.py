"""Supervised image classification: data held as numpy splits, trained with a :class:`Recipe`.

:class:`ClassificationTask` is the shared half of every dataset task (``digits`` and the file
formats of :mod:`evonas.tasks.datasets`: ``idx``, ``npz``, ``image_folder``, ``cifar``): it holds
the train/validation/test arrays, compiles a genome for the input shape and trains it with the
recipe. Subclasses only load their arrays. Fitness is validation accuracy; test accuracy is
reported and never used for selection.

The split helpers are pure functions of their arguments and seed: :func:`stratified_split` cuts
all samples three ways, :func:`stratified_holdout` carves one share out (a validation split from
a training set) and :func:`stratified_subset` draws a fixed number of samples (a proxy training
set), each keeping the class proportions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.base import Task
from evonas.tasks.options import require
from evonas.tasks.plan import TrainingPlan
from evonas.tasks.recipe import Recipe

if TYPE_CHECKING:
    from genomes import DAGGenome, SearchSpace

#: Split options every classification task accepts, with their defaults.
SPLIT_DEFAULTS: dict[str, Any] = {
    "split_seed": 0,
    "train_fraction": 0.6,
    "val_fraction": 0.2,
    "test_fraction": 0.2,
}


@dataclass(frozen=True)
class Splits:
    """Train/validation/test arrays: inputs ``float32 (N, C, H, W)``, labels ``int64 (N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split_fractions(options: dict[str, Any]) -> tuple[float, float, float]:
    """The ``(train, val, test)`` fractions from task options, checked.

    Raises:
        TaskError: naming the fraction at fault.
    """
    fractions = (options["train_fraction"], options["val_fraction"], options["test_fraction"])
    for key, value in zip(("train_fraction", "val_fraction", "test_fraction"), fractions,
                          strict=True):
        require(0 < value < 1, key, f"must be between 0 and 1, got {value}")
    require(abs(sum(fractions) - 1.0) < 1e-6, "train_fraction",
            f"train_fraction + val_fraction + test_fraction must be 1, got {sum(fractions):g}")
    return fractions


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float],
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sample indices into train/val/test with each class in the given proportions.

    Every class is shuffled with ``numpy.random.default_rng(seed)`` and cut at the rounded
    fractions, so the split is a pure function of ``(labels, fractions, seed)``.

    Returns:
        Three sorted, disjoint index arrays covering every sample.
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train = round(len(members) * fractions[0])
        n_val = round(len(members) * fractions[1])
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_val])
        parts[2].append(members[n_train + n_val:])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


def stratified_holdout(labels: np.ndarray, fraction: float,
                       seed: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Carve ``fraction`` of every class out of ``labels``' samples.

    Each class is shuffled with ``numpy.random.default_rng(seed)`` and its first
    ``round(n * fraction)`` members are held out, so the result is a pure function of
    ``(labels, fraction, seed)``.

    Args:
        labels: the class of each sample.
        fraction: the share held out, in ``(0, 1)``.
        seed: an int or a sequence of ints (``[split_seed, stage]`` keeps the stages apart).

    Returns:
        ``(kept, held)``: two sorted, disjoint index arrays covering every sample.
    """
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    held: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_held = round(len(members) * fraction)
        held.append(members[:n_held])
        kept.append(members[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def stratified_subset(labels: np.ndarray, count: int, seed: int | Sequence[int]) -> np.ndarray:
    """Exactly ``min(count, len(labels))`` sample indices, each class in proportion.

    Every class gets ``floor(count * share)`` samples; the remaining ones go to the classes with
    the largest fractional parts (ties to the smaller class label). Members are drawn with
    ``numpy.random.default_rng(seed)``.

    Returns:
        Sorted indices into ``labels``.
    """
    if count >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * (count / len(labels))
    quota = np.floor(exact).astype(np.int64)
    leftover = count - int(quota.sum())
    if leftover > 0:
        order = np.lexsort((classes, -(exact - quota)))  # largest remainder first
        quota[order[:leftover]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:n]
              for cls, n in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate([np.zeros(0, dtype=np.int64), *chosen]))


def make_splits(x: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float],
                seed: int) -> Splits:
    """Cut arrays into :class:`Splits` with :func:`stratified_split`."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    train, val, test = stratified_split(y, fractions, seed)
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test])


class ClassificationTask(Task["DAGGenome"]):
    """Train the compiled genome on the train split; fitness = validation accuracy.

    Metrics: ``fitness`` (= ``val_accuracy``), ``val_accuracy``, ``val_loss``,
    ``test_accuracy``, ``params``, ``train_seconds``, ``epochs``.

    Args:
        space: the search space the genomes come from (the compiler needs it).
        splits: the data.
        num_classes: number of classes.
        recipe: how to train.
    """

    fitness_metric = "val_accuracy"
    input_shape: tuple[int, int, int]
    num_classes: int
    #: :meth:`evaluate` honours ``batch_scale`` (the evaluator's out-of-memory retry uses it).
    scales_batch = True
    #: :meth:`evaluate` honours a :class:`~evonas.tasks.plan.TrainingPlan` (kept weights,
    #: fidelity rungs, weight inheritance).
    accepts_plan = True

    def __init__(self, space: SearchSpace, splits: Splits, num_classes: int,
                 recipe: Recipe) -> None:
        self.space = space
        self.splits = splits
        self.recipe = recipe
        self.num_classes = num_classes
        c, h, w = splits.x_train.shape[1:]
        self.input_shape = (int(c), int(h), int(w))
        self._tensors: dict[str, Any] = {}

    def warm_up(self, device: str = "cpu") -> None:
        """Import torch and the compiler and copy the data to ``device``."""
        import evonas.compiler  # noqa: F401 (the import is the warm-up)

        self._data(device)

    def evaluate(self, genome: DAGGenome, seed: int, device: str = "cpu", *,
                 batch_scale: float = 1.0, plan: TrainingPlan | None = None
                 ) -> dict[str, float]:
        """Compile, train and score ``genome``; see the class docstring for the metrics.

        Args:
            genome: the architecture.
            seed: seeds weight initialisation and batch order.
            device: the torch device.
            batch_scale: multiplies the recipe's training and scoring batch sizes (at least 2
                and 1); the evaluator retries an out-of-memory evaluation with ``0.5``.
            plan: weight files and fidelity (see
                :func:`~evonas.tasks.training.train_and_score`); None: the recipe from scratch.

        Raises:
            EvaluationFailure: ``"nan loss"`` when the loss becomes NaN or infinite.
        """
        from evonas.tasks import training  # local: torch loads in the worker, not with the package

        recipe = self.recipe
        if batch_scale != 1.0:
            recipe = replace(recipe, batch_size=max(2, int(recipe.batch_size * batch_scale)),
                             eval_batch_size=max(1, int(recipe.eval_batch_size * batch_scale)))
        return training.train_and_score(genome, self.space, self._data(device), self.input_shape,
                                        self.num_classes, recipe, seed, device, plan)

    def _data(self, device: str) -> tuple[Any, ...]:
        """The splits as tensors on ``device``, copied once per device."""
        from evonas.tasks import training  # torch is imported on first use, not with the package

        data = self._tensors.get(device)
        if data is None:
            data = self._tensors[device] = training.splits_to_tensors(self.splits, device)
        return data
