"""Campaign loop speed on the NAS-Bench-201 table, in-process, journal on (issue 13).

Runs ``start_campaign`` (what ``evonas run`` calls) with ``evaluator.workers: 0`` on the tabular
task, a file journal in a temporary run folder, for each strategy, and prints individuals/s
(individuals journaled, evaluations plus cache hits, over the campaign's wall time) and the same
over the process's CPU time (steadier on a loaded machine: what the rate would be with a core to
itself). ``--profile`` writes a cProfile of each run.

    python bench/campaign_speed.py [--individuals 30000] [--strategies random regularized_evolution]
        [--repeat 2] [--profile DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from pathlib import Path

from evonas.api import start_campaign
from evonas.config import load_config


def config(tmp: str, strategy: str, individuals: int, seed: int) -> dict:
    return {
        "name": f"speed-{strategy}-{seed}", "seed": seed, "runs_dir": tmp,
        "space": {"name": "nb201"},
        "task": {"name": "tabular", "table": "nb201_cifar10"},
        "strategy": {"name": strategy}, "evaluator": {"workers": 0},
        "budget": {"evaluations": individuals, "max_individuals": individuals},
        "campaign": {"progress": False},
    }


def run_once(strategy: str, individuals: int, seed: int,
             profile: Path | None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config(tmp, strategy, individuals, seed))
        prof = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        _, summary = start_campaign(cfg)
        if prof:
            prof.disable()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if prof and profile:
            profile.mkdir(parents=True, exist_ok=True)
            prof.dump_stats(str(profile / f"{strategy}.prof"))
        return summary.individuals / seconds, summary.individuals / cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=30_000)
    parser.add_argument("--strategies", nargs="+", default=["random", "regularized_evolution"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    for strategy in args.strategies:
        rates = [run_once(strategy, args.individuals, seed, args.profile)
                 for seed in range(args.repeat)]
        print(f"{strategy}: " + " / ".join(f"{r:,.0f}" for r, _ in rates) + " individuals/s; "
              + " / ".join(f"{c:,.0f}" for _, c in rates) + " per CPU second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
