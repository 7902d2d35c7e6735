"""Helpers shared by the tests that run campaigns: config edits, journal contents, and the
kill-free interrupt-and-resume check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import evonas
from evonas.storage import JOURNAL_FILE, Journal


def with_changes(config: dict[str, Any], changes: dict[str, object]) -> dict[str, Any]:
    """Apply ``changes`` to ``config`` in place and return it: a key ``a__b`` sets
    ``config["a"]["b"]``, creating the section when missing."""
    for key, value in changes.items():
        node = config
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config


def journal_rows(run_dir: Path) -> list[tuple]:
    """The deterministic content of a journal, in birth order: per individual its id, hash,
    genome, parents, operator record, generation, status, fitness, metrics and cache source."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        evals = {e.individual_id: e for e in journal.evaluations()}
        rows = []
        for i in journal.individuals():
            ev = evals.get(i.id)
            outcome = (None, None, None, None) if ev is None else \
                (ev.status, ev.fitness, ev.metrics, ev.source_id)
            rows.append((i.id, i.hash, i.genome, i.parents, i.operator, i.generation, *outcome))
        return rows


def untimed_journal_rows(run_dir: Path) -> list[tuple]:
    """:func:`journal_rows` without the metrics a rerun changes (``*_seconds``: training and
    proxy times), for campaigns of tasks that train."""
    rows = []
    for row in journal_rows(run_dir):
        metrics = row[8]
        if isinstance(metrics, dict):
            metrics = {k: v for k, v in metrics.items() if not k.endswith("_seconds")}
        rows.append((*row[:8], metrics, *row[9:]))
    return rows


def assert_rows_match(rows: list[tuple], expected: list[tuple],
                      loose: Callable[[str], bool], rel: float = 1e-4) -> None:
    """``rows == expected``, except that the metrics whose names ``loose`` picks need only agree
    to ``rel`` (relative)."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        metrics, want_metrics = row[8], want[8]
        if isinstance(metrics, dict) and isinstance(want_metrics, dict):
            assert metrics.keys() == want_metrics.keys(), row[0]
            for key, value in metrics.items():
                if loose(key) and isinstance(value, float):
                    assert value == pytest.approx(want_metrics[key], rel=rel), (row[0], key)
                else:
                    assert value == want_metrics[key], (row[0], key)
            row, want = (*row[:8], *row[9:]), (*want[:8], *want[9:])
        assert row == want


def async_pool_campaign_resumes(tmp_path: Path, strategy: dict[str, Any]) -> None:
    """Two pool workers in async order on the NB201 table, stopped dead after 15 tells and
    resumed: the campaign spends its budget of 40, evaluates again at most what was in flight at
    the stop, and its journal replays from scratch genome for genome (async tells arrive in an
    order set by timing, so two runs differ; the replay is the exact check)."""
    from evonas.api import start_campaign
    from evonas.config import load_config
    from tests.conftest import tabular_config

    config = load_config(tabular_config(
        tmp_path, name="cut", strategy=strategy, budget__evaluations=40, evaluator__workers=2,
        campaign__order="async", campaign__checkpoint_every=4))

    def stop(counters: dict) -> None:
        if counters["told"] == 15:
            raise Kill

    from evonas import api

    build = api._evaluator_for

    def ready_evaluator(cfg: Any) -> Any:
        """Every worker up before the first dispatch: a table lookup takes microseconds, so a
        worker still starting would get its first job only after the other had done the rest."""
        evaluator = build(cfg)
        evaluator.wait_until_ready(300)
        return evaluator

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "_evaluator_for", ready_evaluator)
        with pytest.raises(Kill):
            start_campaign(config, None, stop)
        run_dir = tmp_path / "runs" / "cut"
        assert evonas.open_run(run_dir).status()["evaluations"] < 40
        evonas.resume(run_dir)
    rows = journal_rows(run_dir)
    assert sum(row[9] is None for row in rows) == 40 and all(row[6] for row in rows)
    assert dispatches_beyond_evaluations(run_dir) <= 2
    assert replay_from_scratch(run_dir, tmp_path) == len(rows)
    assert strategy["name"] in {row[4]["op"] for row in rows}


class Kill(BaseException):
    """Raised from the progress observer: the campaign loop stops dead, as if killed."""


def interrupted_equals_uninterrupted(tmp_path: Path, kill_at: int,
                                     make_config: Callable[..., dict[str, Any]] | None = None,
                                     **changes: object) -> int:
    """Run a campaign to its end; run it again but stop it abruptly after ``kill_at`` tells and
    resume it; assert both journals are the same. Returns the number of individuals.

    Args:
        tmp_path: where the runs go.
        kill_at: tells before the abrupt stop.
        make_config: ``make_config(tmp_path, **changes)`` builds the config (default: the
            NB201 table campaign of :func:`tests.conftest.tabular_config`).
        changes: config changes, as ``make_config`` takes them.
    """
    from evonas.api import start_campaign
    from evonas.config import load_config

    if make_config is None:
        from tests.conftest import tabular_config as make_config
    full = evonas.run(make_config(tmp_path, name="full", **changes))
    config = load_config(make_config(tmp_path, name="cut", **changes))

    def stop(counters: dict) -> None:
        if counters["told"] == kill_at:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, stop)
    cut_dir = Path(config.runs_dir) / "cut"
    expected = journal_rows(full.path)
    assert len(journal_rows(cut_dir)) < len(expected)
    evonas.resume(cut_dir)
    assert journal_rows(cut_dir) == expected
    return len(expected)


class _NoEvaluator:
    """An evaluator that takes jobs and runs none: a replay needs only the journal."""

    returns_in_order = False

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.submitted: list[int] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def submit(self, job: Any) -> None:
        self.submitted.append(job.individual_id)

    def poll(self, timeout: float | None = None) -> list:
        return []

    def close(self) -> None:
        return None


def replay_from_scratch(run_dir: Path, tmp_path: Path) -> int:
    """Replay a finished async campaign's journal from its first ask, on a copy without its
    snapshots: a fresh strategy, told the journaled tells in their order, must ask for every
    journaled genome in birth order (the campaign raises on the first that differs) and need no
    evaluation. Returns the number of tells replayed."""
    import shutil
    import sqlite3

    from evonas.campaign import Campaign
    from evonas.config import Config

    copy = tmp_path / f"replay-{run_dir.name}"
    shutil.copytree(run_dir, copy)
    conn = sqlite3.connect(copy / JOURNAL_FILE)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()
    with Journal.open(copy / JOURNAL_FILE) as journal:
        sessions = [data for _, _, _, data in journal.events("restored")]
        capacity = next(d["capacity"] for d in sessions if d and "capacity" in d)
        told = len(journal.events("told"))
        individuals = journal.counts()["individuals"]
        evaluator = _NoEvaluator(capacity)
        campaign = Campaign(Config(journal.config(), str(copy)), journal, evaluator)
        assert campaign.order == "async"
        live = campaign._restore()
        campaign._refill()
        campaign._replay(live)
        assert campaign.told == told
        assert campaign.next_id == individuals, "the replay asked for fewer genomes"
        assert evaluator.submitted == [], "the replay needed an evaluation the journal lacks"
    return told


def dispatches_beyond_evaluations(run_dir: Path) -> int:
    """How many dispatches did not end in a journaled evaluation of their own (work redone
    after a kill, at most what was in flight at each kill)."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        dispatched = len(journal.events("dispatched"))
        evaluated = sum(1 for e in journal.evaluations() if e.source_id is None)
    return dispatched - evaluated
