"""Weights for comparing two networks: every parameter and statistic set at random."""

from __future__ import annotations

import torch
from torch import nn


def randomize(module: nn.Module, seed: int) -> None:
    """Random weights and BN statistics, so every parameter matters in a comparison."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=gen) + 0.5 if "running_var" in name \
                    else torch.randn(tensor.shape, generator=gen) * 0.5
                tensor.copy_(values)
