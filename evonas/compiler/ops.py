"""The op library: the layers a genome's edges name, shared by the compiler and the DARTS supernet.

Semantics follow NAS-Bench-201 exactly where its ops are concerned (``nor_conv_kxk`` is
ReLU -> Conv -> BN with ``padding = k // 2``, ``avg_pool_3x3`` does not count padding, BN layers
are affine and convolutions carry no bias), so a compiled cell has the benchmark's parameter count
to the last parameter. Where an op has nothing to do it is a plain ``torch.nn`` module
(``nn.Identity``, ``nn.AvgPool2d``...), so compiled code stays close to what a person would write.

This module imports only torch: :mod:`evonas.compiler.export` copies its classes verbatim into
exported model files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, NAS-Bench-201's ``ReLUConvBN``.

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel: square kernel size.
        stride: convolution stride.
        padding: zero padding on each side.
        dilation: kernel dilation.
        affine: whether the batch norm has a learned scale and shift.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int = 1, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                      bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Separable convolution: ReLU -> depthwise conv -> pointwise 1x1 conv -> BatchNorm2d.

    Args:
        c_in: input channels (also the depthwise groups).
        c_out: output channels of the pointwise convolution.
        kernel: square kernel size of the depthwise convolution.
        stride: depthwise stride.
        padding: depthwise zero padding.
        dilation: depthwise dilation.
        affine: whether the batch norm has a learned scale and shift.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int = 1, affine: bool = True) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve resolution without losing pixels: two offset stride-2 1x1 convs, concatenated.

    The DARTS / NAS-Bench-201 skip connection across a stride-2 edge.

    Args:
        c_in: input channels.
        c_out: output channels (split between the two convolutions).
        affine: whether the batch norm has a learned scale and shift.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        half = c_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, half, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=False)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Zero(nn.Module):
    """The ``none`` op as a module: zeros of the output's shape (for a DARTS mixed op).

    The compiler never builds it; it leaves ``none`` edges out of the graph instead.

    Args:
        c_in: input channels.
        c_out: output channels.
        stride: spatial stride.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_in = c_in
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.c_in == self.c_out:
            return x.mul(0.0)
        shape = (x.shape[0], self.c_out, x.shape[2], x.shape[3])
        return x.new_zeros(shape)

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}, stride={self.stride}"


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction block between stages (stride 2).

    ``out = shortcut(x) + conv_b(conv_a(x))`` where the shortcut is a 2x2 average pool followed by a
    bias-free 1x1 convolution.

    Args:
        c_in: input channels.
        c_out: output channels.
        affine: whether the batch norms have a learned scale and shift.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, 1, affine)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, 1, affine)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def _conv(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    return ReLUConvBN(c_in, c_out, kernel, stride, kernel // 2)


def _sep_conv(kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    return SepConv(c_in, c_out, kernel, stride, kernel // 2)


def _projection(c_in: int, c_out: int) -> nn.Module:
    return ReLUConvBN(c_in, c_out, 1, 1, 0)


def _pool(kind: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    pool: nn.Module
    if kind == "avg":
        pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    else:
        pool = nn.MaxPool2d(3, stride=stride, padding=1)
    return pool if c_in == c_out else nn.Sequential(pool, _projection(c_in, c_out))


def _identity(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride != 1:
        return FactorizedReduce(c_in, c_out)
    return nn.Identity() if c_in == c_out else _projection(c_in, c_out)


_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "skip_connect": _identity,
    "identity": _identity,
    "nor_conv_1x1": partial(_conv, 1),
    "nor_conv_3x3": partial(_conv, 3),
    "conv_3x3": partial(_conv, 3),
    "conv_5x5": partial(_conv, 5),
    "sep_conv_3x3": partial(_sep_conv, 3),
    "sep_conv_5x5": partial(_sep_conv, 5),
    "avg_pool_3x3": partial(_pool, "avg"),
    "max_pool_3x3": partial(_pool, "max"),
}

#: Every op name :func:`build_op` knows, ``none`` included.
OP_NAMES: tuple[str, ...] = ("none", *_BUILDERS)


def build_op(name: str, c_in: int, c_out: int, stride: int = 1) -> nn.Module | None:
    """Build the module for one edge op.

    Args:
        name: an op name from ``NB201_OPS`` or ``FREE_OPS`` (see :mod:`genomes.space`).
        c_in: channels of the edge's source.
        c_out: channels the edge must produce.
        stride: spatial stride (1 inside cells; 2 for DARTS-style reduction edges).

    Returns:
        The module, or None for ``none`` (a zero edge: the compiler leaves it out of the graph;
        a DARTS mixed op uses :class:`Zero` instead).

    Raises:
        ValueError: on an unknown op name.
    """
    if name == "none":
        return None
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"op: unknown op {name!r}; known ops: {list(OP_NAMES)}") from None
    return builder(c_in, c_out, stride)
