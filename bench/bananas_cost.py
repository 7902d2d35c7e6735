"""What one BANANAS proposal costs with 1,000 results told (the predictor must pay for itself).

Tells ``--told`` distinct random NB201 cells with their CIFAR-10 test accuracy from the packaged
table, then times ``--proposals`` rounds of one tell and one ``ask(1)``: every such ask refits the
ensemble on everything told (``max_train`` results at most) and ranks the candidates, which is the
cost a campaign pays per proposal in birth order. Printed: the mean, median and worst wall time
per proposal, the CPU time of this process per proposal (what the wall time is on an idle core:
torch runs one thread), the ``search_seconds`` the operator records carry (what the campaign
counts as device time), and the load average of the machine (the cores are shared).

    python bench/bananas_cost.py [--told 1000] [--proposals 20] [--option key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from evonas.strategies import Evaluated, build_strategy
from evonas.strategies.bananas import BANANAS
from evonas.tasks.tabular import TabularTask
from genomes import NB201Space


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--told", type=int, default=1000)
    parser.add_argument("--proposals", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--option", action="append", default=[],
                        help="a strategy option, key=value (value read as JSON)")
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    print(f"command: python {' '.join(sys.argv)}")
    task = TabularTask("nb201_cifar10")
    space = NB201Space()
    strategy = build_strategy({"name": "bananas", **options}, space,
                              np.random.default_rng(args.seed))
    assert isinstance(strategy, BANANAS)
    rng = np.random.default_rng(args.seed + 1)
    seen: set[str] = set()
    next_id = 0

    def tell_random() -> None:
        nonlocal next_id
        genome = space.sample(rng)
        while genome.canonical_hash() in seen:
            genome = space.sample(rng)
        seen.add(genome.canonical_hash())
        strategy.tell([Evaluated(next_id, genome, task.evaluate(genome, 0)["fitness"])])
        next_id += 1

    for _ in range(args.told - 1):
        tell_random()
    walls, cpus, recorded = [], [], []
    for _ in range(args.proposals):
        tell_random()
        start, cpu = time.perf_counter(), time.process_time()
        (candidate,) = strategy.ask(1)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        recorded.append(candidate.operator["search_seconds"])
        seen.add(candidate.genome.canonical_hash())
    load = os.getloadavg()
    print(f"bananas ({strategy.encoding} encoding, {strategy.members} members x "
          f"{strategy.layers} x {strategy.hidden}, {strategy.epochs} full-batch steps, "
          f"max_train {strategy.max_train}), {args.told}..{next_id} told, "
          f"{os.cpu_count()} cores, load average {load[0]:.1f}")
    print(f"per proposal: mean {statistics.fmean(walls):.3f} s, median "
          f"{statistics.median(walls):.3f} s, worst {max(walls):.3f} s; CPU time mean "
          f"{statistics.fmean(cpus):.3f} s, worst {max(cpus):.3f} s; search_seconds mean "
          f"{statistics.fmean(recorded):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
