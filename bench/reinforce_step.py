"""REINFORCE's controller cost per individual: ``ask(1)`` then ``tell`` of one result (a sample
and a policy update), on the NB201 space, in this process.

``--base FILE`` loads another version of ``evonas/strategies/reinforce.py`` (e.g. from
``git show f995d20:evonas/strategies/reinforce.py > /tmp/old.py``) and times the two
interleaved, round by round, so both see the same machine load; prints the medians and their
ratio. This is a part of what a campaign spends per individual (the journal and the loop come
on top: ``bench/campaign_speed.py --strategies reinforce`` times the whole).

    python bench/reinforce_step.py [--rounds 8] [--individuals 300] [--base FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evonas.strategies import reinforce  # noqa: E402
from evonas.strategies.base import Evaluated  # noqa: E402
from genomes import NB201Space  # noqa: E402


def per_individual(module: ModuleType, individuals: int) -> float:
    """Microseconds per ask(1) + tell of a REINFORCE strategy from ``module``."""
    strategy = module.Reinforce(NB201Space(), np.random.default_rng(0))
    rewards = np.random.default_rng(5)
    start = time.perf_counter()
    for k in range(individuals):
        candidate = strategy.ask(1)[0]
        strategy.tell([Evaluated(k, candidate.genome, float(rewards.random()), {})])
    return (time.perf_counter() - start) / individuals * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--individuals", type=int, default=300)
    parser.add_argument("--base", type=Path, default=None)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    modules = {"this tree": reinforce}
    if args.base is not None:
        spec = importlib.util.spec_from_file_location("base_reinforce", args.base)
        assert spec is not None and spec.loader is not None
        base = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(base)
        modules = {"base": base, **modules}
    times: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.rounds):
        for name, module in modules.items():
            times[name].append(per_individual(module, args.individuals))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name}: {value:,.0f} us per individual (ask(1) + tell), median of "
              f"{args.rounds} rounds")
    if "base" in medians:
        print(f"ratio this tree / base: {medians['this tree'] / medians['base']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
