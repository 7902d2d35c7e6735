"""A run folder written by schema version 1 (tests/data/runs/v1-tabular) stays readable."""

from __future__ import annotations

import shutil
from pathlib import Path

import evonas
from evonas.api import resume_campaign
from evonas.storage import JOURNAL_FILE, Journal

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "runs" / "v1-tabular"


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "v1-tabular"
    shutil.copytree(FIXTURE, target)
    return target


def test_fixture_opens_with_its_recorded_content(tmp_path: Path) -> None:
    run = evonas.open_run(copy_fixture(tmp_path))
    status = run.status()
    assert status["individuals"] == 29 and status["evaluations"] == 24
    assert status["cached"] == 5 and status["state"] == "completed"
    best = run.best()
    assert best.id == 22 and best.fitness == 93.8567
    assert best.genome.to_nb201() == ("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                                      "avg_pool_3x3~1|nor_conv_3x3~2|")
    individuals = run.individuals()
    assert [i.id for i in individuals] == list(range(29))
    assert all(i.genome.canonical_hash() == i.hash for i in individuals)


def test_fixture_resumes_with_a_larger_budget(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    before = [(i.id, i.hash, i.parents) for i in evonas.open_run(folder).individuals()]
    resume_campaign(folder, overrides={"budget.evaluations": 40})
    after = evonas.open_run(folder).individuals()
    assert [(i.id, i.hash, i.parents) for i in after[:29]] == before
    assert sum(i.status == "ok" for i in after) == 40


def test_opening_does_not_modify_the_fixture() -> None:
    before = (FIXTURE / JOURNAL_FILE).read_bytes()
    with Journal.open(FIXTURE / JOURNAL_FILE, readonly=True) as journal:
        journal.counts()
    assert (FIXTURE / JOURNAL_FILE).read_bytes() == before
    for leftover in FIXTURE.glob("journal.sqlite-*"):
        leftover.unlink()
