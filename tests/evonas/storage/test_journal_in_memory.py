"""The in-memory journal drives the real Campaign; only evonas.storage knows the schema."""

from __future__ import annotations

import re
from pathlib import Path

import evonas
from evonas.analysis import lineage
from evonas.campaign import Campaign
from evonas.config import load_config
from evonas.evaluation import make_evaluator
from evonas.storage import Journal, Status
from tests.conftest import tabular_config

PACKAGE = Path(evonas.__file__).resolve().parent
#: What only evonas/storage may write: the journal's private connection, SQL, a SQLite handle.
FORBIDDEN = re.compile(r"\._conn\b|\bSELECT |\bINSERT INTO\b|\bDELETE FROM\b|"
                       r"\bUPDATE \w+ SET\b|json_extract\(|sqlite3\.connect\(")


def test_in_memory_journal_drives_the_real_campaign(tmp_path: Path) -> None:
    data = tabular_config(tmp_path, budget__evaluations=30,
                          campaign={"progress": False, "order": "birth"})
    config = load_config(data)
    journal = Journal.in_memory(config.data)
    evaluator = make_evaluator(config.section("task"), config.section("space"), 0)
    summary = Campaign(config, journal, evaluator).run()
    assert summary.evaluations == 30 and not summary.stopped
    assert not (tmp_path / "runs").exists()  # nothing on disk
    assert journal.state() == "completed" and journal.config() == config.data
    counts = journal.counts()
    assert counts["ok"] == 30 and counts["individuals"] == summary.individuals
    rows = list(journal.evaluations())
    assert all(isinstance(r.status, Status) for r in rows)
    journal.check_integrity()

    # the very journal a campaign on disk writes
    with evonas.run(data) as run:
        on_disk = [(ind.id, ind.hash, ind.status, ind.fitness) for ind in run.individuals()]
    in_memory = [(row.id, row.hash, ev.status, ev.fitness)
                 for row, ev in zip(journal.individuals(), rows, strict=True)]
    assert in_memory == on_disk

    # and the analysis reads it the same way
    best = journal.best(1)[0].individual_id
    assert lineage.path_to_root(journal, best)[0] == best
    assert sum(r.children for r in lineage.operator_stats(journal).rows) == counts["individuals"]
    journal.close()


def test_status_is_a_str_enum() -> None:
    assert Status.OK == "ok" and f"{Status.CACHED}" == "cached"
    assert {Status.FAILED: 1}["failed"] == 1


def test_no_module_outside_storage_reads_the_schema() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "storage") in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert offenders == [], "ask evonas.storage (Journal's query methods) instead:\n" + \
        "\n".join(offenders)
