"""The NAS-Bench-201 network: exact parameter counts, same function as a hand-written model."""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from evonas.compiler import compile_genome, count_params
from genomes import DAGGenome, GenomeError, NB201Space
from tests.evonas.compiler.weights import randomize

COST_CSV = Path(__file__).resolve().parents[2] / "data" / "nb201_cost_sample.csv"
INPUT_SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "ImageNet16-120": (3, 16, 16)}
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
CELLS = [
    BEST,
    # node 2 is zero and feeds a conv (in train mode conv(0) is BN's shift, not zero)
    "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    # node 1 is dead (all its out-edges are none) but is still computed, as in NAS-Bench-201
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
    # no path from input to output: the cell computes zeros
    "|none~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|none~2|",
]


def cost_rows() -> list[dict[str, str]]:
    with COST_CSV.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- reference model
# A plain NAS-Bench-201 network (after xautodl's TinyNetwork / InferCell), written independently
# of evonas.compiler.ops; `none` edges are modules that multiply by zero, as in the benchmark.
class RefReLUConvBN(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x):
        return self.op(x)


class RefZero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def ref_op(name, c):
    return {
        "none": RefZero,
        "skip_connect": nn.Identity,
        "nor_conv_1x1": lambda: RefReLUConvBN(c, c, 1, 1, 0),
        "nor_conv_3x3": lambda: RefReLUConvBN(c, c, 3, 1, 1),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
    }[name]()


class RefCell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.layers = nn.ModuleList()
        self.sources = []
        for group in arch.strip("|").split("|+|"):
            node_layers = []
            for token in group.split("|"):
                op, src = token.split("~")
                node_layers.append((len(self.layers), int(src)))
                self.layers.append(ref_op(op, c))
            self.sources.append(node_layers)

    def forward(self, x):
        nodes = [x]
        for node_layers in self.sources:
            nodes.append(sum(self.layers[i](nodes[j]) for i, j in node_layers))
        return nodes[-1]


class RefBasicBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = RefReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = RefReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class RefNB201(nn.Module):
    def __init__(self, arch, c, n, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        self.cells = nn.ModuleList()
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage:
                self.cells.append(RefBasicBlock(width // 2, width))
            for _ in range(n):
                self.cells.append(RefCell(arch, width))
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.view(x.size(0), -1))


def load_by_position(target: nn.Module, source: nn.Module) -> None:
    """Copy ``source``'s state into ``target`` entry by entry (both built in the same order)."""
    src = list(source.state_dict().values())
    keys = list(target.state_dict().keys())
    shapes = [v.shape for v in target.state_dict().values()]
    assert [v.shape for v in src] == shapes
    target.load_state_dict(dict(zip(keys, src, strict=True)))


# --------------------------------------------------------------------------- tests
def test_cost_sample_has_all_rows():
    rows = cost_rows()
    assert len(rows) == 120
    assert {r["dataset"] for r in rows} == set(INPUT_SHAPES)


@pytest.mark.parametrize("dataset", sorted(INPUT_SHAPES))
def test_parameter_counts_match_the_benchmark(dataset):
    space = NB201Space()
    rows = [r for r in cost_rows() if r["dataset"] == dataset]
    assert len(rows) == 40
    mismatches = []
    for row in rows:
        genome = DAGGenome.from_nb201(row["arch"])
        module = compile_genome(genome, space, INPUT_SHAPES[dataset], int(row["num_classes"]))
        if round(count_params(module) / 1e6, 6) != float(row["params_M"]):
            mismatches.append((row["arch"], count_params(module), row["params_M"]))
    assert mismatches == []


@pytest.mark.parametrize("arch", CELLS)
def test_same_function_as_hand_written_network(arch):
    torch.manual_seed(0)
    space = NB201Space(stem_channels=4, cells_per_stage=2)
    compiled = compile_genome(DAGGenome.from_nb201(arch), space, (3, 8, 8), 7)
    reference = RefNB201(arch, 4, 2, 3, 7)
    assert count_params(compiled) == sum(p.numel() for p in reference.parameters())
    randomize(compiled, seed=1)
    load_by_position(reference, compiled)
    x = torch.randn(4, 3, 8, 8)
    compiled.train()
    reference.train()
    torch.testing.assert_close(compiled(x), reference(x), rtol=1e-5, atol=1e-6)
    # the training pass moved the BN statistics identically
    for a, b in zip(compiled.state_dict().values(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    compiled.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), reference(x), rtol=1e-5, atol=1e-6)


def test_full_size_forward_backward():
    genome = DAGGenome.from_nb201(BEST)
    module = compile_genome(genome, NB201Space(), (3, 16, 16), 120)
    out = module(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 120)
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_code_is_straight_line_and_readable():
    module = compile_genome(DAGGenome.from_nb201(BEST), NB201Space(), (3, 32, 32), 10)
    code = module.code
    assert not re.search(r"\b(for|while|if)\b", code)
    assert "self.stem(x)" in code
    assert "self.cell_2_4.edge_2_3(" in code
    assert "self.reduce_1(" in code and "self.reduce_2(" in code
    assert "self.classifier(" in code
    # 15 cells x 5 convolutions, 2 reductions, stem, lastact, pooling, classifier
    assert code.count("= self.") == 15 * 5 + 2 + 4
    assert type(module).__name__ == "NB201Network"


def test_cell_without_path_computes_zeros():
    genome = DAGGenome.from_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    module = compile_genome(genome, NB201Space(stem_channels=4, cells_per_stage=1), (3, 8, 8), 3)
    assert "zeros_like" in module.code
    module.eval()
    with torch.no_grad():
        out = module(torch.randn(2, 3, 8, 8))
    # zeros flow to the head: logits are the classifier bias (through BN of zeros, in eval mode)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out[0], out[1])


def test_compiling_never_changes_the_genome():
    genome = DAGGenome.from_nb201(CELLS[1])
    before = copy.deepcopy(genome)
    json_before = genome.to_json()
    compile_genome(genome, NB201Space(stem_channels=4, cells_per_stage=1), (3, 8, 8), 10)
    assert genome == before
    assert genome.to_json() == json_before


def test_compiled_modules_are_independent():
    genome = DAGGenome.from_nb201(BEST)
    space = NB201Space(stem_channels=4, cells_per_stage=1)
    a = compile_genome(genome, space, (3, 8, 8), 10)
    b = compile_genome(genome, space, (3, 8, 8), 10)
    pa = {id(p) for p in a.parameters()}
    assert not pa & {id(p) for p in b.parameters()}


def test_rejects_wrong_inputs():
    genome = DAGGenome.from_nb201(BEST)
    with pytest.raises(ValueError, match="input_shape"):
        compile_genome(genome, NB201Space(), (32, 32), 10)
    with pytest.raises(ValueError, match="num_classes"):
        compile_genome(genome, NB201Space(), (3, 32, 32), 0)
    broken = DAGGenome("nb201", 4, genome.edges[:-1])
    with pytest.raises(GenomeError):
        compile_genome(broken, NB201Space(), (3, 32, 32), 10)
