"""``name: npz``: images and labels in a numpy ``.npz`` archive.

The archive holds either ``x`` and ``y`` (all samples; the test and validation splits are carved
out, stratified and seeded: ``test_fraction`` of every class, then ``val_fraction`` of the rest)
or predefined splits: ``x_train, y_train`` with optional ``x_val, y_val`` and ``x_test, y_test``
(a missing one is carved from the training arrays). Images are ``(N, H, W)`` (grayscale),
``(N, C, H, W)`` or ``(N, H, W, C)``, any size and channel count, any numeric dtype (``uint8`` is
scaled to ``[0, 1]``); labels are class indices ``(N,)``. ``layout: auto`` takes the smaller of
axes 1 and 3 as the channels. Write one with ``numpy.savez(path, x=images, y=labels)``. Config::

    task:
      name: npz
      path: data/kmnist.npz
      layout: auto          # or nchw, nhwc
      val_fraction: 0.1

The file is read with ``allow_pickle=False``: an archive holding object arrays (which would run
code when unpickled) is refused, never loaded.
"""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.tasks.datasets.base import (
    LAYOUTS,
    DataArrays,
    DatasetTask,
    build_dataset_task,
    check_images,
    check_labels,
    check_same_image_shape,
    read_dataset_options,
    resolve_path,
    to_nchw,
)
from evonas.tasks.errors import TaskError
from evonas.tasks.options import require

if TYPE_CHECKING:
    from genomes import SearchSpace

#: Options of ``name: npz`` beyond the dataset options, with their defaults.
NPZ_OPTIONS: dict[str, Any] = {"path": "", "layout": "auto"}

SPLIT_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def load_npz(options: dict[str, Any]) -> tuple[DataArrays, str]:
    """Read and check the arrays of the ``.npz`` file ``options["path"]`` names.

    Raises:
        TaskError: ``task.path: FILE: <array>: ...`` for a missing, unreadable or malformed array.
    """
    layout = options["layout"]
    require(layout in LAYOUTS, "layout", f"must be one of {list(LAYOUTS)}, got {layout!r}")
    path = resolve_path(options["path"], "path")
    where = f"task.path: {path}"
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise TaskError(f"{where}: not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise TaskError(f"{where}: a single array (.npy), not an .npz archive; save the images "
                        "and labels with numpy.savez(path, x=images, y=labels)")
    with archive:
        keys = set(archive.files)
        if "x_train" in keys and "x" in keys:
            raise TaskError(f"{where}: holds both x and x_train; keep x, y (all samples) or the "
                            "predefined splits x_train, y_train, ...")
        if "x_train" in keys:
            wanted = SPLIT_KEYS
            renamed = {key: key for key in SPLIT_KEYS}
        elif "x" in keys:
            wanted = ("x", "y")
            renamed = {"x": "x_train", "y": "y_train"}
        else:
            raise TaskError(f"{where}: no x and y arrays (nor x_train, y_train); found "
                            f"{sorted(keys) or 'no arrays'}")
        arrays: dict[str, np.ndarray | None] = {}
        for x_key, y_key in zip(wanted[::2], wanted[1::2], strict=True):
            if (x_key in keys) != (y_key in keys):
                present, absent = (x_key, y_key) if x_key in keys else (y_key, x_key)
                raise TaskError(f"{where}: {present} without {absent}")
            if x_key not in keys:
                arrays[renamed[x_key]] = arrays[renamed[y_key]] = None
                continue
            x = _read(archive, x_key, where)
            check_images(x, f"{where}: {x_key}")
            arrays[renamed[x_key]] = to_nchw(x, layout, f"{where}: {x_key}")
            arrays[renamed[y_key]] = check_labels(_read(archive, y_key, where), len(x),
                                                  f"{where}: {y_key}")
    check_same_image_shape(arrays, where)
    return DataArrays(**arrays), str(path)  # type: ignore[arg-type]


def _read(archive: Any, key: str, where: str) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # allow_pickle=False: an object array raises ValueError here, unloaded
        raise TaskError(f"{where}: {key}: cannot read the array ({exc})") from None


def make_npz_task(task_config: dict[str, Any], space: SearchSpace) -> DatasetTask:
    """The registry factory for ``name: npz``."""
    options = read_dataset_options("npz", task_config, NPZ_OPTIONS)
    return build_dataset_task("npz", options, space, load_npz)


#: Documented options of ``name: npz`` and their defaults.
NPZ_DEFAULTS: dict[str, Any] = read_dataset_options("npz", {}, NPZ_OPTIONS)

__all__ = ["NPZ_DEFAULTS", "load_npz", "make_npz_task"]
