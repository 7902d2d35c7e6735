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
