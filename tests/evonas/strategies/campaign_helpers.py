"""Campaign helpers shared by the strategy tests: a kill-free interrupted-and-resumed campaign."""

from __future__ import annotations

from pathlib import Path

import pytest

import evonas
from evonas.storage import JOURNAL_FILE, Journal
from tests.conftest import tabular_config
from tests.evonas.campaign.test_campaign_tabular import journal_rows


class Kill(BaseException):
    """Raised from the progress observer: the campaign loop stops dead, as if killed."""


def interrupted_equals_uninterrupted(tmp_path: Path, kill_at: int, **changes: object) -> int:
    """Run a campaign to its end; run it again but stop it abruptly after ``kill_at`` tells and
    resume it; assert both journals are the same. Returns the number of individuals."""
    from evonas.api import start_campaign
    from evonas.config import load_config

    full = evonas.run(tabular_config(tmp_path, name="full", **changes))
    config = load_config(tabular_config(tmp_path, name="cut", **changes))

    def stop(counters: dict) -> None:
        if counters["told"] == kill_at:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, stop)
    cut_dir = Path(config.runs_dir) / "cut"
    expected = journal_rows(full.path)
    with Journal.open(cut_dir / JOURNAL_FILE, readonly=True) as journal:
        assert journal.counts()["individuals"] < len(expected)
    evonas.resume(cut_dir)
    assert journal_rows(cut_dir) == expected
    return len(expected)
