"""Adapter: a ``torch.utils.data.Dataset`` (torchvision's, your own) as a dataset task.

A config names a factory by import path and the factory builds the datasets and hands them over::

    # campaign.yaml
    task:
      name: my_project.data:make_task
      epochs: 4
      max_train: 10000
      root: ~/data           # an option of the factory itself

    # my_project/data.py
    from torchvision import datasets, transforms
    from evonas.tasks.datasets import read_dataset_options, torch_dataset_task

    OPTIONS = {"root": "~/data"}   # the factory's own options and their defaults

    def make_task(task_config, space):
        options = read_dataset_options(task_config["name"], task_config, OPTIONS)  # checks keys
        to_tensor = transforms.ToTensor()
        train = datasets.KMNIST(options["root"], train=True, transform=to_tensor)  # downloaded
        test = datasets.KMNIST(options["root"], train=False, transform=to_tensor)  # beforehand
        return torch_dataset_task(task_config, space, train, test, extra_defaults=OPTIONS)

:func:`torch_dataset_task` reads the usual dataset options (recipe, ``val_fraction``,
``test_fraction``, ``max_train``, ``normalize``...) from ``task_config``, reads each dataset once,
item by item, into numpy arrays (:func:`arrays_from_torch_dataset`) and splits them like the file
formats do, so every worker process that calls the factory gets the same splits. From Python,
:meth:`~evonas.tasks.datasets.DatasetTask.from_torch` does the same without a config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.datasets.base import (
    LAYOUTS,
    DatasetTask,
    SplitPlan,
    read_dataset_options,
    to_nchw,
)
from evonas.tasks.errors import TaskError
from evonas.tasks.options import require
from evonas.tasks.recipe import recipe_from_options

if TYPE_CHECKING:
    from genomes import SearchSpace


def _image_array(image: Any, layout: str) -> np.ndarray:
    """One item's image as ``(C, H, W)``: tensors are CHW, PIL images HWC, arrays by ``layout``."""
    if hasattr(image, "detach") and hasattr(image, "numpy"):  # a torch tensor: (C, H, W)
        array = image.detach().cpu().numpy()
        return array[None] if array.ndim == 2 else array
    if hasattr(image, "getbands"):  # a PIL image: (H, W) or (H, W, C)
        array = np.asarray(image)
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    array = np.asarray(image)
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return to_nchw(array[None], layout, "image")[0]
    return array  # reported by the caller, with the item number


def _label(target: Any) -> int:
    if hasattr(target, "item"):  # a 0-d tensor or numpy scalar
        target = target.item()
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise TypeError(f"a class index, got {target!r}")
    return int(target)


def arrays_from_torch_dataset(dataset: Any, *, layout: str = "auto", limit: int = 0,
                              where: str = "dataset") -> tuple[np.ndarray, np.ndarray]:
    """Read a map-style dataset of ``(image, label)`` items into numpy arrays.

    Items are read in index order (``dataset[0]``, ``dataset[1]``, ...), once. Images may be torch
    tensors ``(C, H, W)`` or ``(H, W)``, PIL images, or numpy arrays (``(H, W)``, or 3-D read by
    ``layout``); labels ints, numpy integers or one-element tensors. The image array keeps the
    first item's dtype (``uint8`` for PIL images, ``float32`` after ``ToTensor``).

    Args:
        dataset: anything with ``__len__`` and ``__getitem__`` (a ``torch.utils.data.Dataset``).
        layout: ``auto``, ``nchw`` or ``nhwc``, for 3-D numpy images (``chw`` / ``hwc``).
        limit: read only the first ``limit`` items (0: all).
        where: what a message starts with (``train dataset``).

    Returns:
        ``(images (N, C, H, W), labels int64 (N,))``.

    Raises:
        TaskError: ``task: <where>: item 7: ...`` for an item that is not an ``(image, label)``
            pair, an image of another shape than the first, or a label that is no class index.
    """
    require(layout in LAYOUTS, "layout", f"must be one of {list(LAYOUTS)}, got {layout!r}")
    try:
        n = len(dataset)
    except TypeError:
        raise TaskError(f"task: {where}: has no length; give a map-style dataset "
                        f"(got {type(dataset).__name__})") from None
    if limit:
        n = min(n, limit)
    if n == 0:
        raise TaskError(f"task: {where}: is empty")
    images: np.ndarray | None = None
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, tuple | list) or len(item) < 2:
            raise TaskError(f"task: {where}: item {i}: expected an (image, label) pair, got "
                            f"{type(item).__name__}")
        try:
            image = _image_array(item[0], layout)
            labels[i] = _label(item[1])
        except (TypeError, ValueError, TaskError) as exc:
            raise TaskError(f"task: {where}: item {i}: {exc}") from None
        if images is None:
            if image.ndim != 3 or image.dtype.kind not in "uifb":
                raise TaskError(f"task: {where}: item 0: expected an image (C, H, W), got "
                                f"{image.dtype} shape {image.shape}")
            images = np.empty((n, *image.shape), dtype=image.dtype)
        elif image.shape != images.shape[1:]:
            raise TaskError(f"task: {where}: item {i}: image shape {image.shape} differs from "
                            f"item 0's {images.shape[1:]}; resize in the dataset's transform")
        images[i] = image
    assert images is not None
    return images, labels


def torch_dataset_task(task_config: Mapping[str, Any], space: SearchSpace, train: Any,
                       test: Any = None, val: Any = None, *,
                       extra_defaults: Mapping[str, Any] | None = None,
                       layout: str = "auto", num_classes: int | None = None) -> DatasetTask:
    """A dataset task from torch datasets, with the dataset options read from ``task_config``.

    For a factory named by import path (``name: "pkg.mod:make_task"``); see the module docstring.

    Args:
        task_config: the ``task:`` mapping; ``name`` becomes the task's name.
        space: the search space of the genomes.
        train: the training dataset (validation, and test when ``test`` is None, are carved
            from it).
        test: the test dataset, or None.
        val: the validation dataset, or None.
        extra_defaults: the factory's own options and their defaults: accepted (and type-checked)
            here, used by the factory.
        layout: for 3-D numpy images.
        num_classes: the number of classes (default: one more than the largest label).

    Raises:
        TaskError: for a bad option (naming ``task.<key>``) or a bad dataset item.
    """
    name = str(task_config.get("name") or "torch_dataset")
    options = read_dataset_options(name, task_config, extra_defaults)
    plan = SplitPlan.from_options(options)
    recipe = recipe_from_options(options)
    return DatasetTask.from_torch(space, train, test, val, plan=plan, recipe=recipe, name=name,
                                  layout=layout, num_classes=num_classes)
