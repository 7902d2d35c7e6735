"""The run journal: one SQLite file per run, the truth about a campaign.

Tables:

* ``meta``: schema version, frozen config (JSON), creation time.
* ``individuals``: every genome ever proposed, in birth order (``id``), with its canonical hash,
  parents, operator record and generation.
* ``evaluations``: one final outcome per individual: ``ok``, ``failed`` (with the reason) or
  ``cached`` (copied from ``source_id``, an earlier individual with the same canonical hash).
* ``events``: what happened, in order (created, dispatched, finished, snapshot, stopped...).
* ``snapshots``: strategy state (JSON, RNG included) and campaign counters at a point in the
  campaign; resume loads the last one and replays the journal after it.

The campaign process is the only writer. WAL mode lets readers (``evonas status``, reports) open
the file while a campaign runs. Nothing here is pickle: genomes, metrics and states are JSON.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
JOURNAL_FILE = "journal.sqlite"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE individuals (
    id INTEGER PRIMARY KEY,
    genome TEXT NOT NULL,
    hash TEXT NOT NULL,
    parents TEXT NOT NULL,
    operator TEXT NOT NULL,
    generation INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX individuals_by_hash ON individuals (hash, id);
CREATE TABLE evaluations (
    individual_id INTEGER PRIMARY KEY REFERENCES individuals (id),
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'cached')),
    fitness REAL,
    metrics TEXT NOT NULL,
    error TEXT,
    worker TEXT,
    seconds REAL,
    source_id INTEGER,
    finished_at REAL NOT NULL
);
CREATE INDEX evaluations_by_fitness ON evaluations (fitness);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    individual_id INTEGER,
    data TEXT,
    at REAL NOT NULL
);
CREATE TABLE snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    next_id INTEGER NOT NULL,
    told INTEGER NOT NULL,
    evaluations INTEGER NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class JournalError(Exception):
    """The journal cannot be opened or is inconsistent. The message names the file."""


@dataclass(frozen=True)
class IndividualRow:
    """An individual as stored (genome kept as its JSON dict)."""

    id: int
    genome: dict[str, Any]
    hash: str
    parents: tuple[int, ...]
    operator: dict[str, Any]
    generation: int | None


@dataclass(frozen=True)
class EvaluationRow:
    """The outcome of one individual."""

    individual_id: int
    status: str
    fitness: float | None
    metrics: dict[str, Any]
    error: str | None
    worker: str | None
    seconds: float | None
    source_id: int | None


@dataclass(frozen=True)
class Snapshot:
    """Strategy state and campaign counters at one point of the campaign."""

    next_id: int
    told: int
    evaluations: int
    state: dict[str, Any]


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    """JSON text; values that hold no floats of unknown origin skip :func:`json_safe`."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere
        return json.dumps(json_safe(value), separators=(",", ":"), allow_nan=False)


class Journal:
    """Read and write access to one run's SQLite journal.

    Use :meth:`create` for a new run and :meth:`open` for an existing one.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self._conn = conn
        self.readonly = readonly
        self._events: list[tuple] = []  # buffered, written in order at the next commit

    # ----------------------------------------------------------------- opening
    @classmethod
    def create(cls, path: Path, config: dict[str, Any]) -> Journal:
        """Create a new journal at ``path`` holding the frozen ``config``."""
        if path.exists():
            raise JournalError(f"{path}: a journal already exists here")
        # Build the file under a temporary name and rename it into place, so a campaign killed
        # while creating its journal leaves no half-made journal behind.
        tmp = path.with_name(path.name + ".creating")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        conn.executescript(_SCHEMA)
        now = time.time()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("created_at", repr(now)),
            ("config", _dumps(config)),
        ])
        conn.execute("COMMIT")
        conn.close()
        tmp.rename(path)
        conn = sqlite3.connect(path, isolation_level=None)
        _configure(conn)
        journal = cls(path, conn, readonly=False)
        journal.add_event("campaign_created")
        journal.commit()
        return journal

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Journal:
        """Open an existing journal, checking that it is one and that this code can read it.

        Raises:
            JournalError: missing, truncated, corrupted, or written by a newer schema.
        """
        if not path.is_file():
            raise JournalError(f"{path}: no journal here")
        try:  # check through a read-only connection first: a bad file is left untouched
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   isolation_level=None)
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{path}: not a readable evonas journal ({exc})") from None
        if check != "ok":
            conn.close()
            raise JournalError(f"{path}: the journal is corrupted ({check})")
        version_text = rows.get("schema_version")
        if version_text is None or not version_text.isdigit():
            conn.close()
            raise JournalError(f"{path}: meta.schema_version is missing or invalid")
        version = int(version_text)
        if version > SCHEMA_VERSION:
            conn.close()
            raise JournalError(f"{path}: meta.schema_version is {version}, newer than this evonas "
                               f"reads ({SCHEMA_VERSION}); upgrade evonas to open it")
        if not readonly:
            conn.close()
            conn = sqlite3.connect(path, isolation_level=None)
            _configure(conn)
        return cls(path, conn, readonly)

    def close(self) -> None:
        if not self.readonly:
            self.commit()
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing
    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")

    def commit(self) -> None:
        """Make every write so far durable (the campaign commits before it acts on them)."""
        if self._events:
            self._begin()
            self._conn.executemany(
                "INSERT INTO events (kind, individual_id, data, at) VALUES (?, ?, ?, ?)",
                self._events)
            self._events = []
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def add_individual(self, id: int, genome: dict[str, Any], hash: str,  # noqa: A002
                       parents: tuple[int, ...], operator: dict[str, Any],
                       generation: int | None) -> None:
        self._begin()
        self._conn.execute(
            "INSERT INTO individuals VALUES (?, ?, ?, ?, ?, ?, ?)",
            (id, _dumps(genome), hash, _dumps(list(parents)), _dumps(operator), generation,
             time.time()))
        self.add_event("created", id)

    def add_evaluation(self, row: EvaluationRow) -> None:
        self._begin()
        self._conn.execute(
            "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.individual_id, row.status, json_safe(row.fitness), _dumps(row.metrics),
             row.error, row.worker, row.seconds, row.source_id, time.time()))
        self.add_event("finished", row.individual_id, {"status": row.status})

    def set_config(self, config: dict[str, Any]) -> None:
        """Replace the frozen config (a resume with accepted changes)."""
        self._begin()
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'config'", (_dumps(config),))
        self.commit()

    def add_event(self, kind: str, individual_id: int | None = None,
                  data: dict[str, Any] | None = None) -> None:
        self._events.append(
            (kind, individual_id, None if data is None else _dumps(data), time.time()))

    def add_snapshot(self, snapshot: Snapshot) -> None:
        self._begin()
        self._conn.execute(
            "INSERT INTO snapshots (next_id, told, evaluations, state, at) VALUES (?, ?, ?, ?, ?)",
            (snapshot.next_id, snapshot.told, snapshot.evaluations, _dumps(snapshot.state),
             time.time()))
        self.add_event("snapshot", None, {"next_id": snapshot.next_id, "told": snapshot.told})
        self.commit()

    # ----------------------------------------------------------------- reading
    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def config(self) -> dict[str, Any]:
        text = self.meta("config")
        if text is None:
            raise JournalError(f"{self.path}: meta.config is missing")
        return json.loads(text)

    def individual(self, id: int) -> IndividualRow | None:  # noqa: A002
        row = self._conn.execute(
            "SELECT id, genome, hash, parents, operator, generation FROM individuals WHERE id = ?",
            (id,)).fetchone()
        return None if row is None else _individual(row)

    def individuals(self, start: int = 0) -> Iterator[IndividualRow]:
        """Individuals in birth order, from id ``start``."""
        cursor = self._conn.execute(
            "SELECT id, genome, hash, parents, operator, generation FROM individuals "
            "WHERE id >= ? ORDER BY id", (start,))
        for row in cursor:
            yield _individual(row)

    def evaluation(self, individual_id: int) -> EvaluationRow | None:
        row = self._conn.execute(
            "SELECT individual_id, status, fitness, metrics, error, worker, seconds, source_id "
            "FROM evaluations WHERE individual_id = ?", (individual_id,)).fetchone()
        return None if row is None else _evaluation(row)

    def evaluations(self) -> Iterator[EvaluationRow]:
        """Every outcome, by individual id."""
        cursor = self._conn.execute(
            "SELECT individual_id, status, fitness, metrics, error, worker, seconds, source_id "
            "FROM evaluations ORDER BY individual_id")
        for row in cursor:
            yield _evaluation(row)

    def search_records(self) -> list[tuple[int, dict[str, Any]]]:
        """``(id, operator record)`` of the individuals whose record has ``search_seconds``.

        The device time a strategy spent proposing them (DARTS' supernet epochs, whose records
        also log the search), which counts in the run's device-seconds besides the evaluations'.
        """
        cursor = self._conn.execute(
            "SELECT id, operator FROM individuals "
            "WHERE instr(operator, '\"search_seconds\"') > 0 ORDER BY id")
        return [(row[0], json.loads(row[1])) for row in cursor]

    def search_seconds(self) -> dict[int, float]:
        """Individual id -> the ``search_seconds`` of its operator record, where it has one."""
        cursor = self._conn.execute(
            "SELECT id, json_extract(operator, '$.search_seconds') FROM individuals "
            "WHERE instr(operator, '\"search_seconds\"') > 0 ORDER BY id")
        return {row[0]: float(row[1]) for row in cursor
                if isinstance(row[1], int | float) and not isinstance(row[1], bool)}

    def first_with_hash(self, hash: str, before: int) -> int | None:  # noqa: A002
        """The earliest individual with canonical hash ``hash`` and an id below ``before``."""
        row = self._conn.execute(
            "SELECT id FROM individuals WHERE hash = ? AND id < ? ORDER BY id LIMIT 1",
            (hash, before)).fetchone()
        return None if row is None else row[0]

    def best(self, k: int = 1) -> list[EvaluationRow]:
        """The ``k`` best successful evaluations (cached copies excluded), ties by birth order."""
        cursor = self._conn.execute(
            "SELECT individual_id, status, fitness, metrics, error, worker, seconds, source_id "
            "FROM evaluations WHERE status = 'ok' AND fitness IS NOT NULL "
            "ORDER BY fitness DESC, individual_id ASC LIMIT ?", (k,))
        return [_evaluation(row) for row in cursor]

    def last_snapshot(self) -> Snapshot | None:
        row = self._conn.execute(
            "SELECT next_id, told, evaluations, state FROM snapshots ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return Snapshot(row[0], row[1], row[2], json.loads(row[3]))

    def counts(self) -> dict[str, int]:
        """Individuals, evaluations by status, and events."""
        out = {"individuals": self._conn.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]}
        for status, n in self._conn.execute(
                "SELECT status, COUNT(*) FROM evaluations GROUP BY status"):
            out[status] = n
        for key in ("ok", "failed", "cached"):
            out.setdefault(key, 0)
        out["events"] = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return out

    def events(self, kind: str | None = None) -> list[tuple[int, str, int | None, Any]]:
        """Committed events in order as ``(seq, kind, individual_id, data)``."""
        query = "SELECT seq, kind, individual_id, data FROM events"
        args: tuple = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        return [(s, k, i, None if d is None else json.loads(d))
                for s, k, i, d in self._conn.execute(query + " ORDER BY seq", args)]


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


def _individual(row: tuple) -> IndividualRow:
    return IndividualRow(row[0], json.loads(row[1]), row[2], tuple(json.loads(row[3])),
                         json.loads(row[4]), row[5])


def _evaluation(row: tuple) -> EvaluationRow:
    return EvaluationRow(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6],
                         row[7])
