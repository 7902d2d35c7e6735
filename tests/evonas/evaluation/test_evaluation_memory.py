"""The peak-memory estimate: exact parameter bytes, shape-propagated activations, no allocation."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from evonas.compiler import compile_genome, count_params
from evonas.evaluation.memory import (
    WORKSPACE_BYTES,
    estimate_peak_memory,
    format_size,
    parse_bytes,
)
from genomes import DAGGenome, space_from_dict
from operators.sampling import random_genome

NB201 = space_from_dict({"name": "nb201"})
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
GENOME = DAGGenome.from_nb201(ARCH)
CIFAR = (3, 32, 32)


def test_params_grads_and_optimizer_state_come_from_count_params():
    expected = count_params(compile_genome(GENOME, NB201, CIFAR, 10))
    adam = estimate_peak_memory(GENOME, NB201, CIFAR, 10, batch_size=64)
    assert adam.param_count == expected
    assert adam.params == adam.grads == 4 * expected
    assert adam.optimizer == 2 * adam.params
    assert estimate_peak_memory(GENOME, NB201, CIFAR, 10, 64, "sgd").optimizer == adam.params
    assert adam.workspace == WORKSPACE_BYTES
    assert adam.buffers > 0  # batch norm running statistics


def _shape_prop_sum(module: nn.Module, batch: torch.Tensor) -> int:
    """Bytes of every node output ShapeProp records, except outputs that allocate nothing."""
    traced = fx.symbolic_trace(module)
    ShapeProp(traced).propagate(batch)
    total = 0
    for node in traced.graph.nodes:
        if node.op in ("get_attr", "output"):
            continue
        if node.op == "call_function" and node.target in (torch.flatten, operator.getitem):
            continue  # views
        if node.op == "call_module":
            module = traced.get_submodule(node.target)
            if isinstance(module, nn.Identity) or getattr(module, "inplace", False):
                continue  # returns its input, or writes into it
        meta = node.meta["tensor_meta"]
        total += meta.shape.numel() * meta.dtype.itemsize
    return total


def test_activations_equal_the_shape_prop_sum():
    module = compile_genome(GENOME, NB201, (3, 16, 16), 10)
    batch = torch.zeros((4, 3, 16, 16))
    estimate = estimate_peak_memory(GENOME, NB201, (3, 16, 16), 10, batch_size=4)
    assert estimate.activations == _shape_prop_sum(module, batch)


def test_estimate_grows_with_batch_size_and_width():
    small = estimate_peak_memory(GENOME, NB201, CIFAR, 10, batch_size=32)
    large = estimate_peak_memory(GENOME, NB201, CIFAR, 10, batch_size=64)
    assert large.activations == 2 * small.activations
    assert large.total > small.total
    wide_space = space_from_dict({"name": "nb201", "stem_channels": 32})
    wide = estimate_peak_memory(GENOME, wide_space, CIFAR, 10, batch_size=32)
    assert wide.params > small.params and wide.activations > small.activations


def test_total_is_the_sum_of_the_parts_times_the_safety_factor():
    plain = estimate_peak_memory(GENOME, NB201, CIFAR, 10, 64, safety_factor=1.0)
    parts = (plain.params + plain.buffers + plain.grads + plain.optimizer + plain.activations
             + plain.workspace)
    assert plain.raw == plain.total == parts
    padded = estimate_peak_memory(GENOME, NB201, CIFAR, 10, 64, safety_factor=1.5)
    assert padded.total == math.ceil(1.5 * parts)
    assert padded.to_dict()["total"] == padded.total


def test_scoring_batch_is_charged_when_larger_than_training():
    train_only = estimate_peak_memory(GENOME, NB201, CIFAR, 10, 8)
    with_scoring = estimate_peak_memory(GENOME, NB201, CIFAR, 10, 8, eval_batch_size=4096)
    assert with_scoring.scoring > with_scoring.activations
    assert with_scoring.total > train_only.total


@pytest.mark.parametrize("config", [{"name": "free"},
                                    {"name": "free", "mode": "cell", "stages": 3}])
def test_free_space_genomes_are_estimated(config):
    space = space_from_dict(config)
    for seed in range(3):
        genome = random_genome(space, np.random.default_rng(seed))
        estimate = estimate_peak_memory(genome, space, (1, 8, 8), 10, batch_size=16)
        assert estimate.param_count == count_params(compile_genome(genome, space, (1, 8, 8), 10))
        assert estimate.activations > 16 * 8 * 8 * 4  # at least the input batch


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="optimizer"):
        estimate_peak_memory(GENOME, NB201, CIFAR, 10, 64, "lion")
    with pytest.raises(ValueError, match="batch_size"):
        estimate_peak_memory(GENOME, NB201, CIFAR, 10, 0)
    with pytest.raises(ValueError, match="safety_factor"):
        estimate_peak_memory(GENOME, NB201, CIFAR, 10, 8, safety_factor=0)


@pytest.mark.parametrize(("text", "size"), [
    ("8GiB", 8 * 2**30), ("512 MiB", 512 * 2**20), ("1.5gb", 1_500_000_000), (4096, 4096),
    ("100", 100), (2.5e9, 2_500_000_000),
])
def test_parse_bytes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "-1GiB", 0, True, None, [1]])
def test_parse_bytes_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_format_size():
    assert format_size(1.5 * 2**30) == "1.50 GiB"
    assert format_size(61.25 * 2**20) == "61.2 MiB"
