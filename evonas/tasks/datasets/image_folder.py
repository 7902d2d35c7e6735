"""``name: image_folder``: one folder of images per class (PNG, JPEG, ... read with Pillow).

Two layouts::

    path/cat/*.png, path/dog/*.png, ...                 # split by fraction
    path/train/cat/*.png, path/val/..., path/test/...   # predefined splits (val, test optional)

The classes are the sorted folder names (of ``train/`` in the second layout; a ``val/`` or
``test/`` class folder without a ``train/`` one is an error). Images in subfolders of a class
folder count too. Every image is converted to grayscale (``channels: 1``) or RGB
(``channels: 3``) and resized to ``size: [height, width]`` with bilinear filtering. A missing
split is carved from the training images like the ``npz`` task does (``test_fraction``, then
``val_fraction``; stratified, seeded). Config::

    task:
      name: image_folder
      path: data/flowers
      size: [32, 32]
      channels: 3

Pillow is imported when the task loads (it comes with matplotlib).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.datasets.base import (
    DataArrays,
    DatasetTask,
    build_dataset_task,
    read_dataset_options,
    resolve_path,
)
from evonas.tasks.errors import TaskError
from evonas.tasks.options import require

if TYPE_CHECKING:
    from genomes import SearchSpace

#: Options of ``name: image_folder`` beyond the dataset options, with their defaults.
IMAGE_FOLDER_OPTIONS: dict[str, Any] = {"path": "", "size": [32, 32], "channels": 3}

#: File suffixes read as images (case-insensitive).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif",
                                   ".tiff")
#: Split folder -> the names it may have.
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {"train": ("train",),
                                             "val": ("val", "valid", "validation"),
                                             "test": ("test",)}


def check_size(size: Any) -> tuple[int, int]:
    """``[height, width]``, two positive integers.

    Raises:
        TaskError: ``task.size: ...``.
    """
    ok = (isinstance(size, list) and len(size) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size))
    require(ok, "size", f"must be [height, width], two positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                  and p.is_file() and not p.name.startswith("."))


def _split_roots(root: Path) -> dict[str, Path] | None:
    """The split folders of ``root``, or None when it holds class folders directly."""
    if not (root / "train").is_dir():
        return None
    roots = {"train": root / "train"}
    for split in ("val", "test"):
        for name in SPLIT_FOLDERS[split]:
            if (root / name).is_dir():
                roots[split] = root / name
                break
    return roots


def read_images(files: list[Path], size: tuple[int, int], channels: int) -> np.ndarray:
    """The images as ``uint8 (N, C, H, W)``, converted and resized.

    Raises:
        TaskError: ``task.path: FILE: cannot read the image (...)``.
    """
    from PIL import Image, UnidentifiedImageError  # local: Pillow loads only with this task

    height, width = size
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(files), height, width, channels), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                image.draft(mode, (width, height))  # JPEG: decode at a reduced scale when it can
                picture = image.convert(mode)
                if picture.size != (width, height):
                    picture = picture.resize((width, height), Image.Resampling.BILINEAR)
                out[i] = np.asarray(picture).reshape(height, width, channels)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise TaskError(f"task.path: {path}: cannot read the image ({exc})") from None
    return out.transpose(0, 3, 1, 2)


def load_image_folder(options: dict[str, Any]) -> tuple[DataArrays, str]:
    """Read the class folders under ``options["path"]``.

    Raises:
        TaskError: naming the folder or file for no classes, an empty class or an unreadable
            image.
    """
    size = check_size(options["size"])
    channels = options["channels"]
    require(channels in (1, 3), "channels", f"must be 1 (grayscale) or 3 (RGB), got {channels}")
    root = resolve_path(options["path"], "path", folder=True)
    roots = _split_roots(root) or {"train": root}
    train_root = roots["train"]
    classes = [folder.name for folder in _subfolders(train_root)]
    if len(classes) < 2:
        raise TaskError(f"task.path: {train_root}: needs a folder per class (at least 2), found "
                        f"{classes or 'none'}")
    index = {name: i for i, name in enumerate(classes)}
    arrays: dict[str, np.ndarray] = {}
    for split, split_root in roots.items():
        files: list[Path] = []
        labels: list[int] = []
        for folder in _subfolders(split_root):
            if folder.name not in index:
                raise TaskError(f"task.path: {folder}: class {folder.name!r} has no folder in "
                                f"{train_root}")
            found = _images(folder)
            if not found and split == "train":
                raise TaskError(f"task.path: {folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
            labels += [index[folder.name]] * len(found)
        if not files:
            raise TaskError(f"task.path: {split_root}: no images in its class folders")
        arrays[f"x_{split}"] = read_images(files, size, channels)
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return DataArrays(**arrays, num_classes=len(classes), class_names=tuple(classes)), str(root)


def make_image_folder_task(task_config: dict[str, Any], space: SearchSpace) -> DatasetTask:
    """The registry factory for ``name: image_folder``."""
    options = read_dataset_options("image_folder", task_config, IMAGE_FOLDER_OPTIONS)
    check_size(options["size"])
    return build_dataset_task("image_folder", options, space, load_image_folder)


#: Documented options of ``name: image_folder`` and their defaults.
IMAGE_FOLDER_DEFAULTS: dict[str, Any] = read_dataset_options("image_folder", {},
                                                             IMAGE_FOLDER_OPTIONS)
