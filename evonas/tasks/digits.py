"""The digits task: scikit-learn's embedded 8x8 handwritten digits (1,797 images, no download).

Images are ``1 x 8 x 8`` scaled to ``[0, 1]``; a stratified train/validation/test split is fixed by
``split_seed``. Each evaluation compiles the genome for ``(1, 8, 8)`` inputs and 10 classes and
trains it with the recipe (see :data:`DIGITS_DEFAULTS`). The defaults train a small network to about
0.97-0.99 test accuracy in a few seconds on one CPU core. Config::

    task:
      name: digits
      epochs: 8
      lr: 0.01
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evonas.tasks.classification import (
    SPLIT_DEFAULTS,
    ClassificationTask,
    make_splits,
    split_fractions,
)
from evonas.tasks.options import read_options
from evonas.tasks.recipe import RECIPE_DEFAULTS, Recipe, recipe_from_options
from genomes import SearchSpace

#: Documented options of ``name: digits`` and their defaults.
DIGITS_DEFAULTS: dict[str, Any] = {**SPLIT_DEFAULTS, **RECIPE_DEFAULTS}


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits images as ``float32 (1797, 1, 8, 8)`` in ``[0, 1]`` and labels ``int64``."""
    from sklearn.datasets import load_digits  # local: sklearn loads only with the data

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return x, bunch.target.astype(np.int64)


class DigitsTask(ClassificationTask):
    """Digits classification; fitness = validation accuracy.

    Args:
        space: the search space of the genomes.
        recipe: the training recipe (default: :class:`Recipe`'s defaults).
        split_seed: seeds the stratified split (fixed for a campaign).
        fractions: ``(train, val, test)`` fractions, summing to 1.
    """

    name = "digits"

    def __init__(self, space: SearchSpace, recipe: Recipe | None = None, split_seed: int = 0,
                 fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> None:
        x, y = load_digits_arrays()
        super().__init__(space, make_splits(x, y, fractions, split_seed), 10, recipe or Recipe())
        self.split_seed = split_seed


def make_digits_task(task_config: dict[str, Any], space: SearchSpace) -> DigitsTask:
    """The registry factory for ``name: digits``."""
    options = read_options("digits", task_config, DIGITS_DEFAULTS)
    return DigitsTask(space, recipe_from_options(options), options["split_seed"],
                      split_fractions(options))
