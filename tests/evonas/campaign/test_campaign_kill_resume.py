"""SIGKILL a campaign with several workers at random moments, resume each time, and compare the
final journal with that of a campaign never interrupted."""

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
from tests.conftest import tabular_config
from tests.evonas.campaign.test_campaign_tabular import journal_rows

KILLS = 10
STRATEGIES = {
    "regularized_evolution": {"name": "regularized_evolution", "population": 20, "sample": 5},
    "generational": {"name": "generational", "population": 12, "offspring": 12},
}


def evonas_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evonas.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_killed_and_resumed_campaign_equals_uninterrupted(tmp_path: Path, strategy: str) -> None:
    config = tabular_config(tmp_path, strategy=STRATEGIES[strategy], budget__evaluations=120,
                            evaluator__workers=2, campaign__checkpoint_every=9)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))

    reference = evonas_cli("run", str(path), "--name", "reference", "--quiet")
    assert reference.wait(timeout=120) == 0, reference.stderr.read().decode()

    run_dir = tmp_path / "runs" / "killed"
    rng = np.random.default_rng(2024)
    kills_landed = 0
    for _ in range(KILLS):
        if (run_dir / JOURNAL_FILE).exists():
            proc = evonas_cli("resume", str(run_dir), "--quiet")
        else:
            proc = evonas_cli("run", str(path), "--name", "killed", "--quiet")
        wait_for(run_dir / JOURNAL_FILE, proc)  # start-up is slow on a loaded machine
        time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills_landed += 1
        proc.wait(timeout=30)
    assert kills_landed >= KILLS // 2  # most kills hit a running campaign
    final = evonas_cli("resume", str(run_dir), "--quiet")
    assert final.wait(timeout=120) == 0, final.stderr.read().decode()

    expected = journal_rows(tmp_path / "runs" / "reference")
    got = journal_rows(run_dir)
    assert len(got) == len(expected)
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
