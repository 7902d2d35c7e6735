"""The zero-cost proxies themselves (see :mod:`evonas.proxies` for what each one computes).

Every proxy has the signature ``proxy(module, inputs, targets) -> float`` and works on a deep copy
of ``module``, so the caller's weights, batch-norm statistics, gradients and train/eval mode are
never touched. The module is expected on the device of ``inputs``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from evonas.compiler import count_params
from evonas.proxies.flops import count_flops
from evonas.proxies.names import METRIC_NAMES

#: ``proxy(module, inputs, targets) -> score``.
Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

#: The jitter NASLib's jacov adds to each eigenvalue of the correlation matrix.
JACOV_K = 1e-5


def _weighted_layers(module: nn.Module) -> Iterator[nn.Conv2d | nn.Linear]:
    """The conv and linear layers: the weights the pruning-based proxies score."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            yield layer


def synflow(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None
            ) -> float:
    """Synaptic flow (Tanaka et al. 2020): data-independent, in double precision.

    Every parameter and floating-point buffer of a float64 copy of the network is replaced by its
    absolute value; the copy runs in eval mode (batch norm applies its running statistics, an
    affine map) on a single all-ones input, ``R = sum(output)`` is back-propagated, and the score
    is ``sum |w * dR/dw|`` over all conv and linear weights.

    Args:
        module: the network (not changed).
        inputs: only its shape and device are read: ``inputs[0]`` is the shape of one input.
        targets: unused (kept for the common proxy signature).

    Returns:
        The score, ``>= 0`` (``inf`` if it overflows float64).
    """
    net = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    net(ones).sum().backward()
    total = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for layer in _weighted_layers(net):
        grad = layer.weight.grad
        if grad is not None:
            total = total + (layer.weight.detach() * grad).abs().sum()
    return float(total.item())


def relu_codes(module: nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    """The binary activation codes of every ReLU layer: one ``(B, units)`` 0/1 float64 tensor per
    call of an ``nn.ReLU`` (1 where the ReLU's input is positive), network in train mode."""
    net = copy.deepcopy(module).train()
    codes: list[torch.Tensor] = []

    def hook(layer: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        # relu(x) > 0 exactly where x > 0, so the output gives the code even for inplace ReLUs
        codes.append((output.detach().flatten(1) > 0).to(torch.float64))

    handles = [layer.register_forward_hook(hook) for layer in net.modules()
               if isinstance(layer, nn.ReLU)]
    try:
        with torch.no_grad():
            net(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return codes


def hamming_kernel(codes: Sequence[torch.Tensor]) -> torch.Tensor:
    """NASWOT's kernel: ``K[i, j]`` = units on which inputs ``i`` and ``j`` have the same code,
    summed over the layers (``N_units - d_Hamming(c_i, c_j)``), float64 ``(B, B)``."""
    if not codes:
        raise ValueError("naswot: the network has no ReLU layer")
    batch = codes[0].shape[0]
    kernel = torch.zeros((batch, batch), dtype=torch.float64, device=codes[0].device)
    for c in codes:
        kernel += c @ c.T + (1.0 - c) @ (1.0 - c).T
    return kernel


def naswot(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None
           ) -> float:
    """NASWOT (Mellor et al. 2021): ``log |det K|`` of the Hamming kernel of the ReLU codes.

    Args:
        module: the network (not changed); it must have an ``nn.ReLU`` layer.
        inputs: one batch (at least two inputs; they should be distinct, or ``K`` is singular).
        targets: unused.

    Returns:
        The log-determinant; ``-inf`` when ``K`` is singular (two inputs with the same codes).
    """
    kernel = hamming_kernel(relu_codes(module, inputs))
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    return float(logdet.item()) if float(sign.item()) > 0 else -math.inf


def loss_gradients(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(weight, dL/dweight)`` of every conv and linear layer with a gradient, ``L`` the mean
    cross-entropy of the batch, network copy in train mode (what ``snip`` and ``grad_norm``
    read)."""
    net = copy.deepcopy(module).train()
    net.zero_grad(set_to_none=True)
    functional.cross_entropy(net(inputs), targets).backward()
    return [(layer.weight.detach(), layer.weight.grad.detach())
            for layer in _weighted_layers(net) if layer.weight.grad is not None]


def _snip(grads: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    return float(sum(float((w * g).abs().sum().item()) for w, g in grads))


def _grad_norm(grads: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    return float(sum(float(g.norm().item()) for _, g in grads))


def snip(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """SNIP (Lee et al. 2019): ``sum |w * dL/dw|`` over the conv and linear weights.

    Args:
        module: the network (not changed).
        inputs: one batch.
        targets: its class labels (``int64``).
    """
    return _snip(loss_gradients(module, inputs, targets))


def grad_norm(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Gradient norm (Abdelfattah et al. 2021): ``sum_layers ||dL/dw||_2`` over conv and linear
    layers.

    Args:
        module: the network (not changed).
        inputs: one batch.
        targets: its class labels (``int64``).
    """
    return _grad_norm(loss_gradients(module, inputs, targets))


def jacov(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None
          ) -> float:
    """Jacobian covariance (Mellor et al. 2020, NASLib's scoring).

    The gradient of ``sum(output)`` with respect to the batch gives one Jacobian row per input;
    with ``C`` their correlation matrix (float64) and ``v`` its eigenvalues, the score is
    ``-sum(log(v + k) + 1 / (v + k))``, ``k = 1e-5``.

    Args:
        module: the network (not changed).
        inputs: one batch (at least two inputs).
        targets: unused.

    Returns:
        The score; NaN when some input's Jacobian is constant (the output ignores the input).
    """
    net = copy.deepcopy(module).train()
    x = inputs.detach().clone().requires_grad_(True)
    output = net(x)
    if not output.requires_grad:  # the output depends on no input and no weight
        return math.nan
    (grad,) = torch.autograd.grad(output, x, torch.ones_like(output), allow_unused=True)
    if grad is None:  # the output does not depend on the input
        return math.nan
    jacobians = grad.detach().flatten(1).to(torch.float64).cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(jacobians)
    if not np.all(np.isfinite(corr)):
        return math.nan
    eigenvalues = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eigenvalues + JACOV_K) + 1.0 / (eigenvalues + JACOV_K)))


#: Every proxy by name.
PROXIES: dict[str, Proxy] = {
    "synflow": synflow,
    "naswot": naswot,
    "snip": snip,
    "grad_norm": grad_norm,
    "jacov": jacov,
}


def compute_proxies(module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                    names: Sequence[str] = METRIC_NAMES) -> dict[str, float]:
    """Several proxies of one network on one batch (``snip`` and ``grad_norm`` share a backward
    pass); ``params`` and ``flops`` may be asked for too.

    Args:
        module: the network (not changed), on the device of ``inputs``.
        inputs: one batch ``(B, C, H, W)``.
        targets: its class labels ``(B,)``.
        names: which of :data:`~evonas.proxies.names.METRIC_NAMES` to compute.

    Returns:
        ``{name: value}`` in the order of ``names``; ``params`` and ``flops`` as whole numbers.

    Raises:
        ValueError: for an unknown name.
    """
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; known: {list(METRIC_NAMES)}")
    grads: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    out: dict[str, float] = {}
    for name in names:
        if name == "params":
            out[name] = count_params(module)
        elif name == "flops":
            out[name] = count_flops(module, tuple(inputs.shape[1:]))
        elif name in ("snip", "grad_norm"):
            if grads is None:
                grads = loss_gradients(module, inputs, targets)
            out[name] = _snip(grads) if name == "snip" else _grad_norm(grads)
        else:
            out[name] = PROXIES[name](module, inputs, targets)
    return out
