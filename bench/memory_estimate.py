"""The memory-aware dispatch's estimate: what it costs to compute, and how it compares with a real
training step's saved activations.

For each network it prints:

* the time of one :func:`~evonas.evaluation.memory.estimate_peak_memory` call (median of
  ``--rounds``, uncached: what the pool pays once per new architecture);
* the estimate's parts (parameters, gradients, optimizer state, training activations, scoring);
* a reality check of the largest part on CPU: the bytes autograd really keeps for the backward
  pass during one training forward at the same batch size (distinct storages, counted with
  :func:`torch.autograd.graph.saved_tensors_hooks`), against the estimate's activations.

Usage::

    .venv/bin/python bench/memory_estimate.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from evonas.compiler import compile_genome
from evonas.evaluation.memory import estimate_peak_memory, format_size
from genomes import DAGGenome, FreeSpace, NB201Space

NB201_BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
              "nor_conv_3x3~2|")

CASES = [
    # (label, space, genome, input shape, classes, batch)
    ("NB201 best cell, C=16 N=5, CIFAR shape", NB201Space(), DAGGenome.from_nb201(NB201_BEST),
     (3, 32, 32), 10, 64),
    ("NB201 best cell, digits macro (8 ch, 1 cell)", NB201Space(stem_channels=8,
                                                                cells_per_stage=1),
     DAGGenome.from_nb201(NB201_BEST), (1, 8, 8), 10, 64),
]


def free_case() -> tuple:
    space = FreeSpace(max_nodes=5, max_edges=8, widths=(8, 16, 32), stem_channels=16)
    genome = DAGGenome.from_dict({
        "kind": "dag", "version": 1, "space": "free", "num_nodes": 5, "widths": [16, 8, 16, 8, 32],
        "edges": [[0, 1, "conv_5x5"], [0, 2, "identity"], [0, 3, "sep_conv_3x3"],
                  [1, 3, "max_pool_3x3"], [2, 4, "conv_3x3"], [3, 4, "conv_3x3"]]})
    return ("free-space demo network (digits)", space, genome, (1, 8, 8), 10, 64)


def saved_for_backward(module: torch.nn.Module, batch: torch.Tensor,
                       labels: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves during one training forward."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    module.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(module(batch), labels)
    loss.backward()
    return sum(seen.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{'network':<46} {'estimate time':>13} {'params':>9} {'optimizer':>9} "
          f"{'activations':>11} {'scoring':>9} {'total':>9}  {'autograd saved':>14} {'ratio':>6}")
    for label, space, genome, shape, classes, batch_size in [*CASES, free_case()]:
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            estimate = estimate_peak_memory(genome, space, shape, classes, batch_size, "adam",
                                            eval_batch_size=1024)
            times.append(time.perf_counter() - start)
        torch.manual_seed(0)
        module = compile_genome(genome, space, shape, classes)
        real = saved_for_backward(module, torch.randn(batch_size, *shape),
                                  torch.randint(0, classes, (batch_size,)))
        print(f"{label:<46} {statistics.median(times) * 1000:>10.1f} ms "
              f"{format_size(estimate.params):>9} {format_size(estimate.optimizer):>9} "
              f"{format_size(estimate.activations):>11} {format_size(estimate.scoring):>9} "
              f"{format_size(estimate.total):>9}  {format_size(real):>14} "
              f"{estimate.activations / real:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
