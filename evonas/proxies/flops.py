"""FLOPs of a compiled network, counted as NAS-Bench-201 publishes them.

:func:`count_flops` runs the network once on a zero input of batch 1 (eval mode, no gradient)
with a forward hook on every leaf module of the compiled ``torch.fx`` graph, and counts from the
real input and output shapes each hook sees, per layer kind:

========================================  =================================================
layer                                     FLOPs
========================================  =================================================
``Conv2d``                                output elements x ``k_h * k_w * c_in / groups``
                                          (+ output elements for a bias)
``Linear``                                output elements x ``in_features`` (bias not counted)
``AvgPool2d``, ``MaxPool2d``              output elements x ``k_h * k_w``
``AdaptiveAvgPool2d``/``AdaptiveMaxPool2d``  input elements
``BatchNorm1d/2d``                        input elements x 2 (affine) or x 1
``ReLU``, ``ReLU6``, ``LeakyReLU``,        output elements
``ELU``, ``PReLU``
========================================  =================================================

Sums, ``zeros_like`` and flattening (``call_function`` nodes of the graph) cost nothing, as in the
benchmark's profiler. This convention was fitted to, and is checked against, the FLOPs
NAS-Bench-201 reports for 40 cells on CIFAR-10, CIFAR-100 (3x32x32) and ImageNet16-120 (3x16x16)
(``tests/data/nb201_cost_sample.csv``, from NASLib's ``zc_nasbench201.json``): every one of the
120 figures is matched to within 0.03%. The published figures are a constant 1,088 FLOPs above
this count for 32x32 inputs and 576 for 16x16 inputs, the same for every cell and class count,
so the residual lies in the fixed part of the benchmark's network (not in any cell op) and does
not change any ranking. A plain multiply-accumulate count (``convention="macs"``: conv and linear
layers only) comes out 10-25% below the published figures.
"""

from __future__ import annotations

import torch
from torch import nn

#: The counting conventions :func:`count_flops` knows.
CONVENTIONS: tuple[str, ...] = ("nb201", "macs")

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.PReLU)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[-1])


def layer_flops(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor,
                convention: str = "nb201") -> int:
    """FLOPs of one call of a leaf module, from the tensors it saw (see the module docstring).

    Args:
        module: the layer.
        inputs: its positional inputs.
        output: its output.
        convention: ``nb201`` or ``macs`` (conv and linear multiply-accumulates only).

    Returns:
        The FLOPs; 0 for a layer kind the convention does not count.
    """
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        flops = output.numel() * kh * kw * module.in_channels // module.groups
        if module.bias is not None and convention == "nb201":
            flops += output.numel()
        return int(flops)
    if isinstance(module, nn.Linear):
        return int(output.numel() * module.in_features)
    if convention == "macs":
        return 0
    if isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
        kh, kw = _pair(module.kernel_size)
        return int(output.numel() * kh * kw)
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        return int(inputs[0].numel())
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return int(inputs[0].numel() * (2 if module.affine else 1))
    if isinstance(module, _ACTIVATIONS):
        return int(output.numel())
    return 0


def count_flops(module: nn.Module, input_shape: tuple[int, ...] | torch.Size,
                convention: str = "nb201") -> int:
    """FLOPs of one forward pass of ``module`` on one input of ``input_shape``.

    The module is run once in eval mode on zeros (on its own device and dtype) and handed back in
    the mode it came in; its weights and batch-norm statistics are left as they were.

    Args:
        module: the network, typically the ``torch.fx.GraphModule`` from
            :func:`evonas.compiler.compile_genome`.
        input_shape: ``(channels, height, width)`` of one input (no batch dimension).
        convention: ``nb201`` (the benchmark's profiler, the default) or ``macs``.

    Returns:
        The FLOPs of a batch of one (NAS-Bench-201 reports this number divided by 1e6).

    Raises:
        ValueError: for an unknown convention.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {list(CONVENTIONS)}, got {convention!r}")
    total = [0]

    def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        total[0] += layer_flops(layer, inputs, output, convention)

    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    reference = next(module.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros((1, *tuple(input_shape)), device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    return total[0]

