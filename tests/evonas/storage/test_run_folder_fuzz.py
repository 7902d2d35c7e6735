"""Fuzz: mutated copies of a real run folder, every read command on each.

One small real run (NB201 table, with a failing and a cached failing individual) is made once;
each case copies it and damages the copy: rows edited to garbage or to values of the wrong type,
rows and tables dropped, tables replaced by views (one recursive), triggers, parent cycles, a
self-parent, text that is not UTF-8, byte flips in the SQLite file (seeded numpy Generator, so
every run of the test draws the same cases). Every read command (status, best, lineage, report,
compare, the exports) must then either work or exit 2 with exactly one line on stderr and no
traceback, within a time limit, and must leave every file of the folder byte for byte as it was.

Commands run in-process (``evonas.cli.commands``) in a worker thread joined with a timeout, so a
hang fails the case instead of the suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from evonas.cli import main
from evonas.storage import JOURNAL_FILE
from tests.conftest import tabular_config

#: Seconds one command may take (generous: a limit against hangs, not a speed test).
TIME_LIMIT = 60.0
SEED = 20240611
HUNG = -999
BYTE_FLIP_CASES = 24
RANDOM_EDIT_CASES = 24


# ------------------------------------------------------------------------------ the real run
@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished small run: regularized evolution on the NB201 table, a quarter of the
    evaluations failing; 31 individuals, 24 evaluations, 5 cached copies and 2 copies of a
    failure."""
    tmp = tmp_path_factory.mktemp("fuzz-source")
    config = tabular_config(tmp, seed=3, budget__evaluations=24, strategy={
        "name": "regularized_evolution", "population": 5, "sample": 4}, task={
        "name": "faulty", "inner": {"name": "tabular", "table": "nb201_cifar10",
                                    "metric": "cifar10_test_acc"},
        "rates": {"raise": 0.25}})
    path = tmp / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(path), "--quiet"]) == 0
    run = tmp / "runs" / "t"
    wal = run / f"{JOURNAL_FILE}-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # everything is in the journal itself
    for side in ("-wal", "-shm"):
        (run / f"{JOURNAL_FILE}{side}").unlink(missing_ok=True)
    return run


# ------------------------------------------------------------------------------ mutations
Mutation = Callable[[Path, np.random.Generator], None]


def sql(*statements: str, params: tuple = ()) -> Mutation:
    """A mutation running SQL statements on the copy (constraints off, as a hostile writer)."""
    def mutate(journal: Path, rng: np.random.Generator) -> None:
        conn = sqlite3.connect(journal, isolation_level=None)
        conn.execute("PRAGMA ignore_check_constraints=ON")
        conn.execute("PRAGMA foreign_keys=OFF")
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
    return mutate


def recreate(table: str, select: str) -> list[str]:
    """Statements replacing ``table`` by a plain table (no constraints) holding ``select``."""
    return [f"CREATE TABLE fuzz_tmp AS {select}", f"DROP TABLE {table}",
            f"ALTER TABLE fuzz_tmp RENAME TO {table}"]


def set_cell(table: str, column: str, value: str, where: str) -> Mutation:
    """Set a cell to ``value`` (an SQL expression), the column's NOT NULL constraint dropped."""
    return sql(*recreate(table, f"SELECT * FROM {table}"),
               f"UPDATE {table} SET {column} = {value} WHERE {where}")


def byte_flips(count: int) -> Mutation:
    def mutate(journal: Path, rng: np.random.Generator) -> None:
        data = bytearray(journal.read_bytes())
        for position in rng.integers(0, len(data), size=count):
            data[position] ^= int(rng.integers(1, 256))
        journal.write_bytes(bytes(data))
    return mutate


GARBAGE = ["'{not json'", "'[1, 2]'", "'\"text\"'", "'null'", "''", "42", "-1", "1.5",
           "X'00ff'", "NULL", "'{}'", "'[]'", "'[999999]'", "'{\"kind\": \"dag\"}'",
           "'" + "[" * 3000 + "'", "'{\"a\": NaN}'", "'{\"fitness\": 1e999}'", "9e999",
           "CAST(X'7b22ff22' AS TEXT)", "'ok'", "'cached'", "'[0, -3]'", "'[true]'"]
ROW_COLUMNS = {
    "individuals": ["id", "genome", "hash", "parents", "operator", "generation"],
    "evaluations": ["individual_id", "status", "fitness", "metrics", "error", "worker",
                    "seconds", "source_id"],
    "snapshots": ["next_id", "told", "evaluations", "state"],
    "events": ["kind", "individual_id", "data"],
    "meta": ["value"],
}


def random_edit(journal: Path, rng: np.random.Generator) -> None:
    """One to three cells set to garbage, table, row and value drawn from ``rng``."""
    for _ in range(int(rng.integers(1, 4))):
        table = sorted(ROW_COLUMNS)[int(rng.integers(len(ROW_COLUMNS)))]
        column = ROW_COLUMNS[table][int(rng.integers(len(ROW_COLUMNS[table])))]
        value = GARBAGE[int(rng.integers(len(GARBAGE)))]
        key = {"individuals": "id", "evaluations": "individual_id", "snapshots": "seq",
               "events": "seq", "meta": "rowid"}[table]
        conn = sqlite3.connect(journal)
        keys = [r[0] for r in conn.execute(f"SELECT {key} FROM {table}")]
        conn.close()
        if not keys:
            continue
        row = keys[int(rng.integers(len(keys)))]
        row_sql = f"'{row}'" if isinstance(row, str) else str(row)
        set_cell(table, column, value, f"{key} = {row_sql}")(journal, rng)


CASES: dict[str, Mutation] = {
    "unchanged": sql(),
    # individuals
    "genome not json": set_cell("individuals", "genome", "'{not json'", "id = 5"),
    "genome a list": set_cell("individuals", "genome", "'[1, 2]'", "id = 5"),
    "genome an integer": set_cell("individuals", "genome", "7", "id = 5"),
    "genome a blob": set_cell("individuals", "genome", "X'00ff'", "id = 5"),
    "genome null": set_cell("individuals", "genome", "NULL", "id = 5"),
    "genome of no known kind": set_cell("individuals", "genome", "'{\"kind\": \"tree\"}'",
                                        "id = 5"),
    "genome invalid": set_cell("individuals", "genome", "'{\"kind\": \"dag\"}'", "id = 3"),
    "best genome invalid": set_cell("individuals", "genome", "'{\"kind\": \"dag\"}'",
                                    "id = (SELECT individual_id FROM evaluations WHERE "
                                    "status = 'ok' ORDER BY fitness DESC LIMIT 1)"),
    "genome nested deep": set_cell("individuals", "genome",
                                   "'{\"a\":' || replace(printf('%.*c', 5000, 'x'), 'x', '[') "
                                   "|| '}'", "id = 5"),
    "genome not utf-8": set_cell("individuals", "genome",
                                 "CAST(X'7b226b696e64223a22ff227d' AS TEXT)", "id = 5"),
    "hash an integer": set_cell("individuals", "hash", "12", "id = 5"),
    "parents not json": set_cell("individuals", "parents", "'[1,'", "id = 12"),
    "parents a mapping": set_cell("individuals", "parents", "'{\"a\": 1}'", "id = 12"),
    "parents of floats": set_cell("individuals", "parents", "'[1.5]'", "id = 12"),
    "parents negative": set_cell("individuals", "parents", "'[-1]'", "id = 12"),
    "parent from the future": set_cell("individuals", "parents", "'[20]'", "id = 12"),
    "self-parent": set_cell("individuals", "parents", "'[12]'", "id = 12"),
    "parent cycle": sql(*recreate("individuals", "SELECT * FROM individuals"),
                        "UPDATE individuals SET parents = '[14]' WHERE id = 12",
                        "UPDATE individuals SET parents = '[12]' WHERE id = 14"),
    "best in a cycle": sql(*recreate("individuals", "SELECT * FROM individuals"),
                           "UPDATE individuals SET parents = '[' || id || ']' WHERE id = "
                           "(SELECT individual_id FROM evaluations WHERE status = 'ok' "
                           "ORDER BY fitness DESC LIMIT 1)"),
    "operator a list": set_cell("individuals", "operator", "'[]'", "id = 12"),
    "operator not json": set_cell("individuals", "operator", "'{\"op\": '", "id = 12"),
    "generation text": set_cell("individuals", "generation", "'late'", "id = 12"),
    "missing individual": sql("DELETE FROM individuals WHERE id = 9"),
    "missing first individual": sql("DELETE FROM individuals WHERE id = 0"),
    "ids repeat": sql(*recreate("individuals", "SELECT * FROM individuals"),
                      "UPDATE individuals SET id = 4 WHERE id = 5"),
    "individuals empty": sql("DELETE FROM individuals"),
    # evaluations
    "metrics not json": set_cell("evaluations", "metrics", "'{'", "individual_id = 6"),
    "metrics a list": set_cell("evaluations", "metrics", "'[1]'", "individual_id = 6"),
    "metrics with NaN": set_cell("evaluations", "metrics", "'{\"fitness\": NaN}'",
                                 "individual_id = 6"),
    "metrics out of range": set_cell("evaluations", "metrics", "'{\"fitness\": 1e999}'",
                                     "individual_id = 6"),
    "fitness text": set_cell("evaluations", "fitness", "'high'", "individual_id = 6"),
    "fitness infinite": set_cell("evaluations", "fitness", "9e999", "individual_id = 6"),
    "fitness -infinite": set_cell("evaluations", "fitness", "-9e999", "individual_id = 6"),
    "fitness a blob": set_cell("evaluations", "fitness", "X'01'", "individual_id = 6"),
    "status unknown": set_cell("evaluations", "status", "'great'", "individual_id = 6"),
    "seconds text": set_cell("evaluations", "seconds", "'slow'", "individual_id = 6"),
    "seconds huge": sql("UPDATE evaluations SET seconds = 1e308"),
    "source_id text": set_cell("evaluations", "source_id", "'x'", "individual_id = 6"),
    "source_id from the future": set_cell("evaluations", "source_id", "20",
                                          "individual_id = 6"),
    "cached without source": set_cell("evaluations", "source_id", "NULL",
                                      "status = 'cached'"),
    "evaluation of a missing individual": sql(
        "DELETE FROM individuals WHERE id = (SELECT MAX(id) FROM individuals)"),
    "error a number": set_cell("evaluations", "error", "3", "individual_id = 3"),
    "evaluations empty": sql("DELETE FROM evaluations"),
    # snapshots, events, meta
    "snapshot state garbage": set_cell("snapshots", "state", "'{not'",
                                       "seq = (SELECT MAX(seq) FROM snapshots)"),
    "snapshot state a list": set_cell("snapshots", "state", "'[]'",
                                      "seq = (SELECT MAX(seq) FROM snapshots)"),
    "snapshot without strategy": set_cell("snapshots", "state", "'{\"failed\": 0}'",
                                          "seq = (SELECT MAX(seq) FROM snapshots)"),
    "snapshot next_id text": set_cell("snapshots", "next_id", "'x'",
                                      "seq = (SELECT MAX(seq) FROM snapshots)"),
    "event data garbage": set_cell("events", "data", "'{'", "seq = 3"),
    "event kind a number": set_cell("events", "kind", "5", "seq = 3"),
    "config garbage": set_cell("meta", "value", "'{'", "key = 'config'"),
    "config a list": set_cell("meta", "value", "'[]'", "key = 'config'"),
    "config missing": sql("DELETE FROM meta WHERE key = 'config'"),
    "config sections of the wrong type": sql(
        "UPDATE meta SET value = json_set(value, '$.budget', json('[1]'), '$.strategy', "
        "json('[2]'), '$.task', 'x', '$.space', json('[]'), '$.seed', 'one') "
        "WHERE key = 'config'"),
    "config imports a task": sql(
        "UPDATE meta SET value = json_set(value, '$.task', json('{\"name\": "
        "\"tests.evonas.storage.test_run_folder_fuzz:hostile_task\"}')) WHERE key = 'config'"),
    "config imports a faulty inner task": sql(
        "UPDATE meta SET value = json_set(value, '$.task.inner', json('{\"name\": "
        "\"tests.evonas.storage.test_run_folder_fuzz:hostile_task\"}')) WHERE key = 'config'"),
    "schema version garbage": sql("UPDATE meta SET value = 'v1' WHERE key = 'schema_version'"),
    # tables
    **{f"{table} dropped": sql(f"DROP TABLE {table}")
       for table in ("meta", "individuals", "evaluations", "events", "snapshots")},
    "column dropped": sql(*recreate("individuals",
                                    "SELECT id, genome, hash, operator, generation, created_at "
                                    "FROM individuals")),
    "individuals a view": sql("ALTER TABLE individuals RENAME TO hidden",
                              "CREATE VIEW individuals AS SELECT * FROM hidden"),
    "recursive view": sql("DROP TABLE events", "CREATE VIEW events AS WITH RECURSIVE "
                          "r(seq, kind, individual_id, data, at) AS (SELECT 1, 'x', NULL, NULL, "
                          "0 UNION ALL SELECT seq + 1, kind, NULL, NULL, 0 FROM r) "
                          "SELECT * FROM r"),
    "meta a recursive view": sql("DROP TABLE meta", "CREATE VIEW meta AS WITH RECURSIVE "
                                 "r(key, value) AS (SELECT 'k', '{}' UNION ALL "
                                 "SELECT key || 'k', value FROM r) SELECT * FROM r"),
    "trigger": sql("CREATE TRIGGER fuzz AFTER INSERT ON events BEGIN "
                   "DELETE FROM individuals; END"),
    "extra table and index": sql("CREATE TABLE extra (x)", "CREATE INDEX extra_x ON extra (x)"),
    "virtual table": sql("DROP TABLE snapshots",
                         "CREATE VIRTUAL TABLE snapshots USING "
                         "rtree(seq, next_id, told, evaluations, state)"),
    "file truncated": lambda journal, rng: journal.write_bytes(journal.read_bytes()[:3000]),
    "file empty": lambda journal, rng: journal.write_bytes(b""),
    **{f"byte flips {i}": byte_flips(1 + i % 8) for i in range(BYTE_FLIP_CASES)},
    **{f"random edits {i}": random_edit for i in range(RANDOM_EDIT_CASES)},
}


def hostile_task(*args: object, **kwargs: object) -> None:
    """What a crafted ``task.name`` would import and call: reading must never get here."""
    raise AssertionError("a read command imported and called the task named in a run folder")


# ------------------------------------------------------------------------------ commands
def commands(run: Path, out: Path) -> list[list[str]]:
    return [
        ["status", str(run)],
        ["status", str(run), "--json"],
        ["best", str(run)],
        ["best", str(run), "--json"],
        ["best", str(run), "--export", str(out / "best.py")],
        ["best", str(run), "--pareto"],
        ["lineage", str(run), "--best"],
        ["lineage", str(run), "--best", "--json"],
        ["lineage", str(run), "--id", "14"],
        ["lineage", str(run), "--operators"],
        ["lineage", str(run), "--diff", "3", "14"],
        ["lineage", str(run), "--export", str(out / "tree.graphml")],
        ["lineage", str(run), "--export", str(out / "tree.dot")],
        ["report", str(run), "-o", str(out / "report.html")],
        ["compare", str(run), "--plot", str(out / "compare.png")],
    ]


def run_command(argv: list[str]) -> tuple[int | None, str, str, BaseException | None]:
    """``main(argv)`` in a thread: ``(code, stdout, stderr, exception)``; code None when it
    raised, :data:`HUNG` when it did not end within :data:`TIME_LIMIT`."""
    result: dict[str, object] = {}
    out, err = io.StringIO(), io.StringIO()

    def target() -> None:
        try:
            result["code"] = main(argv)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            result["exc"] = exc

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(TIME_LIMIT)
    if thread.is_alive():
        return HUNG, out.getvalue(), err.getvalue(), None
    return (result.get("code"), out.getvalue(), err.getvalue(),  # type: ignore[return-value]
            result.get("exc"))  # type: ignore[arg-type]


def digest(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 of every file, SQLite's ``-shm``/``-wal`` side files left out (a
    reader may create them empty; checked separately)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


@pytest.mark.parametrize("case", list(CASES))
def test_read_commands_on_a_damaged_run_folder(case: str, source_run: Path,
                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(source_run, run)
    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    CASES[case](run / JOURNAL_FILE, rng)
    for side in ("-wal", "-shm", "-journal"):
        Path(f"{run / JOURNAL_FILE}{side}").unlink(missing_ok=True)
    out = tmp_path / "out"
    out.mkdir()
    before = digest(run)
    problems = []
    for argv in commands(run, out):
        code, stdout, stderr, exc = run_command(argv)
        label = " ".join(a if not a.startswith(str(tmp_path)) else Path(a).name for a in argv)
        lines = stderr.strip().splitlines()
        if code == HUNG:
            problems.append(f"{label}: still running after {TIME_LIMIT:g} s")
            break  # the thread keeps the journal open; later commands would be meaningless
        if exc is not None:
            problems.append(f"{label}: raised {type(exc).__name__}: {exc}")
        elif "Traceback" in stderr:
            problems.append(f"{label}: printed a traceback")
        elif code == 2:
            if len(lines) != 1 or not lines[0].startswith("evonas: error: "):
                problems.append(f"{label}: exit 2 with stderr {stderr!r}")
        elif code == 1:
            if len(lines) != 1 or "no successful evaluation yet" not in lines[0]:
                problems.append(f"{label}: exit 1 with stderr {stderr!r}")
        elif code != 0:
            problems.append(f"{label}: exit {code}")
        if code == 0 and "--json" in argv:
            assert "Infinity" not in stdout and "NaN" not in stdout, (label, stdout)
    assert digest(run) == before, f"{case}: the run folder changed"
    wal = Path(f"{run / JOURNAL_FILE}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{case}: a reader wrote the WAL"
    assert not problems, f"{case}:\n" + "\n".join(problems)


def test_the_undamaged_copy_works(source_run: Path, tmp_path: Path) -> None:
    """The baseline: on the real folder every command exits 0 (so the damaged cases test the
    damage, not a broken command)."""
    out = tmp_path / "out"
    out.mkdir()
    for argv in commands(source_run, out):
        if "--pareto" in argv:
            continue  # a single-objective run has no front: exit 2 by design
        code, stdout, stderr, exc = run_command(argv)
        assert exc is None and code == 0, (argv, code, stderr, exc)
