"""A hostile or read-only journal: views and triggers refused, parent cycles named, read-only
opens that never write, the integrity check a resume runs first, writes that never follow links."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from evonas.analysis import lineage
from evonas.cli import main
from evonas.run import Run
from evonas.storage import (
    JOURNAL_FILE,
    EvaluationRow,
    Journal,
    JournalError,
    Snapshot,
    safe_write_text,
)
from evonas.storage import journal as journal_module
from evonas.storage.schema import SCHEMA

GENOME = {"kind": "dag", "version": 1, "space": "nb201", "num_nodes": 4,
          "edges": [[0, 1, "none"], [0, 2, "nor_conv_3x3"], [0, 3, "nor_conv_1x1"],
                    [1, 2, "nor_conv_3x3"], [1, 3, "avg_pool_3x3"], [2, 3, "nor_conv_3x3"]]}


def make_run(tmp_path: Path, individuals: int = 4) -> Path:
    """A run folder holding a small valid journal: a chain 0 <- 1 <- 2..., a failed copy."""
    folder = tmp_path / "run"
    folder.mkdir()
    config = {"seed": 0, "space": {"name": "nb201"}, "budget": {"evaluations": 10},
              "strategy": {"name": "random"}, "task": {"name": "tabular"}}
    with Journal.create(folder / JOURNAL_FILE, config) as journal:
        for i in range(individuals):
            journal.add_individual(i, GENOME, f"h{i}", (i - 1,) if i else (),
                                   {"op": "mutate"}, None)
            journal.add_evaluation(EvaluationRow(i, "ok", 0.5 + i, {"fitness": 0.5 + i}, None,
                                                 "w0", 1.0, None))
        journal.add_individual(individuals, GENOME, "hf", (0,), {"op": "mutate"}, None)
        journal.add_evaluation(EvaluationRow(individuals, "failed", None, {}, "boom", "w0", 2.0,
                                             None))
        journal.add_individual(individuals + 1, GENOME, "hf", (0,), {"op": "mutate"}, None)
        journal.add_evaluation(EvaluationRow(individuals + 1, "failed", None, {}, "boom", None,
                                             0.0, individuals))
        journal.add_snapshot(Snapshot(individuals + 2, individuals + 2, individuals + 1,
                                      {"strategy": {"rng": 1}}))
    return folder


def edit(folder: Path, *statements: str) -> None:
    conn = sqlite3.connect(folder / JOURNAL_FILE, isolation_level=None)
    conn.execute("PRAGMA ignore_check_constraints=ON")
    for statement in statements:
        conn.execute(statement)
    conn.close()


def files(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------ hostile schema
@pytest.mark.parametrize("statements, fragment", [
    (["ALTER TABLE individuals RENAME TO hidden",
      "CREATE VIEW individuals AS SELECT * FROM hidden"], "holds a view ('individuals')"),
    (["DROP TABLE events", "CREATE VIEW events AS WITH RECURSIVE r(seq, kind, individual_id, "
      "data, at) AS (SELECT 1, 'x', NULL, NULL, 0 UNION ALL SELECT seq + 1, kind, NULL, NULL, 0 "
      "FROM r) SELECT * FROM r"], "holds a view ('events')"),
    (["CREATE TRIGGER t AFTER INSERT ON events BEGIN DELETE FROM individuals; END"],
     "holds a trigger ('t')"),
    (["DROP TABLE snapshots"], "the table 'snapshots' is missing"),
])
@pytest.mark.parametrize("readonly", [True, False])
def test_views_triggers_and_missing_tables_are_refused(tmp_path: Path, statements: list[str],
                                                       fragment: str, readonly: bool) -> None:
    folder = make_run(tmp_path)
    edit(folder, *statements)
    before = (folder / JOURNAL_FILE).read_bytes()
    with pytest.raises(JournalError, match=str(folder / JOURNAL_FILE)) as info:
        Journal.open(folder / JOURNAL_FILE, readonly=readonly)
    assert fragment in str(info.value)
    assert (folder / JOURNAL_FILE).read_bytes() == before


# ------------------------------------------------------------------------------ cycles
@pytest.mark.parametrize("statements, fragment", [
    (["UPDATE individuals SET parents = '[2]' WHERE id = 2"],
     "individuals[2].parents: lists the individual itself"),
    (["UPDATE individuals SET parents = '[3]' WHERE id = 1"],
     "individuals[1].parents: individual 3 is not born before it"),
])
def test_parent_cycles_are_named_not_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              statements: list[str], fragment: str) -> None:
    folder = make_run(tmp_path)
    edit(folder, *statements)
    for argv in (["lineage", str(folder), "--best"], ["report", str(folder), "-o",
                                                      str(tmp_path / "r.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err


def test_ancestry_walks_end_even_on_a_cycle(tmp_path: Path) -> None:
    """The queries themselves end on a cycle (what the open-time check refuses anyway)."""
    folder = make_run(tmp_path)
    with Journal.open(folder / JOURNAL_FILE, readonly=True) as journal:
        journal._conn.close()
        journal._conn = sqlite3.connect(":memory:")
        journal._conn.executescript(SCHEMA)
        journal._conn.executemany(
            "INSERT INTO individuals VALUES (?, '{}', 'h', ?, '{\"op\":\"m\"}', NULL, 0)",
            [(0, "[]"), (1, "[2]"), (2, "[1]"), (3, "[3]")])
        assert lineage.path_to_root(journal, 1) == [1]
        assert lineage.path_to_root(journal, 3) == [3]
        found = lineage.ancestry(journal, 1)
        assert sorted(found) == [1, 2]
        assert lineage.chain(found, 1) == [1, 2]


# ------------------------------------------------------------------------------ read-only
def test_reading_opens_read_only_uris_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path)
    seen: list[str] = []
    real = sqlite3.connect

    def connect(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        text = str(database)
        seen.append(text)
        assert kwargs.get("uri") and "mode=ro" in text, f"opened for writing: {text}"
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    for argv in (["status", str(folder)], ["status", str(folder), "--json"],
                 ["best", str(folder)], ["lineage", str(folder), "--best"],
                 ["report", str(folder), "-o", str(tmp_path / "r.html")],
                 ["compare", str(folder), "--no-plot"]):
        assert main(argv) == 0, capsys.readouterr().err
    assert seen


def test_a_read_only_folder_is_read_immutable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Without write access to the folder (simulated: tests run as root) and no ``-wal``,
    SQLite's ``immutable=1`` reads the file without creating ``-shm``; nothing changes."""
    folder = make_run(tmp_path)
    for side in ("-wal", "-shm"):
        Path(f"{folder / JOURNAL_FILE}{side}").unlink(missing_ok=True)
    os.chmod(folder / JOURNAL_FILE, 0o444)
    os.chmod(folder, 0o555)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK
                        and Path(path) in (folder, folder / JOURNAL_FILE)
                        else real_access(path, mode, **kw))
    try:
        assert journal_module._read_uris(folder / JOURNAL_FILE) == [
            f"{(folder / JOURNAL_FILE).resolve().as_uri()}?mode=ro&immutable=1"]
        before = files(folder)
        for argv in (["status", str(folder)], ["best", str(folder)],
                     ["lineage", str(folder), "--best"],
                     ["report", str(folder), "-o", str(tmp_path / "r.html")]):
            assert main(argv) == 0, capsys.readouterr().err
        assert files(folder) == before  # no -shm, no -wal, same bytes and times
        with pytest.raises(JournalError, match="read-only"):
            Journal.open(folder / JOURNAL_FILE)
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder / JOURNAL_FILE, 0o644)


def test_immutable_is_the_fallback_when_mode_ro_fails(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_run(tmp_path)
    real = sqlite3.connect

    def connect(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        if "immutable=1" not in str(database):  # what a read-only medium does to mode=ro
            return real("file:/nonexistent/folder/x.sqlite?mode=ro", uri=True)
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    with Run(folder) as run:
        assert run.status()["individuals"] == 6


def test_a_symlinked_journal_is_never_written(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (folder / JOURNAL_FILE).rename(other / JOURNAL_FILE)
    (folder / JOURNAL_FILE).symlink_to(other / JOURNAL_FILE)
    with pytest.raises(JournalError, match="symbolic link"):
        Journal.open(folder / JOURNAL_FILE)
    before = files(other)
    with Run(folder) as run:  # reading through the link works, and creates nothing there
        assert run.status()["individuals"] == 6
    assert files(other) == before


def test_a_symlinked_side_file_is_refused(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    target = tmp_path / "victim"
    target.write_text("keep me")
    Path(f"{folder / JOURNAL_FILE}-shm").unlink(missing_ok=True)
    Path(f"{folder / JOURNAL_FILE}-shm").symlink_to(target)
    for readonly in (True, False):
        with pytest.raises(JournalError, match="-shm: is a symbolic link"):
            Journal.open(folder / JOURNAL_FILE, readonly=readonly)
    assert target.read_text() == "keep me"


def test_safe_write_text_refuses_a_link_and_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "victim.yaml"
    target.write_text("keep me")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").symlink_to(target)
    with pytest.raises(JournalError, match="symbolic link"):
        safe_write_text(tmp_path / "run", "config.yaml", "seed: 1\n")
    assert target.read_text() == "keep me"
    (tmp_path / "run" / "config.yaml").unlink()
    path = safe_write_text(tmp_path / "run", "config.yaml", "seed: 1\n")
    assert path.read_text() == "seed: 1\n" and not path.is_symlink()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.yaml"]


# ------------------------------------------------------------------------------ integrity
def test_check_integrity_passes_on_a_real_journal(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    with Journal.open(folder / JOURNAL_FILE) as journal:
        journal.check_integrity()


@pytest.mark.parametrize("statement, fragment", [
    ("UPDATE individuals SET genome = '{\"kind\": \"dag\"}' WHERE id = 2",
     "individuals[2].genome: version"),
    ("UPDATE individuals SET genome = '[1]' WHERE id = 2", "individuals[2].genome: not a JSON"),
    ("UPDATE individuals SET parents = 'x' WHERE id = 2", "individuals[2].parents"),
    ("UPDATE individuals SET operator = '[]' WHERE id = 2", "individuals[2].operator"),
    ("UPDATE individuals SET generation = 'g' WHERE id = 2", "individuals[2].generation"),
    ("DELETE FROM individuals WHERE id = 1", "individual 1 is missing"),
    ("UPDATE evaluations SET metrics = '{' WHERE individual_id = 1", "evaluations[1].metrics"),
    ("UPDATE evaluations SET fitness = 'x' WHERE individual_id = 1", "evaluations[1].fitness"),
    ("UPDATE evaluations SET fitness = 9e999 WHERE individual_id = 1", "evaluations[1].fitness"),
    ("UPDATE evaluations SET status = 'odd' WHERE individual_id = 1", "evaluations[1].status"),
    ("UPDATE evaluations SET source_id = 9 WHERE individual_id = 1", "evaluations[1].source_id"),
    ("UPDATE snapshots SET state = 'garbage'", ".state: not valid JSON"),
    ("UPDATE snapshots SET state = '{\"strategy\": 3}'", ".state.strategy"),
    ("UPDATE meta SET value = '[]' WHERE key = 'config'", "meta['config']"),
    ("DROP TABLE evaluations", "the table 'evaluations' is missing"),
])
def test_check_integrity_names_the_bad_row(tmp_path: Path, statement: str,
                                           fragment: str) -> None:
    folder = make_run(tmp_path)
    edit(folder, statement)
    with pytest.raises(JournalError) as info, \
            Journal.open(folder / JOURNAL_FILE, readonly=True) as journal:
        journal.check_integrity()
    message = str(info.value)
    assert str(folder / JOURNAL_FILE) in message and fragment in message, message
    assert len(message.splitlines()) == 1


def test_check_integrity_passes_a_large_clean_journal(tmp_path: Path) -> None:
    """10,000 individuals with evaluations and a snapshot: every check passes (how long that
    takes is the machine's business, not asserted here)."""
    folder = tmp_path / "big"
    folder.mkdir()
    n = 10_000
    with Journal.create(folder / JOURNAL_FILE, {"seed": 0}) as journal:
        for i in range(n):
            genome = {**GENOME, "edges": [*GENOME["edges"][:5], [2, 3, ["none", "skip_connect",
                      "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"][i % 5]]]}
            journal.add_individual(i, genome, f"h{i}", (i - 1,) if i else (),
                                   {"op": "mutate", "changed": [i % 6]}, i // 100)
            journal.add_evaluation(EvaluationRow(i, "ok", float(i), {"fitness": float(i),
                                                 "params": i}, None, "w", 0.1, None))
        journal.add_snapshot(Snapshot(n, n, n, {"strategy": {"population": list(range(100))}}))
    with Journal.open(folder / JOURNAL_FILE, readonly=True) as journal:
        journal.check_integrity()


# ------------------------------------------------------------------------------ read commands
def test_a_failed_copy_counts_as_cached_not_as_an_evaluation(tmp_path: Path) -> None:
    folder = make_run(tmp_path)
    with Run(folder) as run:
        status = run.status()
    assert status["evaluations"] == 5 and status["failed"] == 1 and status["cached"] == 1
    assert status["pending"] == 0 and status["device_seconds"] == 6.0


def test_status_json_never_prints_infinity_or_nan(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path)
    edit(folder, "UPDATE evaluations SET seconds = 1e308",
         "UPDATE meta SET value = json_set(value, '$.task.target', 1e308) WHERE key = 'config'")
    assert main(["status", str(folder), "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    json.loads(out)


def test_export_into_a_missing_folder_is_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_run(tmp_path)
    for argv in (["best", str(folder), "--export", str(tmp_path / "nowhere" / "x.py")],
                 ["lineage", str(folder), "--export", str(tmp_path / "nowhere" / "t.dot")],
                 ["report", str(folder), "-o", str(tmp_path / "nowhere" / "r.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "does not exist" in err, err


def test_export_reads_the_shape_without_building_the_task(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import evonas.tasks.registry as registry

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("export built a task")

    monkeypatch.setattr(registry, "build_task", refuse)
    folder = make_run(tmp_path)
    assert main(["best", str(folder), "--export", str(tmp_path / "x.py")]) == 0
    assert "input (3, 32, 32), 10 classes" in capsys.readouterr().err
    edit(folder, "UPDATE meta SET value = json_set(value, '$.task.name', 'os:system') "
                 "WHERE key = 'config'")
    assert main(["best", str(folder), "--export", str(tmp_path / "y.py")]) == 2
    err = capsys.readouterr().err
    assert "'os:system' is not a built-in task" in err and not (tmp_path / "y.py").exists()
