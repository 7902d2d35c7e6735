"""``name: cifar``: the CIFAR-10 or CIFAR-100 "python version" batch files, read without unpickling
code.

CIFAR-10's folder (``cifar-10-batches-py``) holds ``data_batch_1`` ... ``data_batch_5``,
``test_batch`` and ``batches.meta``; CIFAR-100's (``cifar-100-python``) holds ``train``, ``test``
and ``meta``. ``path`` is that folder or the folder above it. Every batch is a pickled dict with
``data`` (``uint8 (N, 3072)``: the red, green, blue 32x32 planes of each image) and ``labels``
(CIFAR-10) or ``fine_labels`` / ``coarse_labels`` (CIFAR-100, chosen by ``label``). The test
batch is the test split; validation is carved from the training batches (``val_fraction``).
Config::

    task:
      name: cifar
      path: ~/data/cifar-10-batches-py
      max_train: 10000

**Why reading these pickles is safe.** Unpickling runs whatever callable a pickle names (the
``GLOBAL`` / ``STACK_GLOBAL`` / ``INST`` / ``OBJ`` / ``EXT`` opcodes all resolve a name through
:meth:`pickle.Unpickler.find_class`), so the standard loader would run ``os.system`` for a
crafted file. :class:`RestrictedUnpickler` resolves names from a fixed table instead and refuses
everything else before anything is called. The table holds what a CIFAR batch needs, all of it
pure data construction:

* ``numpy.core.multiarray._reconstruct`` (``numpy._core`` in numpy 2), ``numpy.ndarray`` and
  ``numpy.dtype``: how numpy pickles an array (protocols 0-4): an empty array of a dtype, then
  ``__setstate__`` with the raw bytes;
* ``numpy.core.numeric._frombuffer`` (``numpy._core``): the same for protocol 5 (an array viewed
  from the pickled bytes);
* ``_codecs.encode``: how Python 3 pickles ``bytes`` at protocols 0-2; replaced by a function that
  only turns a string into latin-1 bytes (the real one looks codecs up by name).

Dicts, lists, strings, bytes and numbers need no name at all. Persistent ids are refused too
(``pickle.Unpickler``'s default). The worst a crafted file can then do is claim a huge array
(a memory error) or hold values of the wrong shape, which the checks below report.
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
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
    from collections.abc import Callable

    from genomes import SearchSpace

#: Options of ``name: cifar`` beyond the dataset options, with their defaults.
CIFAR_OPTIONS: dict[str, Any] = {"path": "", "label": "fine"}
LABEL_KINDS: tuple[str, ...] = ("fine", "coarse")
#: Sub-folders ``path`` may name instead of the batch folder itself.
CIFAR_FOLDERS: tuple[str, ...] = ("cifar-10-batches-py", "cifar-100-python")


class _Latin1Encode:
    """``_codecs.encode`` as protocol 0-2 pickles of ``bytes`` use it, and nothing more.

    An object without attributes (``__slots__ = ()``), so a pickle's ``BUILD`` cannot change it.
    """

    __slots__ = ()

    def __call__(self, text: str, encoding: str = "latin1") -> bytes:
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError(f"refused _codecs.encode({type(text).__name__}, "
                                         f"{encoding!r}): only str to latin-1 bytes is allowed")
        return text.encode("latin-1")


def _numpy_attr(modules: tuple[str, ...], name: str) -> Any:
    """``name`` from the first of ``modules`` this numpy has (``numpy._core`` or ``numpy.core``)."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {name} in {modules}")  # pragma: no cover


def _allowed_globals() -> dict[tuple[str, str], Callable[..., Any]]:
    reconstruct = _numpy_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")
    frombuffer = _numpy_attr(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")
    table: dict[tuple[str, str], Callable[..., Any]] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _Latin1Encode(),
    }
    for module in ("numpy.core", "numpy._core"):
        table[(f"{module}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{module}.numeric", "_frombuffer")] = frombuffer
    return table


#: ``(module, name)`` -> the object a CIFAR pickle may name; every other name is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for ``module.name``.

        Raises:
            pickle.UnpicklingError: for every other name, before anything is imported or called.
        """
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (a CIFAR batch holds "
                                         "only dicts, lists, bytes, numbers and numpy arrays)"
                                         ) from None


def restricted_load(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (Python 2 strings become ``bytes``).

    Raises:
        pickle.UnpicklingError: for a refused global or a malformed stream.
    """
    return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def read_batch(path: Path) -> dict[str, Any]:
    """One batch file as a dict with ``str`` keys.

    Raises:
        TaskError: ``task.path: FILE: not a CIFAR batch (...)`` for a refused or malformed pickle.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskError(f"task.path: {path}: cannot read ({exc.strerror or exc})") from None
    try:
        batch = restricted_load(raw)
    except Exception as exc:  # noqa: BLE001 (a malformed pickle raises many kinds)
        raise TaskError(f"task.path: {path}: not a CIFAR batch ({type(exc).__name__}: {exc})"
                        ) from None
    if not isinstance(batch, dict):
        raise TaskError(f"task.path: {path}: not a CIFAR batch (a pickled "
                        f"{type(batch).__name__}, want a dict with data and labels)")
    return {key.decode("latin-1") if isinstance(key, bytes) else str(key): value
            for key, value in batch.items()}


def batch_arrays(batch: dict[str, Any], path: Path,
                 label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels int64 (N,))`` of one batch, checked.

    Raises:
        TaskError: ``task.path: FILE: data: ...`` / ``...: labels: ...``.
    """
    where = f"task.path: {path}"
    if "data" not in batch:
        raise TaskError(f"{where}: data: missing (keys: {sorted(batch)})")
    if label_key not in batch:
        raise TaskError(f"{where}: {label_key}: missing (keys: {sorted(batch)})")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = f"{data.dtype} array" if isinstance(data, np.ndarray) else type(data).__name__
        raise TaskError(f"{where}: data: want a uint8 array, got {kind}")
    if data.ndim == 2 and data.shape[1] == 3 * 32 * 32:
        data = data.reshape(-1, 3, 32, 32)
    if data.ndim != 4 or data.shape[1:] != (3, 32, 32):
        raise TaskError(f"{where}: data: want shape (N, 3072), got {data.shape}")
    labels = batch[label_key]
    if isinstance(labels, list | tuple):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
            raise TaskError(f"{where}: {label_key}: labels must be integers")
        labels = np.asarray(labels, dtype=np.int64)
    if not isinstance(labels, np.ndarray):
        raise TaskError(f"{where}: {label_key}: want a list of class indices, got "
                        f"{type(labels).__name__}")
    return data, check_labels(labels, len(data), f"{where}: {label_key}")


def _batch_number(path: Path) -> int:
    match = re.fullmatch(r"data_batch_(\d+)", path.name)
    return int(match.group(1)) if match else 0


def find_batches(root: Path) -> tuple[str, list[Path], Path, Path | None]:
    """``(kind, train batches, test batch, meta file)`` of a CIFAR folder (or the one above it).

    Raises:
        TaskError: ``task.path: FOLDER: no CIFAR batches (...)``.
    """
    for folder in (root, *(root / name for name in CIFAR_FOLDERS)):
        train = sorted(folder.glob("data_batch_*"), key=_batch_number)
        train = [p for p in train if _batch_number(p) and p.is_file()]
        if train and (folder / "test_batch").is_file():
            meta = folder / "batches.meta"
            return "cifar10", train, folder / "test_batch", meta if meta.is_file() else None
        if (folder / "train").is_file() and (folder / "test").is_file():
            meta = folder / "meta"
            return "cifar100", [folder / "train"], folder / "test", meta if meta.is_file() else None
    raise TaskError(f"task.path: {root}: no CIFAR batches (CIFAR-10: data_batch_1..5 and "
                    "test_batch; CIFAR-100: train and test; or a cifar-10-batches-py / "
                    "cifar-100-python folder)")


def _class_names(meta: Path | None, key: str, count: int) -> tuple[str, ...] | None:
    """The label names a meta file lists, when it is readable and lists ``count`` of them."""
    if meta is None:
        return None
    try:
        names = read_batch(meta).get(key)
    except TaskError:
        return None
    if not isinstance(names, list) or len(names) != count:
        return None
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)


def load_cifar(options: dict[str, Any]) -> tuple[DataArrays, str]:
    """Read the batches of the CIFAR folder ``options["path"]`` names.

    Raises:
        TaskError: naming the file and key for a missing, refused or malformed batch.
    """
    label = options["label"]
    require(label in LABEL_KINDS, "label", f"must be one of {list(LABEL_KINDS)}, got {label!r}")
    root = resolve_path(options["path"], "path", folder=True)
    kind, train_files, test_file, meta = find_batches(root)
    if kind == "cifar10":
        require(label == "fine", "label", "coarse labels exist only in CIFAR-100")
        label_key, names_key, num_classes = "labels", "label_names", 10
    else:
        label_key, names_key = f"{label}_labels", f"{label}_label_names"
        num_classes = 100 if label == "fine" else 20
    parts = [batch_arrays(read_batch(path), path, label_key) for path in train_files]
    x_test, y_test = batch_arrays(read_batch(test_file), test_file, label_key)
    x_train = np.concatenate([x for x, _ in parts]) if len(parts) > 1 else parts[0][0]
    y_train = np.concatenate([y for _, y in parts]) if len(parts) > 1 else parts[0][1]
    for path, (_, y) in [*zip(train_files, parts, strict=True), (test_file, (x_test, y_test))]:
        if len(y) and y.max() >= num_classes:
            raise TaskError(f"task.path: {path}: {label_key}: label {y.max()}, but "
                            f"{'CIFAR-10' if kind == 'cifar10' else 'CIFAR-100'} has "
                            f"{num_classes} classes")
    data = DataArrays(x_train, y_train, x_test=x_test, y_test=y_test, num_classes=num_classes,
                      class_names=_class_names(meta, names_key, num_classes))
    return data, str(train_files[0].parent)


def make_cifar_task(task_config: dict[str, Any], space: SearchSpace) -> DatasetTask:
    """The registry factory for ``name: cifar``."""
    options = read_dataset_options("cifar", task_config, CIFAR_OPTIONS, with_test_fraction=False)
    return build_dataset_task("cifar", options, space, load_cifar)


#: Documented options of ``name: cifar`` and their defaults.
CIFAR_DEFAULTS: dict[str, Any] = read_dataset_options("cifar", {}, CIFAR_OPTIONS,
                                                      with_test_fraction=False)
