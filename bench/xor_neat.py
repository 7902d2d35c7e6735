"""NEAT on XOR: success rate and evaluations to solve, and wall time against neat-python.

Population 150, solved at fitness 3.9 (4 minus the summed squared error over the four patterns).
NEAT paper (Stanley & Miikkulainen 2002): 4,755 evaluations on average, no failure in 100 runs.

Ours is timed as users run it: ``evonas run examples/xor_neat.yaml --quiet --set seed=S`` in this
process, i.e. :func:`evonas.api.start_campaign` (what ``evonas run`` calls) on the example's
config with ``seed`` and ``runs_dir`` (a temporary folder) overridden and no progress bar: a new
run folder with its file journal (SQLite, WAL), the evaluator ``evonas run`` builds for it
(in-process, the XOR task's batched form: one tensor program per generation), the campaign
stopping at ``task.target``. The clock covers the whole call (run folder and journal creation,
the campaign, the final commit). The evaluations to solve are read back from the run's journal.
torch is imported and warmed up before any clock starts, as neat-python is imported before its
runs.

neat-python (bench-only dependency: ``pip install neat-python``) runs its own XOR example
configuration (``examples/xor/config-feedforward``), in the same process, seed by seed,
interleaved with ours so both see the same machine load. The ratios are ours over theirs, summed
over the seeds, each run stopping at the threshold: wall time, and the process's CPU time
(steadier on a shared machine).

    python bench/xor_neat.py [--seeds 100] [--compare-seeds 30] [--max-generations 300]
        [--config examples/xor_neat.yaml] [--profile FILE]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evonas.api import start_campaign  # noqa: E402
from evonas.config import load_config  # noqa: E402
from evonas.storage import JOURNAL_FILE, Journal, Status  # noqa: E402
from evonas.tasks.control import XOR_INPUTS, XOR_TARGETS, XORTask  # noqa: E402
from genomes import NEATSpace  # noqa: E402

THRESHOLD = 3.9
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "xor_neat.yaml"

NEAT_PYTHON_CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 3.9
pop_size              = 150
reset_on_extinction   = False
no_fitness_termination = False

[DefaultGenome]
activation_default      = sigmoid
activation_mutate_rate  = 0.0
activation_options      = sigmoid
aggregation_default     = sum
aggregation_mutate_rate = 0.0
aggregation_options     = sum
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = 0.5
conn_delete_prob        = 0.5
enabled_default         = True
enabled_mutate_rate     = 0.01
feed_forward            = True
initial_connection      = full
node_add_prob           = 0.2
node_delete_prob        = 0.2
num_hidden              = 0
num_inputs              = 2
num_outputs             = 1
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20
species_elitism      = 2

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
"""


def warm_up() -> None:
    """Import torch and run the batched evaluator once, before any clock starts.

    Library imports are outside the timings on both sides (neat-python is imported before its
    runs too); torch's import and first kernel calls cost seconds once per process.
    """
    import numpy as np

    from operators.neat import initial_genome

    genome = initial_genome(NEATSpace(), np.random.default_rng(0))
    XORTask(THRESHOLD).evaluate_batch([genome], [0])


def ours(seed: int, config_path: Path, profiler: Any = None
         ) -> tuple[bool, int, int, float, float]:
    """One ``evonas run`` of the example config: (solved, evaluations to solve, without the
    cached copies, wall s, CPU s)."""
    gc.collect()  # start both sides from a clean heap
    with tempfile.TemporaryDirectory(prefix="evonas-xor-") as runs_dir:
        config = load_config(config_path, [f"seed={seed}", f"runs_dir={runs_dir}"])
        target = config.section("task")["target"]
        start, cpu_start = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        run_dir, _ = start_campaign(config, f"xor-{seed}")
        if profiler is not None:
            profiler.disable()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
            rows = list(journal.evaluations())
    solver = next((ev.individual_id for ev in rows
                   if ev.fitness is not None and ev.fitness >= target), None)
    last = rows[-1].individual_id if solver is None else solver
    unique = sum(1 for ev in rows if ev.individual_id <= last and ev.status != Status.CACHED)
    return solver is not None, last + 1, unique, seconds, cpu_seconds


def theirs(config: object, seed: int, max_generations: int
           ) -> tuple[bool, int, float, float]:
    """One run of neat-python: (solved, evaluations, wall s, CPU s)."""
    import neat

    def eval_genomes(genomes: list, config: object) -> None:
        for _, genome in genomes:
            genome.fitness = 4.0
            net = neat.nn.FeedForwardNetwork.create(genome, config)
            for xi, xo in zip(XOR_INPUTS, XOR_TARGETS, strict=True):
                genome.fitness -= (net.activate(xi)[0] - xo) ** 2

    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    population = neat.Population(config, seed=seed)
    winner = population.run(eval_genomes, max_generations)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    solved = winner is not None and winner.fitness >= THRESHOLD
    return solved, population.generation * config.pop_size, seconds, cpu_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100,
                        help="seeds of our success-rate run (0: skip)")
    parser.add_argument("--compare-seeds", type=int, default=30,
                        help="seeds of the wall-time comparison with neat-python (0: skip)")
    parser.add_argument("--max-generations", type=int, default=300,
                        help="neat-python's generation limit (ours: the config's budget)")
    parser.add_argument("--config", type=Path, default=EXAMPLE,
                        help="our campaign config (default: examples/xor_neat.yaml)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile our runs of the comparison into FILE")
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"load average {os.getloadavg()[0]:.1f}, usable cores {len(os.sched_getaffinity(0))}")
    warm_up()

    if args.seeds > 0:
        success_rate(args.seeds, args.config)
    if args.compare_seeds > 0:
        compare(args.compare_seeds, args.config, args.max_generations, args.profile)
    return 0


def success_rate(seeds: int, config_path: Path) -> None:
    results = [ours(seed, config_path) for seed in range(seeds)]
    solved = [r for r in results if r[0]]
    print(f"ours: solved {len(solved)}/{seeds}; evaluations to solve: mean "
          f"{statistics.mean(r[1] for r in solved):.0f} (median "
          f"{statistics.median(r[1] for r in solved):.0f}, max {max(r[1] for r in solved)}); "
          f"without elite copies: mean {statistics.mean(r[2] for r in solved):.0f}; "
          f"mean wall time {statistics.mean(r[3] for r in results):.2f}s per run")


def compare(seeds: int, config_path: Path, max_generations: int, profile: str | None) -> None:
    import neat

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config-feedforward")
        Path(path).write_text(NEAT_PYTHON_CONFIG)
        config = neat.Config(neat.DefaultGenome, neat.DefaultReproduction,
                             neat.DefaultSpeciesSet, neat.DefaultStagnation, path)
    ours_time = theirs_time = ours_cpu = theirs_cpu = 0.0
    ours_solved = theirs_solved = 0
    theirs_evals = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    for seed in range(seeds):
        a = ours(seed, config_path, profiler)
        b = theirs(config, seed, max_generations)
        ours_time, ours_cpu = ours_time + a[3], ours_cpu + a[4]
        theirs_time, theirs_cpu = theirs_time + b[2], theirs_cpu + b[3]
        ours_solved += a[0]
        theirs_solved += b[0]
        if b[0]:
            theirs_evals.append(b[1])
    version = getattr(neat, "__version__", "")
    mean_evals = statistics.mean(theirs_evals) if theirs_evals else float("nan")
    print(f"over {seeds} seeds, same process, interleaved: ours ({config_path.name}, "
          f"evonas run) {ours_solved} "
          f"solved, neat-python {version} {theirs_solved} solved (mean {mean_evals:.0f} "
          f"evaluations)")
    print(f"  wall time: ours {ours_time:.1f}s, neat-python {theirs_time:.1f}s, ratio "
          f"ours/theirs = {ours_time / theirs_time:.3f}")
    print(f"  CPU time of the process: ours {ours_cpu:.1f}s, neat-python {theirs_cpu:.1f}s, "
          f"ratio ours/theirs = {ours_cpu / theirs_cpu:.3f}")
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        print(f"our profile: {profile} (python -m pstats {profile}; sort cumtime)")


if __name__ == "__main__":
    sys.exit(main())
