"""``name: idx``: MNIST-format files (MNIST, Fashion-MNIST, KMNIST), gzipped or not.

An idx file is two zero bytes, a type byte (``0x08`` unsigned byte ... ``0x0E`` double), a byte
counting the dimensions, one big-endian ``uint32`` per dimension, then the values, big-endian.
:func:`read_idx` parses it with numpy (no dependency) and checks that the file holds exactly the
bytes its header announces. A file starting with the gzip magic is decompressed in memory first,
whatever its name; nothing is cached or written.

The folder holds the four files of the MNIST distribution, each plain or ``.gz``
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``; ``train-images.idx3-ubyte`` is found too); an explicit file option
overrides one, relative to ``path``. The t10k files are the test split; validation is carved
from the training files (``val_fraction``, stratified, seeded by ``split_seed``). Config::

    task:
      name: idx
      path: /usr/share/datasets/fashion-mnist   # Debian's dataset-fashion-mnist
      max_train: 10000      # a stratified subset for a quick search (0: all 54,000)
      epochs: 4

Loading Fashion-MNIST (60,000 + 10,000 gzipped 28x28 images) takes about half a second, most of
it decompressing.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.datasets.base import (
    DataArrays,
    DatasetTask,
    build_dataset_task,
    check_labels,
    read_dataset_options,
    resolve_path,
)
from evonas.tasks.errors import TaskError
from evonas.tasks.options import require

if TYPE_CHECKING:
    from genomes import SearchSpace

#: Options of ``name: idx`` beyond the dataset options, with their defaults.
IDX_OPTIONS: dict[str, Any] = {
    "path": "",
    "train_images": "",
    "train_labels": "",
    "test_images": "",
    "test_labels": "",
}

#: The idx type byte -> numpy dtype (big-endian).
IDX_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
                             0x0E: ">f8"}

#: File option -> the names looked for in ``path`` (each also with ``.gz``).
IDX_FILE_NAMES: dict[str, tuple[str, ...]] = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path, key: str = "path") -> np.ndarray:
    """Parse one idx file (gzipped or not) into a numpy array of its stored shape and dtype.

    Args:
        path: the file.
        key: the option that named the file, for messages.

    Raises:
        TaskError: ``task.<key>: FILE: not an idx file (magic 0x...)``, a corrupt gzip stream, or
            a size that does not match the header.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskError(f"task.{key}: {path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise TaskError(f"task.{key}: {path}: corrupt gzip data ({exc})") from None
    magic = raw[:4]
    if len(magic) < 4 or magic[0] or magic[1] or magic[2] not in IDX_TYPES or not magic[3]:
        raise TaskError(f"task.{key}: {path}: not an idx file (magic 0x{magic.hex() or '-'}, "
                        "want 0x0000TTDD: type TT, DD dimensions)")
    ndim = magic[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise TaskError(f"task.{key}: {path}: truncated idx header ({len(raw)} bytes, the header "
                        f"of {ndim} dimensions needs {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[magic[2]])
    count = math.prod(dims)
    expected, actual = count * dtype.itemsize, len(raw) - header
    if actual != expected:
        raise TaskError(f"task.{key}: {path}: {'truncated' if actual < expected else 'too long'}: "
                        f"the header says {'x'.join(map(str, dims))} {dtype.name} values "
                        f"({expected} bytes), the file holds {actual} bytes of data")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


def find_idx_files(options: dict[str, Any]) -> dict[str, Path]:
    """The four files: explicit options first, then the standard names in ``path``.

    Raises:
        TaskError: ``task.path: missing`` when neither names a file,
            ``task.path: FOLDER: no train-images-idx3-ubyte(.gz)`` when one is absent.
    """
    folder = resolve_path(options["path"], "path", folder=True) if options["path"] else None
    files: dict[str, Path] = {}
    for key, names in IDX_FILE_NAMES.items():
        if options[key]:
            files[key] = resolve_path(options[key], key, base=folder)
            continue
        require(folder is not None, "path", "missing; give the folder holding the idx files "
                f"(or all four of {', '.join(IDX_FILE_NAMES)})")
        assert folder is not None
        found = [folder / (name + ext) for name in names for ext in ("", ".gz")
                 if (folder / (name + ext)).is_file()]
        if not found:
            raise TaskError(f"task.path: {folder}: no {names[0]}(.gz) file (or set task.{key})")
        files[key] = found[0]
    return files


def load_idx(options: dict[str, Any]) -> tuple[DataArrays, str]:
    """Read and check the four idx files the options name.

    Returns:
        The arrays (images ``uint8 (N, 1, H, W)`` for MNIST) and the folder (or train images
        file) as the source.

    Raises:
        TaskError: naming the file option and file for a missing, malformed or mismatched file.
    """
    files = find_idx_files(options)
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        image_key, label_key = f"{split}_images", f"{split}_labels"
        images = read_idx(files[image_key], _field(options, image_key))
        if images.ndim != 3:
            raise TaskError(f"task.{_field(options, image_key)}: {files[image_key]}: expected "
                            f"images (N, rows, cols), got dimensions {images.shape}")
        labels = read_idx(files[label_key], _field(options, label_key))
        arrays[f"x_{split}"] = images[:, None]
        arrays[f"y_{split}"] = check_labels(
            labels, len(images), f"task.{_field(options, label_key)}: {files[label_key]}")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise TaskError(f"task.{_field(options, 'test_images')}: {files['test_images']}: images "
                        f"{arrays['x_test'].shape[2:]}, but the training images are "
                        f"{arrays['x_train'].shape[2:]}")
    train_images = files["train_images"]
    source = str(train_images.parent if options["path"] else train_images)
    return DataArrays(arrays["x_train"], arrays["y_train"], x_test=arrays["x_test"],
                      y_test=arrays["y_test"]), source


def _field(options: dict[str, Any], key: str) -> str:
    """The option a message names: the explicit file option, else ``path``."""
    return key if options[key] else "path"


def make_idx_task(task_config: dict[str, Any], space: SearchSpace) -> DatasetTask:
    """The registry factory for ``name: idx``."""
    options = read_dataset_options("idx", task_config, IDX_OPTIONS, with_test_fraction=False)
    return build_dataset_task("idx", options, space, load_idx)


#: Documented options of ``name: idx`` and their defaults.
IDX_DEFAULTS: dict[str, Any] = read_dataset_options("idx", {}, IDX_OPTIONS,
                                                    with_test_fraction=False)
