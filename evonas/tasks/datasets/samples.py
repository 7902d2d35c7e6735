"""Small sample datasets in every supported format, written from scikit-learn's embedded digits.

For tests, documentation and trying a format out without a download: each writer stores the
1,797 8x8 digits (or the first ``limit``) the way the real datasets are stored.
:func:`write_samples` writes them all into one folder and returns a small ``task:`` config for
each format::

    from evonas.tasks import build_task
    from evonas.tasks.datasets.samples import write_samples

    configs = write_samples("/tmp/samples")
    task = build_task(configs["idx"], {"name": "nb201"})
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

#: The idx type byte of each numpy dtype the writer supports.
_IDX_TYPE_BYTES: dict[str, int] = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C,
                                   "float32": 0x0D, "float64": 0x0E}


def digits_uint8(limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The digits as ``uint8 (N, 8, 8)`` images in ``[0, 255]`` and ``int64`` labels."""
    from sklearn.datasets import load_digits  # local: sklearn loads only with the samples

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    return (images[:limit], labels[:limit]) if limit else (images, labels)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an idx file (gzipped when ``compress``, default: the name ends .gz)."""
    path = Path(path)
    array = np.asarray(array)
    type_byte = _IDX_TYPE_BYTES[array.dtype.name]
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    path.write_bytes(payload)
    return path


def write_digits_idx(folder: str | Path, *, compress: bool = True, test: int = 297,
                     limit: int = 0) -> Path:
    """The digits as the four MNIST files: the last ``test`` images are t10k, the rest train."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = digits_uint8(limit)
    ext = ".gz" if compress else ""
    cut = len(labels) - test
    for split, part in (("train", slice(None, cut)), ("t10k", slice(cut, None))):
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images[part], compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", labels[part].astype(np.uint8),
                  compress)
    return folder


def write_digits_npz(path: str | Path, *, layout: str = "nchw", splits: bool = False,
                     limit: int = 0) -> Path:
    """The digits as an ``.npz``: ``x, y`` or (``splits``) ``x_train, ..., y_test``.

    ``layout`` is ``nchw`` (``(N, 1, 8, 8)``), ``nhwc`` (``(N, 8, 8, 1)``) or ``nhw``
    (``(N, 8, 8)``).
    """
    path = Path(path)
    images, labels = digits_uint8(limit)
    x = {"nchw": images[:, None], "nhwc": images[..., None], "nhw": images}[layout]
    if not splits:
        np.savez(path, x=x, y=labels)
        return path
    n = len(labels)
    a, b = int(n * 0.6), int(n * 0.8)
    np.savez(path, x_train=x[:a], y_train=labels[:a], x_val=x[a:b], y_val=labels[a:b],
             x_test=x[b:], y_test=labels[b:])
    return path


def write_digits_png(folder: str | Path, *, splits: bool = False, per_class: int = 0,
                     rgb: bool = False) -> Path:
    """The digits as PNG files, one folder per class (``splits``: under train/, val/, test/).

    Args:
        folder: where to write.
        splits: write ``train/``, ``val/`` and ``test/`` (60/20/20 per class) instead.
        per_class: write only this many images of each class (0: all).
        rgb: write RGB images (the gray level in all three channels).
    """
    from PIL import Image  # local: Pillow loads only with the samples

    folder = Path(folder)
    images, labels = digits_uint8()
    for cls in range(10):
        members = np.flatnonzero(labels == cls)
        if per_class:
            members = members[:per_class]
        n = len(members)
        parts = ({"train": members[:int(n * 0.6)], "val": members[int(n * 0.6):int(n * 0.8)],
                  "test": members[int(n * 0.8):]} if splits else {"": members})
        for split, indices in parts.items():
            target = folder / split / f"digit_{cls}"
            target.mkdir(parents=True, exist_ok=True)
            for i in indices:
                image = Image.fromarray(images[i], mode="L")
                (image.convert("RGB") if rgb else image).save(target / f"{i:04d}.png")
    return folder


def write_digits_cifar(folder: str | Path, *, cifar100: bool = False, batches: int = 2,
                       limit: int = 0, protocol: int = 2) -> Path:
    """The digits as CIFAR python batches: upscaled to 32x32, gray in all three channels.

    CIFAR-10 (``data_batch_1..<batches>``, ``test_batch``, ``batches.meta``) or, with
    ``cifar100``, CIFAR-100 (``train``, ``test``, ``meta``; fine label = the digit, coarse label
    = the digit // 2). The dicts have ``bytes`` keys like the originals, pickled with
    ``protocol``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = digits_uint8(limit)
    big = np.repeat(np.repeat(images, 4, axis=1), 4, axis=2)  # (N, 32, 32)
    data = np.ascontiguousarray(np.repeat(big[:, None], 3, axis=1).reshape(len(big), 3072))
    cut = len(labels) - len(labels) // 6
    names = [f"digit_{d}".encode() for d in range(10)]

    def dump(name: str, content: dict[bytes, Any]) -> None:
        with open(folder / name, "wb") as handle:
            pickle.dump(content, handle, protocol=protocol)

    if cifar100:
        for name, part in (("train", slice(None, cut)), ("test", slice(cut, None))):
            dump(name, {b"data": data[part], b"fine_labels": labels[part].tolist(),
                        b"coarse_labels": (labels[part] // 2).tolist(),
                        b"filenames": [b"x.png"] * len(labels[part])})
        dump("meta", {b"fine_label_names": names + [b"unused"] * 90,
                      b"coarse_label_names": [f"pair_{d}".encode() for d in range(5)]
                      + [b"unused"] * 15})
        return folder
    train = np.arange(cut)
    for b, members in enumerate(np.array_split(train, batches), start=1):
        dump(f"data_batch_{b}", {b"batch_label": f"training batch {b}".encode(),
                                 b"data": data[members], b"labels": labels[members].tolist()})
    dump("test_batch", {b"batch_label": b"testing batch", b"data": data[cut:],
                        b"labels": labels[cut:].tolist()})
    dump("batches.meta", {b"label_names": names, b"num_cases_per_batch": cut // batches})
    return folder


def write_samples(folder: str | Path, *, max_train: int = 300) -> dict[str, dict[str, Any]]:
    """Write one sample dataset per format under ``folder``; return a quick config for each.

    The configs train 1 epoch on ``max_train`` images (keys: ``idx``, ``npz``, ``image_folder``,
    ``cifar``).
    """
    folder = Path(folder)
    quick = {"epochs": 1, "max_train": max_train, "batch_size": 64}
    idx = write_digits_idx(folder / "idx")
    npz = write_digits_npz(folder / "digits.npz")
    png = write_digits_png(folder / "png", per_class=50)
    cifar = write_digits_cifar(folder / "cifar", limit=600)
    return {
        "idx": {"name": "idx", "path": str(idx), **quick},
        "npz": {"name": "npz", "path": str(npz), **quick},
        "image_folder": {"name": "image_folder", "path": str(png), "size": [8, 8],
                         "channels": 1, **quick},
        "cifar": {"name": "cifar", "path": str(cifar), **quick},
    }
