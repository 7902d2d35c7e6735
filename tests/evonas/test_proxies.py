"""Zero-cost proxies and FLOPs: the NAS-Bench-201 figures, synflow's data independence, NASWOT's
kernel, and finite scores on nb201 and free genomes."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from evonas.compiler import compile_genome, count_params
from evonas.proxies import (
    METRIC_NAMES,
    PROXY_NAMES,
    compute_proxies,
    count_flops,
    grad_norm,
    jacov,
    naswot,
    snip,
    synflow,
)
from evonas.proxies.measures import hamming_kernel, relu_codes
from genomes import DAGGenome, FreeSpace, NB201Space
from operators import random_genome

COST_CSV = Path(__file__).resolve().parents[1] / "data" / "nb201_cost_sample.csv"
INPUT_SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "ImageNet16-120": (3, 16, 16)}
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
POOLS = "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"
SMALL_NB201 = NB201Space(stem_channels=4, cells_per_stage=1)
FREE = FreeSpace(max_nodes=5, max_edges=8, widths=(4, 8), stem_channels=4)


def cost_rows() -> list[dict[str, str]]:
    with COST_CSV.open(newline="") as fh:
        return list(csv.DictReader(fh))


def small_batch(seed: int = 0, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def small_net(arch: str = BEST, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return compile_genome(DAGGenome.from_nb201(arch), SMALL_NB201, (1, 8, 8), 10)


# --------------------------------------------------------------------------- FLOPs
def test_the_sample_holds_40_cells_on_three_datasets():
    rows = cost_rows()
    assert len(rows) == 120 and len({r["arch"] for r in rows}) == 40
    assert {r["dataset"] for r in rows} == set(INPUT_SHAPES)


@pytest.mark.parametrize("dataset", list(INPUT_SHAPES))
def test_flops_match_nas_bench_201(dataset):
    """All 40 cells within 0.03% (a constant few hundred FLOPs in the fixed network part)."""
    space = NB201Space()
    shape = INPUT_SHAPES[dataset]
    residuals = set()
    for row in (r for r in cost_rows() if r["dataset"] == dataset):
        module = compile_genome(DAGGenome.from_nb201(row["arch"]), space, shape,
                                int(row["num_classes"]))
        got = count_flops(module, shape)
        want = round(float(row["flops_M"]) * 1e6)
        assert got == pytest.approx(want, rel=3e-4), row["arch"]
        assert count_params(module) == round(float(row["params_M"]) * 1e6)
        residuals.add(want - got)
    # the residual is one constant per input size: no cell op is counted differently
    assert residuals == {576 if shape[1] == 16 else 1088}


def test_plain_macs_are_lower_and_counting_leaves_the_module_alone():
    module = compile_genome(DAGGenome.from_nb201(BEST), NB201Space(), (3, 32, 32), 10)
    module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    nb201 = count_flops(module, (3, 32, 32))
    macs = count_flops(module, (3, 32, 32), convention="macs")
    assert 0.75 * nb201 < macs < nb201
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    with pytest.raises(ValueError, match="convention"):
        count_flops(module, (3, 32, 32), convention="thop")


def test_flops_of_hand_written_layers():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    conv = 4 * 8 * 8 * (9 * 2) + 4 * 8 * 8  # MACs + bias
    bn = 2 * 4 * 8 * 8
    relu = 4 * 8 * 8
    pool = 4 * 4 * 4 * 4
    gap = 4 * 4 * 4
    linear = 4 * 3
    assert count_flops(net, (2, 8, 8)) == conv + bn + relu + pool + gap + linear


# --------------------------------------------------------------------------- synflow
def test_synflow_is_data_independent_positive_and_double():
    net = small_net()
    a, _ = small_batch(0)
    b, _ = small_batch(1)
    score = synflow(net, a)
    assert score > 0 and math.isfinite(score)
    assert synflow(net, b) == score
    assert synflow(net, a * 100 - 7) == score
    # the network it was given is untouched: float32, signed weights
    assert next(net.parameters()).dtype == torch.float32
    assert any((p < 0).any() for p in net.parameters())


def test_synflow_runs_in_float64(monkeypatch: pytest.MonkeyPatch):
    seen = []
    net = small_net()
    original = nn.Conv2d.forward

    def spy(self, x):
        seen.append(x.dtype)
        return original(self, x)

    monkeypatch.setattr(nn.Conv2d, "forward", spy)
    synflow(net, small_batch()[0])
    assert seen and set(seen) == {torch.float64}


def test_synflow_is_the_path_norm_of_a_linear_chain():
    """For bias-free linear layers, sum |w dR/dw| = L * 1^T |W_L| ... |W_1| 1 (L layers)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))
    w1, w2 = (m.weight.detach().double().abs() for m in (net[0], net[2]))
    path_norm = float((w2 @ w1).sum())
    assert synflow(net, torch.randn(5, 3)) == pytest.approx(2 * path_norm, rel=1e-12)


# --------------------------------------------------------------------------- NASWOT
class Gate(nn.Module):
    """ReLU of ``x * scale + offset`` per feature: its codes are whatever the offset decides."""

    def __init__(self, scale: float, offset: torch.Tensor) -> None:
        super().__init__()
        self.scale = scale
        self.offset = nn.Parameter(offset)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x * self.scale + self.offset)


def test_naswot_is_lower_when_the_codes_do_not_tell_inputs_apart():
    x = torch.randn(8, 32)
    offset = torch.zeros(32)
    constant = Gate(0.0, offset + 1.0)  # every unit on for every input: identical codes
    distinct = Gate(1.0, offset)  # on where x > 0: a different code per input
    assert naswot(constant, x) < naswot(distinct, x)
    assert naswot(constant, x) == -math.inf
    assert math.isfinite(naswot(distinct, x))


def test_naswot_kernel_counts_agreeing_units():
    x = torch.tensor([[1.0, -1.0, 2.0], [1.0, 1.0, -2.0], [-1.0, -1.0, -1.0]])
    codes = relu_codes(Gate(1.0, torch.zeros(3)), x)
    kernel = hamming_kernel(codes)
    # codes 101, 110, 000: agreements (3 - Hamming distance)
    assert kernel.tolist() == [[3, 1, 1], [1, 3, 1], [1, 1, 3]]
    assert kernel.dtype == torch.float64
    assert naswot(Gate(1.0, torch.zeros(3)), x) == pytest.approx(math.log(20.0))  # det = 20


# --------------------------------------------------------------------------- all proxies
def genomes_under_test() -> list[tuple[str, object, object]]:
    rng = __import__("numpy").random.default_rng(3)
    return [
        ("nb201 best", SMALL_NB201, DAGGenome.from_nb201(BEST)),
        ("nb201 pools", SMALL_NB201, DAGGenome.from_nb201(POOLS)),
        ("free", FREE, random_genome(FREE, rng)),
        ("free 2", FREE, random_genome(FREE, rng)),
    ]


@pytest.mark.parametrize("label, space, genome", genomes_under_test(),
                         ids=[g[0] for g in genomes_under_test()])
def test_every_proxy_is_finite(label, space, genome):
    torch.manual_seed(0)
    net = compile_genome(genome, space, (1, 8, 8), 10)
    x, y = small_batch(0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    values = compute_proxies(net, x, y)
    assert list(values) == list(METRIC_NAMES)
    assert all(math.isfinite(v) for v in values.values()), values
    assert values["params"] == count_params(net)
    assert values["flops"] == count_flops(net, (1, 8, 8))
    assert values["synflow"] > 0 and values["snip"] > 0 and values["grad_norm"] > 0
    # the proxies work on copies: weights, batch-norm statistics and gradients are untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_compute_proxies_agrees_with_the_single_functions_and_is_deterministic():
    net = small_net()
    x, y = small_batch(0)
    values = compute_proxies(net, x, y, list(PROXY_NAMES))
    singles = {"synflow": synflow, "naswot": naswot, "snip": snip, "grad_norm": grad_norm,
               "jacov": jacov}
    for name, fn in singles.items():
        assert fn(net, x, y) == pytest.approx(values[name], rel=1e-9), name
    assert compute_proxies(net, x, y, list(PROXY_NAMES)) == values
    with pytest.raises(ValueError, match="unknown proxies"):
        compute_proxies(net, x, y, ["naswot", "zen"])


def test_jacov_is_nan_when_the_output_ignores_the_input():
    empty = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    x, y = small_batch(0)
    assert math.isnan(jacov(small_net(empty), x, y))


def test_importing_the_package_does_not_import_torch():
    code = ("import sys, evonas, evonas.proxies, evonas.tasks; "
            "assert 'torch' not in sys.modules; print(evonas.proxies.PROXY_NAMES)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "synflow" in out.stdout
