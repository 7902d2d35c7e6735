"""Weights-only state files: nested training states (model, optimizer, schedule) as safetensors.

A state is any tree of dicts and lists whose leaves are tensors, numbers, strings, booleans or
None, such as ``{"model": model.state_dict(), "optimizer": optimizer.state_dict()}``. The tensors
go into a `safetensors <https://huggingface.co/docs/safetensors>`_ file under generated names;
everything else, with a reference in place of each tensor, goes as JSON into the file's metadata.
Reading a file parses JSON and raw tensor bytes only: no code runs, nothing is unpickled.

Files are written atomically (a temporary file in the same folder, synced, then renamed), so a
process killed while writing leaves either the previous file or none, never a torn one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.errors import JournalError

if TYPE_CHECKING:
    import torch

#: The metadata key holding the state's JSON skeleton.
SKELETON_KEY = "evonas_state"
#: How a tensor leaf is referenced in the skeleton: ``{TENSOR_REF: name}``.
TENSOR_REF = "__tensor__"
#: A tuple leaf (optimizer ``betas``) is stored as ``{TUPLE_REF: [items]}`` and read back as one.
TUPLE_REF = "__tuple__"
#: Suffix of every weights file.
SUFFIX = ".safetensors"


class WeightsFileError(JournalError, ValueError):
    """A weights file that is missing, unreadable or not a state this module wrote (a run
    folder's file, or one a job was told to read)."""


def save_state(path: str | Path, state: Any) -> int:
    """Write ``state`` to ``path`` atomically; return the file's size in bytes.

    Raises:
        TypeError: a leaf that is not a tensor, number, string, boolean or None.
        OSError: the file cannot be written.
    """
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    data = save(tensors, metadata={SKELETON_KEY: json.dumps(skeleton, separators=(",", ":"))})
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def load_state(path: str | Path, device: str = "cpu") -> Any:
    """The state :func:`save_state` wrote to ``path``, tensors on ``device``.

    Raises:
        WeightsFileError: naming the file, when it is missing, a link, or not such a state.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise WeightsFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        tensors = load(data)
        metadata = _metadata(data)
        skeleton = json.loads(metadata[SKELETON_KEY])
        state = _unflatten(skeleton, tensors)
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise WeightsFileError(f"{path}: not an evonas weights file ({exc})") from None
    if device != "cpu":
        state = _to_device(state, device)
    return state


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (little-endian u64 length, JSON)."""
    if len(data) < 8:
        raise ValueError("file too short")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict):
        raise ValueError("no metadata")
    return metadata


def _flatten(node: Any, tensors: dict[str, Any]) -> Any:
    import torch

    if isinstance(node, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = node.detach().cpu().contiguous()
        return {TENSOR_REF: name}
    if isinstance(node, dict):
        return {str(key): _flatten(value, tensors) for key, value in node.items()} | (
            {"__int_keys__": True} if node and all(isinstance(k, int) for k in node) else {})
    if isinstance(node, tuple):
        return {TUPLE_REF: [_flatten(item, tensors) for item in node]}
    if isinstance(node, list):
        return [_flatten(item, tensors) for item in node]
    if node is None or isinstance(node, bool | int | float | str):
        return node
    raise TypeError(f"cannot store a {type(node).__name__} in a weights file")


def _unflatten(node: Any, tensors: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if TENSOR_REF in node:
            return tensors[node[TENSOR_REF]]
        if TUPLE_REF in node:
            return tuple(_unflatten(item, tensors) for item in node[TUPLE_REF])
        int_keys = node.get("__int_keys__") is True
        return {(int(key) if int_keys else key): _unflatten(value, tensors)
                for key, value in node.items() if key != "__int_keys__"}
    if isinstance(node, list):
        return [_unflatten(item, tensors) for item in node]
    return node


def _to_device(node: Any, device: str) -> Any:
    import torch

    if isinstance(node, torch.Tensor):
        return node.to(device)
    if isinstance(node, dict):
        return {key: _to_device(value, device) for key, value in node.items()}
    if isinstance(node, list):
        return [_to_device(item, device) for item in node]
    if isinstance(node, tuple):
        return tuple(_to_device(item, device) for item in node)
    return node


def inherit_matching(model: torch.nn.Module, source: dict[str, Any]) -> dict[str, int]:
    """Copy into ``model`` every tensor of ``source`` (a state dict) whose name it shares.

    A tensor of the same shape is copied whole. One that differs only in its first two (channel)
    dimensions, a widened or narrowed layer, inherits the overlapping slice, the rest keeping its
    fresh initialisation. Tensors of another rank or kernel size, and names the model lacks, are
    left out.

    Returns:
        ``{"inherited": whole tensors copied, "sliced": tensors partly copied, "fresh": tensors
        of the model that inherited nothing}``.
    """
    import torch

    own = model.state_dict()
    counts = {"inherited": 0, "sliced": 0, "fresh": 0}
    with torch.no_grad():
        for name, target in own.items():
            value = source.get(name)
            if not isinstance(value, torch.Tensor) or value.dim() != target.dim():
                counts["fresh"] += 1
                continue
            value = value.to(device=target.device, dtype=target.dtype)
            if value.shape == target.shape:
                target.copy_(value)
                counts["inherited"] += 1
            elif target.dim() == 0 or value.shape[2:] != target.shape[2:]:
                counts["fresh"] += 1
            else:
                window = tuple(slice(0, min(a, b)) for a, b in zip(target.shape, value.shape,
                                                                   strict=True))
                target[window].copy_(value[window])
                counts["sliced"] += 1
    return counts
