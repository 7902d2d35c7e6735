"""Tensors and optimizer states as JSON: how strategies with torch state (REINFORCE, DARTS) save it.

A tensor becomes ``{"dtype", "shape", "data"}`` with ``data`` the base64 of its raw little-endian
bytes: exact, portable, and no pickle (opening a run folder executes no code).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch
from torch import nn

_DTYPES = {"float32": (torch.float32, "<f4"), "float64": (torch.float64, "<f8"),
           "int64": (torch.int64, "<i8")}


def encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    """A tensor as JSON: ``{"dtype", "shape", "data"}``, data = base64 of little-endian bytes."""
    name = str(t.dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise TypeError(f"cannot encode a {t.dtype} tensor; supported: {sorted(_DTYPES)}")
    raw = t.detach().cpu().contiguous().numpy().astype(_DTYPES[name][1], copy=False).tobytes()
    return {"dtype": name, "shape": list(t.shape), "data": base64.b64encode(raw).decode("ascii")}


def decode_tensor(data: dict[str, Any]) -> torch.Tensor:
    """The tensor :func:`encode_tensor` encoded (a fresh CPU copy)."""
    dtype, code = _DTYPES[data["dtype"]]
    array = np.frombuffer(base64.b64decode(data["data"]), dtype=code).reshape(data["shape"])
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="))).to(dtype).clone()


def encode_module(module: nn.Module) -> dict[str, Any]:
    """A module's ``state_dict`` (parameters and buffers) as JSON."""
    return {name: encode_tensor(t) for name, t in module.state_dict().items()}


def load_module(module: nn.Module, state: dict[str, Any]) -> None:
    """Restore what :func:`encode_module` saved (onto the module's own device)."""
    module.load_state_dict({name: decode_tensor(t) for name, t in state.items()})


def encode_optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The per-parameter state of an optimizer (Adam's step and moments, SGD's momentum), JSON."""
    out = {}
    for index, entry in optimizer.state_dict()["state"].items():
        out[str(index)] = {key: encode_tensor(value) if torch.is_tensor(value) else value
                           for key, value in entry.items()}
    return out


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Restore what :func:`encode_optimizer_state` saved (hyperparameters stay as configured)."""
    full = optimizer.state_dict()
    full["state"] = {int(index): {key: decode_tensor(value) if isinstance(value, dict) else value
                                  for key, value in entry.items()}
                     for index, entry in state.items()}
    optimizer.load_state_dict(full)
