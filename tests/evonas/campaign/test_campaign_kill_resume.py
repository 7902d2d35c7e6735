"""SIGKILL a campaign with several workers at moments chosen by journal progress, resume each
time, and compare the final journal with that of a campaign never interrupted: every strategy,
DARTS included, in birth order. Stop one gracefully (SIGTERM, SIGINT) and resume it: the same
journal again. In async order (results told as they arrive) two runs differ, so the check is that
the final journal replays from scratch, genome for genome, and that nothing was evaluated twice
beyond what was in flight at each kill.

Kills and stops are triggered by what the journal holds (rows written), never by wall-clock
guesses, and the tabular task sleeps a fixed time per evaluation, so every kill lands in a running
campaign on a fast idle machine and on a loaded one alike.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from evonas.storage import JOURNAL_FILE
from tests.campaigns import dispatches_beyond_evaluations, journal_rows, replay_from_scratch
from tests.conftest import tabular_config

KILLS = 6
#: Seconds each tabular evaluation sleeps: the campaign takes a known minimum time.
EVALUATION_SECONDS = 0.05
#: Strategy -> changes to the tabular campaign config (NEAT evolves CPPNs on XOR instead).
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
    "neat": {"space": {"name": "neat", "num_inputs": 2, "num_outputs": 1,
                       "activations": ["sigmoid"], "output_activations": ["sigmoid"]},
             "task": {"name": "xor"}, "strategy": {"name": "neat", "population": 20},
             "campaign__stop_at_target": False},
}
#: Fields that measure time, not outcomes: equal only by chance between two runs.
TIMING_FIELDS = ("search_seconds", "train_seconds")


def slow_tabular_config(tmp_path: Path, seconds: float = EVALUATION_SECONDS,
                        **changes: object) -> dict:
    """The tabular campaign with its task wrapped in ``faulty``, every evaluation sleeping
    ``seconds`` before it returns the table's (deterministic) result."""
    config = tabular_config(tmp_path, **changes)
    config["task"] = {"name": "faulty", "inner": config["task"], "rates": {"hang": 1.0},
                      "hang_seconds": seconds}
    return config


def outcome_rows(run_dir: Path) -> list[tuple]:
    """:func:`journal_rows` without the timing fields of operator records and metrics."""
    def strip(record: dict) -> dict:
        return {k: v for k, v in record.items() if k not in TIMING_FIELDS}

    return [(*row[:4], strip(row[4]), *row[5:8], strip(row[8]), row[9])
            for row in journal_rows(run_dir)]


def evonas_cli(*args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evonas.cli", *args],
                            stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)


def journal_progress(path: Path) -> int:
    """Rows the journal holds: individuals plus evaluations (0 while it cannot be read)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return sum(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                       for table in ("individuals", "evaluations"))
        finally:
            conn.close()
    except sqlite3.Error:  # being created, or a table not there yet
        return 0


def wait_for_progress(path: Path, proc: subprocess.Popen, rows: int,
                      limit: float = 300.0) -> bool:
    """Wait until the journal at ``path`` holds at least ``rows`` rows while ``proc`` runs (the
    limit only guards against a hang). Returns whether ``proc`` is still running."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if path.exists() and journal_progress(path) >= rows:
            break
        time.sleep(0.01)
    return proc.poll() is None


def kill_and_resume_repeatedly(config: dict, tmp_path: Path, kills: int = KILLS) -> Path:
    """Run ``config`` uninterrupted as ``reference``; run it again as ``killed``, SIGKILLed
    ``kills`` times, each when its journal holds a chosen number of rows (drawn below three
    quarters of the reference's, in increasing order; a resume may be killed while it restores),
    and resumed each time, then to its end. Returns the killed run's folder."""
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    reference = evonas_cli("run", str(path), "--name", "reference", "--quiet")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()
    total = journal_progress(tmp_path / "runs" / "reference" / JOURNAL_FILE)

    run_dir = tmp_path / "runs" / "killed"
    thresholds = np.sort(np.random.default_rng(2024).integers(0, total * 3 // 4, kills))
    kills_landed = 0
    for rows in thresholds:
        if (run_dir / JOURNAL_FILE).exists():
            proc = evonas_cli("resume", str(run_dir), "--quiet")
        else:
            proc = evonas_cli("run", str(path), "--name", "killed", "--quiet")
        if wait_for_progress(run_dir / JOURNAL_FILE, proc, max(int(rows), 1)):
            os.killpg(proc.pid, signal.SIGKILL)
            kills_landed += 1
        proc.wait(timeout=30)
    assert kills_landed >= kills - 1, f"only {kills_landed} kills hit a running campaign"
    final = evonas_cli("resume", str(run_dir), "--quiet")
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_killed_and_resumed_campaign_equals_uninterrupted(tmp_path: Path, strategy: str) -> None:
    config = slow_tabular_config(tmp_path, **STRATEGIES[strategy], budget__evaluations=100,
                                 evaluator__workers=2, campaign__checkpoint_every=9,
                                 campaign__order="birth")
    run_dir = kill_and_resume_repeatedly(config, tmp_path)
    expected = journal_rows(tmp_path / "runs" / "reference")
    got = journal_rows(run_dir)
    assert len(got) == len(expected)
    assert got == expected


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_killed_async_campaign_replays_and_redoes_only_what_was_in_flight(
        tmp_path: Path, strategy: str) -> None:
    """Async order (the default with two workers): killed four times and resumed, the campaign
    spends its budget exactly, its journal replays from scratch, and at most the two evaluations
    in flight at each kill ran twice."""
    kills = 4
    config = slow_tabular_config(tmp_path, **STRATEGIES[strategy], budget__evaluations=100,
                                 evaluator__workers=2, campaign__checkpoint_every=9)
    run_dir = kill_and_resume_repeatedly(config, tmp_path, kills)
    rows = journal_rows(run_dir)
    assert all(row[6] is not None for row in rows), "an individual was left without a result"
    assert sum(row[9] is None for row in rows) == 100  # evaluations (the rest: cached copies)
    assert replay_from_scratch(run_dir, tmp_path) == len(rows)
    assert 0 <= dispatches_beyond_evaluations(run_dir) <= 2 * kills


def darts_config(tmp_path: Path, epochs: int = 4) -> dict:
    """A small DARTS search on digits (a cell derived after each of ``epochs`` supernet epochs),
    its derived cells evaluated on two workers, in birth order (a derived cell's parent is the
    last one told, which in async order is whichever finished last)."""
    return tabular_config(
        tmp_path, space={"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
        task={"name": "digits", "epochs": 1, "batch_size": 128},
        strategy={"name": "darts", "epochs": epochs, "batch_size": 128},
        budget__evaluations=epochs, evaluator__workers=2, campaign__checkpoint_every=2,
        campaign__order="birth")


@pytest.mark.slow
def test_killed_and_resumed_darts_search_equals_uninterrupted(tmp_path: Path) -> None:
    """DARTS trains its supernet in the campaign process: a kill lands mid-epoch, and the resumed
    search (weights, optimizers and generator from the snapshot, epochs after it replayed)
    derives the same genomes with the same alphas, evaluated on two workers."""
    config = darts_config(tmp_path)
    run_dir = kill_and_resume_repeatedly(config, tmp_path)
    expected = outcome_rows(tmp_path / "runs" / "reference")
    got = outcome_rows(run_dir)
    assert [row[4]["epoch"] for row in got] == list(range(1, 5))
    assert got == expected


def run_stopped_by_signal(path: Path, run_dir: Path, sig: signal.Signals, rows: int) -> None:
    """Run the campaign at ``path`` as ``run_dir.name`` and send ``sig`` once its journal holds
    ``rows`` rows: SIGINT to the whole process group, as Ctrl-C in a terminal does, SIGTERM to
    the campaign process alone, as ``kill`` does. Asserts it stopped cleanly, to be resumed."""
    proc = evonas_cli("run", str(path), "--name", run_dir.name, "--quiet",
                      stdout=subprocess.PIPE)
    assert wait_for_progress(run_dir / JOURNAL_FILE, proc, rows), "it ended before the stop"
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert f"continue with: evonas resume {run_dir}" in out.decode()
    assert "stopping" in err.decode()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_gracefully_stopped_campaign_resumes_exactly(tmp_path: Path, strategy: str) -> None:
    """SIGTERM (SIGINT for random search) on two workers in birth order, then resume: the
    journal of a campaign never stopped. The evaluations in flight at the stop finish and are
    journaled, and the strategy is told none of them before the resume."""
    import evonas

    sig = signal.SIGINT if strategy == "random" else signal.SIGTERM
    config = slow_tabular_config(tmp_path, **STRATEGIES[strategy], budget__evaluations=60,
                                 evaluator__workers=2, campaign__checkpoint_every=10,
                                 campaign__grace_period=120.0, campaign__order="birth")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    reference = evonas_cli("run", str(path), "--name", "reference", "--quiet")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()
    expected = journal_rows(tmp_path / "runs" / "reference")

    run_dir = tmp_path / "runs" / "stopped"
    run_stopped_by_signal(path, run_dir, sig, rows=len(expected) // 2)
    status = evonas.open_run(run_dir).status()
    assert status["state"] == "stopped" and 0 < status["evaluations"] < 60
    assert status["pending"] == 0  # in-flight evaluations finished within the grace period
    assert len(journal_rows(run_dir)) < len(expected)
    resumed = evonas_cli("resume", str(run_dir), "--quiet")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert journal_rows(run_dir) == expected


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_gracefully_stopped_async_campaign_resumes_and_redoes_nothing(
        tmp_path: Path, strategy: str) -> None:
    """SIGTERM in async order: what was in flight finishes and is journaled, the resume replays
    the journaled tells and evaluates nothing twice, and the final journal replays from
    scratch."""
    config = slow_tabular_config(tmp_path, **STRATEGIES[strategy], budget__evaluations=40,
                                 evaluator__workers=2, campaign__checkpoint_every=10,
                                 campaign__grace_period=120.0)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "runs" / "stopped"
    run_stopped_by_signal(path, run_dir, signal.SIGTERM, rows=30)
    resumed = evonas_cli("resume", str(run_dir), "--quiet")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    rows = journal_rows(run_dir)
    assert sum(row[9] is None for row in rows) == 40 and all(row[6] for row in rows)
    assert dispatches_beyond_evaluations(run_dir) == 0
    assert replay_from_scratch(run_dir, tmp_path) == len(rows)


@pytest.mark.slow
@pytest.mark.parametrize("budget", ["wall_time", "device_seconds"])
def test_budget_stop_resumes_exactly_with_a_raised_budget(tmp_path: Path, budget: str) -> None:
    """A campaign halted by ``budget.wall_time`` or ``budget.device_seconds`` (each evaluation
    sleeps 0.05 s, so 1 s of either lands mid-run), resumed with that budget lifted, ends with
    the journal of a campaign that never had it."""
    import evonas
    from evonas.api import resume_campaign

    changes = {"strategy": {"name": "regularized_evolution", "population": 12, "sample": 4},
               "budget__evaluations": 80, "evaluator__workers": 2,
               "campaign__checkpoint_every": 10, "campaign__order": "birth"}
    expected = journal_rows(evonas.run(slow_tabular_config(tmp_path, name="reference",
                                                           **changes)).path)
    halted = evonas.run(slow_tabular_config(tmp_path, name="halted", **changes,
                                            **{f"budget__{budget}": 1.0}))
    assert halted.status()["evaluations"] < 80
    assert len(journal_rows(halted.path)) < len(expected)
    resume_campaign(halted.path, overrides={f"budget.{budget}": None})
    assert journal_rows(halted.path) == expected


@pytest.mark.slow
def test_gracefully_stopped_darts_search_resumes_exactly(tmp_path: Path) -> None:
    """SIGTERM while the supernet trains: the epoch under way ends, its derived cell is
    evaluated, and the resumed search derives the rest as the uninterrupted one does. The stop
    goes out when the first derived cell is journaled, so four more epochs would have to pass
    before the test's poll sees it for the search to end unstopped (with the stop at the third
    row, one epoch was enough on a loaded machine)."""
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(darts_config(tmp_path, epochs=6)))
    reference = evonas_cli("run", str(path), "--name", "reference", "--quiet")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()
    expected = outcome_rows(tmp_path / "runs" / "reference")
    run_dir = tmp_path / "runs" / "stopped"
    run_stopped_by_signal(path, run_dir, signal.SIGTERM, rows=1)
    assert len(outcome_rows(run_dir)) < len(expected)
    resumed = evonas_cli("resume", str(run_dir), "--quiet")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert outcome_rows(run_dir) == expected


@pytest.mark.slow
def test_async_campaign_killed_before_its_first_snapshot_resumes_with_more_workers(
        tmp_path: Path) -> None:
    """No snapshot yet: the resume replays the journal with the first session's capacity, then
    goes on with three workers (a snapshot records the switch)."""
    config = slow_tabular_config(tmp_path, strategy={"name": "regularized_evolution",
                                                     "population": 12, "sample": 4},
                                 budget__evaluations=60, evaluator__workers=2,
                                 campaign__checkpoint_every=1000)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "runs" / "t"
    proc = evonas_cli("run", str(path), "--quiet")
    assert wait_for_progress(run_dir / JOURNAL_FILE, proc, 30), "it ended before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    resumed = evonas_cli("resume", str(run_dir), "--set", "evaluator.workers=3", "--quiet")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    rows = journal_rows(run_dir)
    assert sum(row[9] is None for row in rows) == 60 and all(row[6] for row in rows)
    assert 0 <= dispatches_beyond_evaluations(run_dir) <= 2
