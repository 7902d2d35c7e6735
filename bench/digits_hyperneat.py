"""HyperNEAT on the 8x8 digits: test accuracy of the best painted substrate network.

Each run evolves CPPNs with the engine's NEAT strategy for a fixed number of generations on the
``digits_hyperneat`` task (batched: a generation is painted and scored in a few tensor calls) and
reports the test accuracy of the run's fittest genome (selection never sees the test split).
Two modes: pure HyperNEAT (the painted weights as they are; fitness = train-split likelihood)
and ``--train-steps N`` (the painting initialises a network that then takes N full-batch Adam
steps; fitness = validation accuracy).

    python bench/digits_hyperneat.py [--seeds 3] [--generations 30] [--population 100]
        [--hidden 5 5] [--max-weight 3.0] [--threshold 0.2] [--train-steps 0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.neat_loop import run_neat  # noqa: E402
from evonas.tasks import build_task  # noqa: E402
from genomes import space_from_dict  # noqa: E402

SPACE = {"name": "neat", "num_inputs": 4, "num_outputs": 4,
         "activations": ["sigmoid", "tanh", "sin", "gauss", "abs", "identity"],
         "output_activations": ["tanh"]}
STRATEGY = {"activation_prob": 0.1, "add_node_prob": 0.1, "add_connection_prob": 0.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--hidden", type=int, nargs=2, default=[5, 5],
                        help="hidden grid rows and columns (0 0: no hidden layer)")
    parser.add_argument("--max-weight", type=float, default=3.0)
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--train-steps", type=int, default=0)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    hidden = [] if 0 in args.hidden else list(args.hidden)
    space = space_from_dict({**SPACE, "num_outputs": 4 if hidden else 2})
    task = build_task({"name": "digits_hyperneat", "hidden": hidden,
                       "max_weight": args.max_weight, "threshold": args.threshold,
                       "train_steps": args.train_steps}, space)
    start = time.perf_counter()
    tests = []
    for seed in range(args.seeds):
        out = run_neat(task, space, seed, math.inf, args.generations,
                       {"population": args.population, **STRATEGY})
        assert out.champion is not None
        metrics = task.evaluate(out.champion, 0)
        tests.append(metrics["test_accuracy"])
        print(f"seed {seed}: fitness {metrics['fitness']:.4f}  train accuracy "
              f"{metrics['train_accuracy']:.4f}  val {metrics['val_accuracy']:.4f}  test "
              f"{metrics['test_accuracy']:.4f}  ({out.seconds:.0f}s, CPPN hidden nodes "
              f"{metrics['hidden_nodes']}, expressed connections {metrics['expressed']})",
              flush=True)
    mode = f"{args.train_steps} Adam steps from the painting" if args.train_steps \
        else "pure HyperNEAT"
    print(f"digits_hyperneat ({mode}), {args.generations} generations x {args.population}: "
          f"test accuracy mean {statistics.mean(tests):.4f} over {args.seeds} seeds "
          f"(min {min(tests):.4f}, max {max(tests):.4f}); "
          f"{time.perf_counter() - start:.0f}s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
