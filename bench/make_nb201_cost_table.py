"""Write ``evonas/data/nb201_cifar10_cost.csv``: the NB201 CIFAR-10 table joined with the exact
parameter count of every cell's network, for multi-objective (NSGA-II) campaigns on the table.

The parameter count of the NAS-Bench-201 CIFAR-10 network is linear in the cell's op counts: a
cell-free base (stem, reduction blocks, classifier) plus, in each of the three stages of five cells
with ``C`` channels, ``C*C + 2C`` per ``nor_conv_1x1`` and ``9*C*C + 2C`` per ``nor_conv_3x3``
(ReLU-Conv-BN, no conv bias, affine BN); skips, pools and ``none`` have none. The base and the
per-op counts are taken from the compiler (:func:`evonas.compiler.count_params`), and the result is
checked against the 40 measured cells of ``tests/data/nb201_cost_sample.csv`` (NASLib) and against
full compilations of random cells before anything is written.

    python bench/make_nb201_cost_table.py
"""

from __future__ import annotations

import csv
import functools
import sys
from pathlib import Path

import numpy as np

from evonas.compiler import build_op, compile_genome, count_params
from genomes import DAGGenome, NB201Space
from operators import random_genome

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "evonas" / "data" / "nb201_cifar10.csv"
TARGET = REPO / "evonas" / "data" / "nb201_cifar10_cost.csv"
SAMPLE = REPO / "tests" / "data" / "nb201_cost_sample.csv"
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
INPUT_SHAPE = (3, 32, 32)
EMPTY_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@functools.cache
def op_params(op: str, channels: int) -> int:
    module = build_op(op, channels, channels)
    return 0 if module is None else count_params(module)


def network_params(genome: DAGGenome, base: int) -> int:
    """Parameters of the NB201 CIFAR-10 network with this cell."""
    total = base
    for channels in STAGE_CHANNELS:
        total += CELLS_PER_STAGE * sum(op_params(e.op, channels) for e in genome.edges)
    return total


def main() -> int:
    space = NB201Space()
    base = count_params(compile_genome(DAGGenome.from_nb201(EMPTY_CELL), space, INPUT_SHAPE, 10))
    with SAMPLE.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["dataset"] != "cifar10":
                continue
            want = round(float(row["params_M"]) * 1e6)
            got = network_params(DAGGenome.from_nb201(row["arch"]), base)
            if got != want:
                print(f"mismatch for {row['arch']}: {got} != {want}", file=sys.stderr)
                return 1
    rng = np.random.default_rng(0)
    for _ in range(10):
        genome = random_genome(space, rng)
        compiled = count_params(compile_genome(genome, space, INPUT_SHAPE, 10))
        if compiled != network_params(genome, base):
            print(f"formula disagrees with the compiler for {genome.to_nb201()}", file=sys.stderr)
            return 1
    with SOURCE.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with TARGET.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["arch", "cifar10_test_acc", "params"])
        for row in rows:
            genome = DAGGenome.from_nb201(row["arch"])
            writer.writerow([row["arch"], row["cifar10_test_acc"], network_params(genome, base)])
    print(f"wrote {TARGET} ({len(rows)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
