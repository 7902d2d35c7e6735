"""The op library: every op name builds, with NAS-Bench-201 semantics and the right shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evonas.compiler.ops import (
    OP_NAMES,
    FactorizedReduce,
    ReLUConvBN,
    ResNetBasicBlock,
    SepConv,
    Zero,
    build_op,
)
from genomes.space import FREE_OPS, NB201_OPS


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_space_op_is_known():
    assert set(NB201_OPS) | set(FREE_OPS) <= set(OP_NAMES)


def test_none_builds_nothing():
    assert build_op("none", 8, 8) is None


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown op 'conv_7x7'"):
        build_op("conv_7x7", 8, 8)


@pytest.mark.parametrize("name", [op for op in (*NB201_OPS, *FREE_OPS) if op != "none"])
@pytest.mark.parametrize(("c_in", "c_out"), [(6, 6), (6, 10)])
def test_ops_keep_resolution_and_set_channels(name, c_in, c_out):
    op = build_op(name, c_in, c_out)
    out = op(torch.randn(2, c_in, 7, 7))
    assert out.shape == (2, c_out, 7, 7)


@pytest.mark.parametrize("name", [op for op in (*NB201_OPS, *FREE_OPS) if op != "none"])
def test_stride_two_halves_resolution(name):
    op = build_op(name, 6, 8, stride=2)
    assert op(torch.randn(2, 6, 8, 8)).shape == (2, 8, 4, 4)


def test_nb201_semantics():
    conv3 = build_op("nor_conv_3x3", 16, 16)
    assert isinstance(conv3, ReLUConvBN)
    relu, conv, bn = conv3.op
    assert isinstance(relu, nn.ReLU) and not relu.inplace
    assert (conv.kernel_size, conv.padding, conv.stride) == ((3, 3), (1, 1), (1, 1))
    assert conv.bias is None
    assert bn.affine and bn.track_running_stats
    conv1 = build_op("nor_conv_1x1", 16, 16)
    assert conv1.op[1].kernel_size == (1, 1) and conv1.op[1].padding == (0, 0)
    pool = build_op("avg_pool_3x3", 16, 16)
    assert isinstance(pool, nn.AvgPool2d)
    assert (pool.kernel_size, pool.stride, pool.padding, pool.count_include_pad) == (3, 1, 1, False)
    assert isinstance(build_op("skip_connect", 16, 16), nn.Identity)
    # NAS-Bench-201 parameter counts: a 3x3 ReLUConvBN is 9*C*C + 2*C.
    assert n_params(conv3) == 9 * 16 * 16 + 32
    assert n_params(conv1) == 16 * 16 + 32


def test_free_ops_project_when_widths_differ():
    assert isinstance(build_op("identity", 8, 8), nn.Identity)
    proj = build_op("identity", 8, 16)
    assert isinstance(proj, ReLUConvBN) and proj.op[1].kernel_size == (1, 1)
    for name, pool_type in (("max_pool_3x3", nn.MaxPool2d), ("avg_pool_3x3", nn.AvgPool2d)):
        assert isinstance(build_op(name, 8, 8), pool_type)
        seq = build_op(name, 8, 16)
        assert isinstance(seq[0], pool_type) and isinstance(seq[1], ReLUConvBN)
    conv5 = build_op("conv_5x5", 8, 16)
    assert conv5.op[1].kernel_size == (5, 5) and conv5.op[1].padding == (2, 2)


def test_separable_conv_structure():
    sep = build_op("sep_conv_5x5", 8, 16)
    assert isinstance(sep, SepConv)
    relu, depthwise, pointwise, bn = sep.op
    assert isinstance(relu, nn.ReLU)
    assert depthwise.groups == 8 and depthwise.kernel_size == (5, 5) and depthwise.bias is None
    assert pointwise.kernel_size == (1, 1) and pointwise.out_channels == 16
    assert pointwise.bias is None and bn.num_features == 16
    assert n_params(sep) == 8 * 25 + 8 * 16 + 2 * 16


def test_resnet_basic_block_matches_nb201():
    block = ResNetBasicBlock(16, 32)
    assert block.conv_a.op[1].stride == (2, 2) and block.conv_b.op[1].stride == (1, 1)
    pool, conv = block.shortcut
    assert isinstance(pool, nn.AvgPool2d) and conv.kernel_size == (1, 1) and conv.bias is None
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == (2, 32, 4, 4)
    expected = (9 * 16 * 32 + 64) + (9 * 32 * 32 + 64) + 16 * 32
    assert n_params(block) == expected
    torch.testing.assert_close(block(x), block.shortcut(x) + block.conv_b(block.conv_a(x)))


def test_zero_and_factorized_reduce():
    x = torch.randn(2, 4, 6, 6)
    assert torch.count_nonzero(Zero(4, 4)(x)) == 0
    assert Zero(4, 8, stride=2)(x).shape == (2, 8, 3, 3)
    assert FactorizedReduce(4, 7)(x).shape == (2, 7, 3, 3)
