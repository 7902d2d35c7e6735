"""Reporters see every milestone of a campaign, in order, and the progress callable is one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from evonas.api import resume_campaign, start_campaign
from evonas.config import load_config
from evonas.reporting import LoggingReporter, Reporter
from tests.conftest import tabular_config


class Recorder(Reporter):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def campaign_started(self, info: dict) -> None:
        self.calls.append(("started", dict(info)))

    def individual_told(self, counters: dict) -> None:
        self.calls.append(("told", counters["told"]))

    def campaign_ended(self, summary: object) -> None:
        self.calls.append(("ended", summary))


def test_reporters_see_start_every_tell_and_end_in_order(tmp_path: Path) -> None:
    first, second, seen = Recorder(), Recorder(), []
    run_dir, summary = start_campaign(
        load_config(tabular_config(tmp_path, budget__evaluations=12)),
        progress=lambda c: seen.append(c["told"]), reporters=[first, second])
    assert first.calls == second.calls
    kinds = [kind for kind, _ in first.calls]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert first.calls[0][1]["strategy"] == "regularized_evolution"
    assert first.calls[0][1]["order"] == "birth" and first.calls[0][1]["told"] == 0
    told = [value for kind, value in first.calls if kind == "told"]
    assert told == list(range(1, summary.individuals + 1)) == seen
    assert first.calls[-1][1] is summary

    again = Recorder()
    resume_campaign(run_dir, reporters=[again])  # nothing left: started, then ended
    assert [kind for kind, _ in again.calls] == ["started", "ended"]
    assert again.calls[0][1]["told"] == summary.individuals


def test_logging_reporter_logs_start_new_bests_and_end(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="evonas"):
        start_campaign(load_config(tabular_config(tmp_path, budget__evaluations=10)),
                       reporters=[LoggingReporter(every=1000)])
    lines = [r.getMessage() for r in caplog.records if r.name == "evonas"]
    assert lines[0].startswith("campaign started: regularized_evolution, birth order")
    assert lines[-1].startswith("campaign ended: ")
    assert any(line.startswith("told 1, evaluations 1/10") for line in lines)
    with pytest.raises(ValueError):
        LoggingReporter(every=0)
