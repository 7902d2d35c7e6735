"""Zero-cost proxies: score an untrained network from one batch, no training.

Each proxy takes ``(module, inputs, targets)`` (a network, one batch of inputs ``(B, C, H, W)``
and their class labels ``(B,)``) and returns one float, higher meaning "predicted to train
better". None changes the module it is given: each works on a deep copy.

* :func:`synflow` (Tanaka et al. 2020, *Pruning neural networks without any data by iteratively
  conserving synaptic flow*): the network with every parameter and buffer replaced by its
  absolute value, in double precision and eval mode, fed one all-ones input;
  ``R = sum(output)`` and the score is ``sum |w * dR/dw|`` over the conv and linear weights. It
  reads only the input's shape, never its values: it is data-independent.
* :func:`naswot` (Mellor et al. 2021, *Neural Architecture Search without Training*, v2): the
  binary code of every ReLU unit (input > 0) for each image of the batch; the kernel
  ``K[i, j]`` = number of units on which images ``i`` and ``j`` agree (units minus the Hamming
  distance of their codes), summed over the ReLU layers; the score is ``log |det K|`` (float64).
  Codes that cannot tell two images apart make ``K`` singular and the score ``-inf``.
* :func:`snip` (Lee et al. 2019): ``sum |w * dL/dw|`` over the conv and linear weights, ``L``
  the cross-entropy of the batch.
* :func:`grad_norm` (Abdelfattah et al. 2021): the sum over conv and linear layers of the
  Euclidean norm of ``dL/dw``.
* :func:`jacov` (Mellor et al. 2020 v1, as NASLib scores it): the Jacobian of the summed output
  with respect to each input, the correlation matrix of those Jacobians over the batch, and
  ``-sum(log(v + k) + 1 / (v + k))`` over its eigenvalues ``v``, ``k = 1e-5``. A network whose
  output does not depend on its input has no correlation to measure: the score is NaN.

The data-dependent proxies run the network in train mode (batch-norm statistics from the batch),
as the papers and NASLib do. :func:`count_flops` counts FLOPs with NAS-Bench-201's profiler
convention (it reproduces the benchmark's published figures); parameters are
:func:`evonas.compiler.count_params`. :func:`compute_proxies` computes a chosen set, ``params``
and ``flops`` included.

Importing this package does not import torch; the functions import it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evonas.proxies.names import COST_NAMES, DATA_DEPENDENT, METRIC_NAMES, PROXY_NAMES

if TYPE_CHECKING:
    from evonas.proxies.flops import count_flops
    from evonas.proxies.measures import (
        PROXIES,
        compute_proxies,
        grad_norm,
        jacov,
        naswot,
        snip,
        synflow,
    )

#: Where each lazily imported name lives (these modules import torch).
_LAZY = {
    "count_flops": "evonas.proxies.flops",
    "PROXIES": "evonas.proxies.measures",
    "compute_proxies": "evonas.proxies.measures",
    "grad_norm": "evonas.proxies.measures",
    "jacov": "evonas.proxies.measures",
    "naswot": "evonas.proxies.measures",
    "snip": "evonas.proxies.measures",
    "synflow": "evonas.proxies.measures",
}


def __getattr__(name: str) -> Any:
    """Import the torch-using functions on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evonas.proxies' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "COST_NAMES",
    "DATA_DEPENDENT",
    "METRIC_NAMES",
    "PROXIES",
    "PROXY_NAMES",
    "compute_proxies",
    "count_flops",
    "grad_norm",
    "jacov",
    "naswot",
    "snip",
    "synflow",
]
