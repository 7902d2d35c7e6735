"""Memory over a long campaign: a worker's evaluation loop and the campaign process.

1. Worker: in a fresh process, evaluate digits genomes the way a pool worker does (one task object,
   ``task.evaluate`` again and again, a tiny recipe so 1,000 evaluations are quick) and print the
   resident memory after 10, 100 and 1,000 evaluations.
2. Campaign: in fresh processes, run an in-process NB201 tabular campaign of 10 and of 1,000
   evaluations and print each process's peak resident memory.

    python bench/memory_growth.py [--evaluations 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    sys.path.insert(0, ".")
    from bench.memory_growth import rss_mb
    from evonas.tasks import build_task
    from genomes import FreeSpace
    from operators import random_genome

    torch.set_num_threads(1)
    space = FreeSpace(max_nodes=4, max_edges=5, widths=(8, 16), stem_channels=8)
    task = build_task({"name": "digits", "epochs": 1, "batch_size": 256}, space)
    rng = np.random.default_rng(0)
    marks = {10, 100, int(sys.argv[1])}
    for i in range(1, int(sys.argv[1]) + 1):
        task.evaluate(random_genome(space, rng), seed=i)
        if i in marks:
            print(f"worker: after {i:5d} evaluations RSS {rss_mb():7.1f} MB", flush=True)
""")

CAMPAIGN = textwrap.dedent("""
    import resource, sys, tempfile
    sys.path.insert(0, ".")
    import evonas
    with tempfile.TemporaryDirectory() as tmp:
        evonas.run({"name": "m", "seed": 0, "runs_dir": tmp, "space": {"name": "nb201"},
                    "task": {"name": "tabular", "table": "nb201_cifar10"},
                    "strategy": {"name": "regularized_evolution", "population": 50, "sample": 10},
                    "evaluator": {"workers": 0}, "campaign": {"progress": False},
                    "budget": {"evaluations": int(sys.argv[1])}}).close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"campaign: {int(sys.argv[1]):5d} evaluations, peak RSS {peak:7.1f} MB", flush=True)
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=1000)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    subprocess.run([sys.executable, "-c", WORKER, str(args.evaluations)], check=True)
    for n in (10, args.evaluations):
        subprocess.run([sys.executable, "-c", CAMPAIGN, str(n)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
