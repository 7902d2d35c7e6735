"""SIGKILL a campaign with several workers at random moments, resume each time, and compare the
final journal with that of a campaign never interrupted: every strategy, DARTS included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from evonas.storage import JOURNAL_FILE
from tests.campaigns import journal_rows
from tests.conftest import tabular_config

KILLS = 10
#: Strategy -> changes to the tabular campaign config.
STRATEGIES: dict[str, dict] = {
    "regularized_evolution": {
        "strategy": {"name": "regularized_evolution", "population": 20, "sample": 5}},
    "generational": {"strategy": {"name": "generational", "population": 12, "offspring": 12}},
    "random": {"strategy": {"name": "random"}},
    "nsga2": {"strategy": {"name": "nsga2", "population": 12,
                           "objectives": [{"metric": "fitness", "goal": "max"},
                                          {"metric": "params", "goal": "min"}]},
              "task__table": "nb201_cifar10_cost"},
    "reinforce": {"strategy": {"name": "reinforce", "batch_size": 2}},
}
#: Fields that measure time, not outcomes: equal only by chance between two runs.
TIMING_FIELDS = ("search_seconds", "train_seconds")


def outcome_rows(run_dir: Path) -> list[tuple]:
    """:func:`journal_rows` without the timing fields of operator records and metrics."""
    def strip(record: dict) -> dict:
        return {k: v for k, v in record.items() if k not in TIMING_FIELDS}

    return [(*row[:4], strip(row[4]), *row[5:8], strip(row[8]), row[9])
            for row in journal_rows(run_dir)]


def evonas_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evonas.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_and_resume_repeatedly(config: dict, tmp_path: Path, pause: float) -> Path:
    """Run ``config`` uninterrupted as ``reference``; run it again as ``killed``, SIGKILLed
    :data:`KILLS` times at random moments (up to ``pause`` seconds after the journal appears)
    and resumed each time, then to its end. Returns the killed run's folder."""
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    reference = evonas_cli("run", str(path), "--name", "reference", "--quiet")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()

    run_dir = tmp_path / "runs" / "killed"
    rng = np.random.default_rng(2024)
    kills_landed = 0
    for _ in range(KILLS):
        if (run_dir / JOURNAL_FILE).exists():
            proc = evonas_cli("resume", str(run_dir), "--quiet")
        else:
            proc = evonas_cli("run", str(path), "--name", "killed", "--quiet")
        wait_for(run_dir / JOURNAL_FILE, proc)  # start-up is slow on a loaded machine
        time.sleep(rng.uniform(0.0, pause))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills_landed += 1
        proc.wait(timeout=30)
    assert kills_landed >= KILLS // 2  # most kills hit a running campaign
    final = evonas_cli("resume", str(run_dir), "--quiet")
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_killed_and_resumed_campaign_equals_uninterrupted(tmp_path: Path, strategy: str) -> None:
    config = tabular_config(tmp_path, **STRATEGIES[strategy], budget__evaluations=120,
                            evaluator__workers=2, campaign__checkpoint_every=9)
    run_dir = kill_and_resume_repeatedly(config, tmp_path, pause=2.0)
    expected = journal_rows(tmp_path / "runs" / "reference")
    got = journal_rows(run_dir)
    assert len(got) == len(expected)
    assert got == expected


@pytest.mark.slow
def test_killed_and_resumed_darts_search_equals_uninterrupted(tmp_path: Path) -> None:
    """DARTS trains its supernet in the campaign process: a kill lands mid-epoch, and the resumed
    search (weights, optimizers and generator from the snapshot, epochs after it replayed)
    derives the same genomes with the same alphas, evaluated on two workers."""
    config = tabular_config(
        tmp_path, space={"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        task={"name": "digits", "epochs": 1, "batch_size": 128},
        strategy={"name": "darts", "epochs": 6, "batch_size": 128},
        budget__evaluations=6, evaluator__workers=2, campaign__checkpoint_every=2)
    run_dir = kill_and_resume_repeatedly(config, tmp_path, pause=4.0)
    expected = outcome_rows(tmp_path / "runs" / "reference")
    got = outcome_rows(run_dir)
    assert [row[4]["epoch"] for row in got] == list(range(1, 7))
    assert got == expected


@pytest.mark.slow
def test_sigint_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    config = tabular_config(tmp_path, strategy={"name": "random"}, budget__evaluations=5000,
                            evaluator__workers=2, campaign__grace_period=5.0)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([sys.executable, "-m", "evonas.cli", "run", str(path), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    run_dir = tmp_path / "runs" / "t"
    wait_for(run_dir / JOURNAL_FILE, proc)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert f"continue with: evonas resume {run_dir}" in out.decode()
    assert "stopping" in err.decode()

    import evonas

    status = evonas.open_run(run_dir).status()
    assert status["state"] == "stopped" and 0 < status["evaluations"] < 5000
    assert status["pending"] == 0  # in-flight evaluations finished within the grace period
