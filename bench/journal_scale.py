"""Journal write rate and resume time on a long tabular campaign.

Runs random search on the NAS-Bench-201 table in-process until ``--individuals`` individuals are
journaled (evaluations plus cache hits: the table has only 6,466 distinct architectures), killing
the campaign process with SIGKILL near the end, then times ``evonas resume`` (restore = open the
journal, load the last snapshot, rebuild the window; and the whole resume to the end).

    python bench/journal_scale.py [--individuals 100000] [--checkpoint-every 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def count(journal: Path) -> int:
    try:
        with sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=100_000)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--kill-at", type=float, default=0.95, help="fraction of individuals")
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "name": "scale", "seed": 0, "runs_dir": tmp, "space": {"name": "nb201"},
            "task": {"name": "tabular", "table": "nb201_cifar10"},
            "strategy": {"name": "random"}, "evaluator": {"workers": 0},
            "budget": {"evaluations": 6466, "max_individuals": args.individuals},
            "campaign": {"progress": False, "checkpoint_every": args.checkpoint_every},
        }
        path = Path(tmp) / "scale.yaml"
        path.write_text(yaml.safe_dump(config))
        journal = Path(tmp) / "scale" / "journal.sqlite"
        cli = [sys.executable, "-m", "evonas.cli"]
        start = time.perf_counter()
        proc = subprocess.Popen([*cli, "run", str(path), "--quiet"], stdout=subprocess.DEVNULL,
                                start_new_session=True)
        target = int(args.individuals * args.kill_at)
        while count(journal) < target and proc.poll() is None:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        written = count(journal)
        seconds = time.perf_counter() - start
        print(f"written: {written} individuals in {seconds:.1f}s "
              f"(including process start-up) = {written / seconds:.0f} individuals/s")
        start = time.perf_counter()
        subprocess.run([*cli, "resume", str(journal.parent), "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        total = time.perf_counter() - start
        with sqlite3.connect(journal) as conn:
            restored = [json.loads(d) for (d,) in conn.execute(
                "SELECT data FROM events WHERE kind = 'restored' ORDER BY seq")]
            final = conn.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
        last = restored[-1]
        print(f"resume: restore {last['seconds']:.3f}s (snapshot at {last['told']} told, "
              f"window {last['window']}), whole resume to the end {total:.1f}s "
              f"({final - written} individuals after the kill); journal "
              f"{journal.stat().st_size / 1e6:.0f} MB, {final} individuals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
