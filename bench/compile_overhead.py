"""Does a compiled genome train as fast as the same network written by hand?

The compiler emits straight-line code (torch.fx), so it should cost nothing over a hand-written
model. This benchmark builds, in one process on the CPU:

1. the full NAS-Bench-201 network (C=16, N=5, CIFAR-10 shape) for a fixed cell, compiled;
2. the same network written plainly: a ``Cell`` whose forward sums its edges, a network whose
   forward loops over its cells (using the shared op library, as a person would);

loads the same weights into both, checks they compute the same outputs, then times one
forward+backward step of each, alternating between them round by round after a warm-up, and
reports the median step times and ``ratio (hand-written time / compiled time)``: >= 1 means the
compiled network is at least as fast (target: >= 0.97). It does the same for one free-space
genome (cell mode, three stages).

Usage::

    .venv/bin/python bench/compile_overhead.py             # about 1 minute on 2 idle cores
    .venv/bin/python bench/compile_overhead.py --rounds 40 --threads 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from evonas.compiler import ResNetBasicBlock, build_op, compile_genome, count_params
from genomes import DAGGenome, Edge, FreeSpace, NB201Space

NB201_CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
              "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
FREE_SPACE = FreeSpace(mode="cell", widths=(16, 32, 64), stem_channels=16, stages=3,
                       cells_per_stage=2)
FREE_GENOME = DAGGenome(
    "free", 5,
    (Edge(0, 1, "conv_3x3"), Edge(0, 2, "sep_conv_5x5"), Edge(1, 2, "max_pool_3x3"),
     Edge(1, 3, "sep_conv_3x3"), Edge(2, 3, "identity"), Edge(2, 4, "conv_3x3"),
     Edge(3, 4, "avg_pool_3x3"), Edge(0, 4, "identity")),
    (16, 32, 16, 32, 16),
)


# --------------------------------------------------------------------------- hand-written models
class Cell(nn.Module):
    """A DAG cell written the ordinary way: a dict of edge modules, a loop over the nodes."""

    def __init__(self, genome: DAGGenome, widths: list[int]) -> None:
        super().__init__()
        self.num_nodes = genome.num_nodes
        self.inputs: dict[int, list[tuple[str, int]]] = {}
        self.ops = nn.ModuleDict()
        # NB201 keeps every edge (as the benchmark does); a free-space cell drops dead nodes
        live = genome.live_nodes() if genome.space == "free" else set(range(genome.num_nodes))
        for node in range(1, genome.num_nodes):
            self.inputs[node] = []
            for e in genome.in_edges(node):
                op = build_op(e.op, widths[e.src], widths[e.dst])
                if op is not None and e.src in live and e.dst in live:
                    self.ops[f"{e.src}_{e.dst}"] = op
                    self.inputs[node].append((f"{e.src}_{e.dst}", e.src))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, self.num_nodes):
            terms = [self.ops[key](nodes[src]) for key, src in self.inputs[node]]
            nodes.append(sum(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


class HandNetwork(nn.Module):
    """Stem, stages of cells with basic-block reductions, head; forward loops over the cells."""

    def __init__(self, genome: DAGGenome, stem: int, stages: int, cells: int,
                 num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem))
        self.cells = nn.ModuleList()
        channels = stem
        for stage in range(stages):
            if stage > 0:
                self.cells.append(ResNetBasicBlock(channels, channels * 2))
                channels *= 2
            widths = [w * 2**stage for w in genome.widths] or [channels] * genome.num_nodes
            for _ in range(cells):
                self.cells.append(Cell(genome, widths))
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))


# --------------------------------------------------------------------------- timing
def copy_weights(target: nn.Module, source: nn.Module) -> None:
    """Load ``source``'s state into ``target`` entry by entry (both are built in the same order)."""
    values = list(source.state_dict().values())
    keys = list(target.state_dict())
    shapes = [v.shape for v in target.state_dict().values()]
    if [v.shape for v in values] != shapes:
        raise SystemExit("the hand-written and compiled networks differ in their weights")
    target.load_state_dict(dict(zip(keys, values, strict=True)))


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """One forward+backward step; returns its wall time in seconds."""
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    return time.perf_counter() - start


def compare(label: str, compiled: nn.Module, hand: nn.Module, args: argparse.Namespace) -> float:
    """Time both models alternately; print and return hand-written / compiled median time."""
    copy_weights(hand, compiled)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    compiled.eval()
    hand.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), hand(x), rtol=1e-4, atol=1e-4)
    compiled.train()
    hand.train()
    print(f"\n== {label}: {count_params(compiled):,} parameters, batch {args.batch}")
    runners: dict[str, Callable[[], float]] = {
        "compiled": lambda: train_step(compiled, x, y),
        "hand-written": lambda: train_step(hand, x, y),
    }
    for _ in range(args.warmup):
        for run in runners.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(args.rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        for name in order:  # ABBA order cancels drift within a round pair
            times[name].append(runners[name]())
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f"{name:>13}: median {medians[name] * 1e3:8.1f} ms  "
              f"(min {min(ts) * 1e3:.1f}, max {max(ts) * 1e3:.1f}, {len(ts)} steps)")
    ratio = medians["hand-written"] / medians["compiled"]
    print(f"ratio (hand-written time / compiled time) = {ratio:.3f}")
    return ratio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=16,
                        help="timed steps per model and network (default 16)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--batch", type=int, default=64, help="batch size (32x32 RGB inputs)")
    parser.add_argument("--seed", type=int, default=0, help="weight initialization seed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("command:", " ".join([sys.executable, *sys.argv]))
    print("args:", vars(args))
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

    torch.manual_seed(args.seed)
    space = NB201Space()
    nb201 = DAGGenome.from_nb201(NB201_CELL)
    compiled = compile_genome(nb201, space, (3, 32, 32), 10)
    hand = HandNetwork(nb201, space.stem_channels, 3, space.cells_per_stage, 10)
    compare(f"NB201 {NB201_CELL}", compiled, hand, args)

    free = FREE_GENOME
    compiled = compile_genome(free, FREE_SPACE, (3, 32, 32), 10)
    hand = HandNetwork(free, FREE_SPACE.stem_channels, FREE_SPACE.stages,
                       FREE_SPACE.cells_per_stage, 10)
    compare(f"free cell {free.describe()}", compiled, hand, args)


if __name__ == "__main__":
    main()
