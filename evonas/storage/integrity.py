"""Checks that a journal is one this code reads, before anything reads it: the schema, the
file's integrity, the schema version, and every row's types, in SQL (fast; nothing of the file
runs). :meth:`Journal.open <evonas.storage.journal.Journal.open>` runs them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evonas.errors import JournalError
from evonas.storage.schema import SCHEMA_VERSION, TABLES

_MAX_REAL = "1.7976931348623157e308"
#: What SQLite raises on a damaged file: its errors, and (Python decodes SQLite's messages as
#: UTF-8) a UnicodeDecodeError when a message quotes damaged bytes of the schema.
SQLITE_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


def _json_object(column: str) -> str:
    """CASE branches: ``column`` is not the JSON text of an object (checked in order, so
    ``json_type`` never sees malformed text)."""
    return (f"WHEN typeof({column}) != 'text' THEN '{column}: not text' "
            f"WHEN NOT json_valid({column}) THEN '{column}: not valid JSON' "
            f"WHEN json_type({column}) != 'object' THEN '{column}: not a JSON object' ")


def _finite(column: str, what: str = "a finite number or null") -> str:
    return (f"WHEN typeof({column}) NOT IN ('integer', 'real', 'null') "
            f"THEN '{column}: not {what}' "
            f"WHEN {column} > {_MAX_REAL} OR {column} < -{_MAX_REAL} "
            f"THEN '{column}: not {what}' ")


#: ``(table, SQL returning (row key, problem) of the first bad row)``, in the order checked.
_ROW_CHECKS: tuple[tuple[str, str], ...] = (
    ("meta", "SELECT key, CASE "
             "WHEN typeof(value) != 'text' THEN 'value: not text' "
             "WHEN NOT json_valid(value) THEN 'value: not valid JSON' "
             "WHEN json_type(value) != 'object' THEN 'value: not a mapping' END AS bad "
             "FROM meta WHERE key = 'config' AND bad IS NOT NULL"),
    ("individuals", "SELECT id, CASE "
                    "WHEN typeof(id) != 'integer' THEN 'id: not an integer' "
                    + _json_object("genome") +
                    "WHEN typeof(hash) != 'text' THEN 'hash: not text' "
                    "WHEN typeof(parents) != 'text' THEN 'parents: not text' "
                    "WHEN NOT json_valid(parents) THEN 'parents: not valid JSON' "
                    "WHEN json_type(parents) != 'array' THEN 'parents: not a JSON list' "
                    + _json_object("operator") +
                    "WHEN typeof(generation) NOT IN ('integer', 'null') "
                    "THEN 'generation: not an integer or null' END AS bad "
                    "FROM individuals WHERE bad IS NOT NULL ORDER BY id LIMIT 1"),
    ("individuals", "SELECT i.id, 'parents: ' || CASE WHEN p.type != 'integer' "
                    "THEN 'not a list of individual ids' WHEN p.value = i.id "
                    "THEN 'lists the individual itself (a parent cycle)' "
                    "ELSE 'individual ' || p.value || ' is not born before it (a parent cycle?)' "
                    "END FROM individuals i, json_each(i.parents) AS p "
                    "WHERE p.type != 'integer' OR p.value < 0 OR p.value >= i.id "
                    "ORDER BY i.id LIMIT 1"),
    ("evaluations", "SELECT individual_id, CASE "
                    "WHEN typeof(individual_id) != 'integer' "
                    "THEN 'individual_id: not an integer' "
                    "WHEN typeof(status) != 'text' OR status NOT IN ('ok', 'failed', 'cached') "
                    "THEN 'status: not ok, failed or cached' "
                    + _finite("fitness") + _json_object("metrics") +
                    "WHEN typeof(error) NOT IN ('text', 'null') THEN 'error: not text or null' "
                    "WHEN typeof(worker) NOT IN ('text', 'null') THEN 'worker: not text or null' "
                    + _finite("seconds") +
                    "WHEN typeof(source_id) NOT IN ('integer', 'null') "
                    "THEN 'source_id: not an integer or null' "
                    "WHEN source_id < 0 OR source_id >= individual_id "
                    "THEN 'source_id: not an individual born before it' "
                    "WHEN status = 'cached' AND source_id IS NULL "
                    "THEN 'source_id: missing for a cached copy' "
                    "WHEN NOT EXISTS (SELECT 1 FROM individuals i WHERE i.id = individual_id) "
                    "THEN 'individual_id: no such individual' END AS bad "
                    "FROM evaluations WHERE bad IS NOT NULL ORDER BY individual_id LIMIT 1"),
    ("events", "SELECT seq, CASE "
               "WHEN typeof(kind) != 'text' THEN 'kind: not text' "
               "WHEN typeof(individual_id) NOT IN ('integer', 'null') "
               "THEN 'individual_id: not an integer or null' "
               "WHEN data IS NOT NULL AND typeof(data) != 'text' THEN 'data: not text' "
               "WHEN data IS NOT NULL AND NOT json_valid(data) THEN 'data: not valid JSON' "
               "END AS bad FROM events WHERE bad IS NOT NULL ORDER BY seq LIMIT 1"),
    ("snapshots", "SELECT seq, CASE "
                  "WHEN typeof(next_id) != 'integer' THEN 'next_id: not an integer' "
                  "WHEN typeof(told) != 'integer' THEN 'told: not an integer' "
                  "WHEN typeof(evaluations) != 'integer' THEN 'evaluations: not an integer' "
                  + _json_object("state") +
                  "WHEN json_type(state, '$.strategy') IS NOT 'object' "
                  "THEN 'state.strategy: missing or not a mapping' END AS bad "
                  "FROM (SELECT * FROM snapshots ORDER BY seq DESC LIMIT 1) "
                  "WHERE bad IS NOT NULL"),
)


def check_journal(conn: sqlite3.Connection, path: Path) -> None:
    """The schema (before any query touches a table), the file's integrity, the schema version
    and every row's types."""
    try:
        _check_schema(conn, path)
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise JournalError(f"{path}: the journal is corrupted ({one_line(check)})")
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        version_text = rows.get("schema_version")
        if not isinstance(version_text, str) or not version_text.isdigit():
            raise JournalError(f"{path}: meta.schema_version is missing or invalid")
        version = int(version_text)
        if version > SCHEMA_VERSION:
            raise JournalError(f"{path}: meta.schema_version is {version}, newer than this "
                               f"evonas reads ({SCHEMA_VERSION}); upgrade evonas to open it")
        if "config" not in rows:
            raise JournalError(f"{path}: meta.config is missing")
        for table, sql in _ROW_CHECKS:
            if table == "evaluations":  # every individual is there before what refers to them
                _check_ids(conn, path)
            bad = conn.execute(sql).fetchone()
            if bad is not None:
                key = bad[0] if isinstance(bad[0], int) else repr(bad[0])
                raise JournalError(f"{path}: {table}[{key}].{bad[1]}")
    except SQLITE_ERRORS as exc:
        raise JournalError(f"{path}: not a readable evonas journal ({one_line(exc)})") from None


def _check_ids(conn: sqlite3.Connection, path: Path) -> None:
    """Individual ids are 0, 1, 2... (birth order), none missing, none repeated."""
    count, low, high, distinct = conn.execute(
        "SELECT COUNT(*), MIN(id), MAX(id), COUNT(DISTINCT id) FROM individuals").fetchone()
    if count and (low != 0 or high != count - 1 or distinct != count):
        missing = 0 if low != 0 else conn.execute(
            "SELECT MIN(a.id) + 1 FROM individuals a WHERE a.id < ? AND NOT EXISTS "
            "(SELECT 1 FROM individuals b WHERE b.id = a.id + 1)", (high,)).fetchone()[0]
        what = f"individual {missing} is missing" if missing is not None else "ids repeat"
        raise JournalError(f"{path}: individuals: the ids are not 0..{count - 1} in birth "
                           f"order ({what})")


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Every table of the schema is a plain table with its columns; no views, no triggers
    (a view or trigger runs SQL of the file's choosing: a recursive view never ends)."""
    kinds: dict[str, str] = {}
    for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master"):
        if kind in ("view", "trigger"):
            raise JournalError(f"{path}: holds a {kind} ({one_line(name)!r:.60}); an evonas "
                               f"journal has none, refusing to read it")
        if kind == "table":
            kinds[name] = "virtual" if str(sql or "").lstrip()[:14].upper() == \
                "CREATE VIRTUAL" else "table"
    if not kinds:
        raise JournalError(f"{path}: not an evonas journal (an empty database)")
    for table, columns in TABLES.items():
        if table not in kinds:
            raise JournalError(f"{path}: the table {table!r} is missing")
        if kinds[table] != "table":
            raise JournalError(f"{path}: {table!r} is a virtual table, not a journal table")
        have = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        missing = [c for c in columns if c not in have]
        if missing:
            raise JournalError(f"{path}: {table}.{missing[0]}: the column is missing")


@contextmanager
def reading_journal(path: Path) -> Iterator[None]:
    """Turn SQLite errors met while reading a journal into :class:`JournalError` naming the file
    (a damaged page that :meth:`Journal.open`'s checks did not reach)."""
    try:
        yield
    except SQLITE_ERRORS as exc:
        raise JournalError(f"{path}: cannot read the journal ({one_line(exc)})") from None


def one_line(value: object, limit: int = 200) -> str:
    """``value`` as one short line (for messages quoting file content)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
