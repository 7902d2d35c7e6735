"""NEAT on double pole balancing with velocities: evaluations to balance 100,000 steps.

The Markovian double pole task of the NEAT paper (Stanley & Miikkulainen 2002): both poles must
stay up for 100,000 steps of 0.02 s (33 simulated minutes). NEAT paper: 3,600 evaluations on
average (population 150). Each run is a campaign of the engine's NEAT strategy on the ``pole``
task over an in-memory journal (:mod:`bench.neat_loop`), stopping at the first genome that
balances.

    python bench/pole_neat.py [--seeds 20] [--max-generations 100] [--max-steps 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.neat_loop import run_neat  # noqa: E402
from evonas.tasks.control import PoleTask, pole_inputs  # noqa: E402
from genomes import NEATSpace  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-generations", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--population", type=int, default=150)
    parser.add_argument("--no-velocities", action="store_true",
                        help="the non-Markovian variant (recurrent CPPNs)")
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    velocities = not args.no_velocities
    space = NEATSpace(num_inputs=pole_inputs(2, velocities), num_outputs=1,
                      recurrent=not velocities)
    task = PoleTask(2, velocities, args.max_steps)
    start = time.perf_counter()
    outcomes = []
    for seed in range(args.seeds):
        out = run_neat(task, space, seed, args.max_steps, args.max_generations,
                       {"population": args.population})
        outcomes.append(out)
        print(f"seed {seed}: {'balanced' if out.solved else 'failed'} after {out.evaluations} "
              f"evaluations ({out.generations} generations, {out.seconds:.1f}s)", flush=True)
    solved = [o.evaluations for o in outcomes if o.solved]
    mean = statistics.mean(solved) if solved else float("nan")
    median = statistics.median(solved) if solved else float("nan")
    print(f"double pole {'with' if velocities else 'without'} velocities, "
          f"{args.max_steps} steps: balanced {len(solved)}/{args.seeds}; evaluations: mean "
          f"{mean:.0f}, median {median:.0f}; {time.perf_counter() - start:.0f}s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
