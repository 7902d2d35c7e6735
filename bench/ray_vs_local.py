"""The digits campaign on Ray and on the local pool, with the same worker count.

Runs ``examples/digits.yaml`` (a small budget by default) twice in this process: once with the
local process pool (``evaluator.backend: local``) and once on a local Ray instance started for it
(``evaluator.backend: ray``, ``address: null``), each worker with one CPU slot. For each backend it
reports:

* start-up: from building the evaluator (for Ray: ``ray.init`` included) until every worker has
  built its task (:meth:`wait_until_ready`);
* campaign: from ready until the campaign's last result (the evaluator's ``close`` excluded);
* throughput: evaluations per second of campaign time, and the mean seconds one evaluation took
  inside its worker (compute only; the rest of the campaign time is dispatch and idle slots).

and the ratio ``Ray / local`` of throughputs (target >= 0.9) and Ray's extra start-up cost. Both
campaigns have the same seed, so they evaluate the same genomes (the journals match).

Usage::

    .venv/bin/python bench/ray_vs_local.py                       # 12 evaluations, 2 workers
    .venv/bin/python bench/ray_vs_local.py --set budget.evaluations=24 --order ray,local
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evonas import api
from evonas.config import load_config
from evonas.storage import JOURNAL_FILE, Journal

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits.yaml"


def run_once(config_path: Path, overrides: list[str], backend: str, runs_dir: str) -> dict:
    """Run one campaign; return its start-up seconds, campaign seconds and evaluation count."""
    config = load_config(config_path, [*overrides, f"evaluator.backend={backend}",
                                       f"runs_dir={runs_dir}", "campaign.progress=false"])
    marks: dict[str, float] = {}
    build = api._evaluator_for

    def timed_evaluator(cfg: Any) -> Any:
        start = time.perf_counter()
        evaluator = build(cfg)
        evaluator.wait_until_ready(600)
        marks["ready"] = time.perf_counter()
        marks["startup"] = marks["ready"] - start
        close = evaluator.close

        def timed_close() -> None:
            marks.setdefault("end", time.perf_counter())
            close()

        evaluator.close = timed_close
        return evaluator

    api._evaluator_for = timed_evaluator
    try:
        _, summary = api.start_campaign(config, name=backend)
    finally:
        api._evaluator_for = build
    with Journal.open(Path(runs_dir) / backend / JOURNAL_FILE, readonly=True) as journal:
        seconds = [e.seconds for e in journal.evaluations() if e.status == "ok"]
    return {"startup": marks["startup"], "campaign": marks["end"] - marks["ready"],
            "evaluations": summary.evaluations,
            "eval_seconds": sum(seconds) / max(1, len(seconds))}


def lineage(run_dir: Path) -> list[tuple]:
    """Genomes, parents, operators, statuses and fitnesses (timings differ from run to run)."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        evals = {e.individual_id: e for e in journal.evaluations()}
        return [(i.hash, i.parents, i.operator, evals[i.id].status, evals[i.id].fitness)
                for i in journal.individuals()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=EXAMPLE)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override (repeatable), as with `evonas run --set`")
    parser.add_argument("--order", choices=["local,ray", "ray,local"], default="local,ray",
                        help="which backend runs first")
    args = parser.parse_args()
    overrides = ["budget.evaluations=12", "evaluator.workers=2", *args.set]
    print(f"command: python {' '.join(sys.argv)}")
    print(f"overrides: {overrides}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.order.split(","):
            rows[backend] = row = run_once(args.config, overrides, backend, tmp)
            row["throughput"] = row["evaluations"] / row["campaign"]
            print(f"{backend:>5}: start-up {row['startup']:6.2f} s  campaign "
                  f"{row['campaign']:7.2f} s  {row['evaluations']} evaluations  "
                  f"{row['throughput']:.3f} eval/s  (mean evaluation {row['eval_seconds']:.2f} s "
                  "inside the worker)", flush=True)
        same = lineage(Path(tmp) / "local") == lineage(Path(tmp) / "ray")
    ratio = rows["ray"]["throughput"] / rows["local"]["throughput"]
    extra = rows["ray"]["startup"] - rows["local"]["startup"]
    print(f"throughput ratio ray/local: {ratio:.3f} (target >= 0.9)")
    print(f"ray start-up: {rows['ray']['startup']:.2f} s ({extra:+.2f} s vs the local pool)")
    print(f"same genomes, lineage and fitnesses: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
