"""The run journal: one SQLite file per run, the truth about a campaign.

Tables:

* ``meta``: schema version, frozen config (JSON), creation time.
* ``individuals``: every genome ever proposed, in birth order (``id``), with its canonical hash,
  parents, operator record, generation and birth time.
* ``evaluations``: one final outcome per individual: ``ok``, ``failed`` (with the reason) or
  ``cached`` (copied from ``source_id``, an earlier individual with the same canonical hash),
  and when it came.
* ``events``: what else happened, in order (dispatched, told, snapshot, rung, stopped...);
  births and outcomes are the rows above, with their times. Older journals also hold
  ``created`` and ``finished`` events and an index of individuals by hash (read the same).
* ``snapshots``: strategy state (JSON, RNG included) and campaign counters at a point in the
  campaign; resume loads the last one and replays the journal after it.

The schema is :mod:`evonas.storage.schema`; the checks run before anything reads a journal are
:mod:`evonas.storage.integrity`. The campaign process is the only writer. WAL mode lets readers
(``evonas status``, reports) open the file while a campaign runs. Nothing here is pickle:
genomes, metrics and states are JSON.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evonas.errors import JournalError  # an EvonasError; exported here as before
from evonas.storage.integrity import SQLITE_ERRORS, check_journal, one_line, reading_journal
from evonas.storage.queries import JournalQueries
from evonas.storage.schema import JOURNAL_FILE, SCHEMA, SCHEMA_VERSION
from evonas.storage.status import STATUS_VALUES, Status

__all__ = ["JOURNAL_FILE", "SCHEMA_VERSION", "EvaluationRow", "IndividualRow", "Journal",
           "JournalError", "Snapshot", "json_safe", "reading_journal", "safe_write_text"]



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


#: One encoder for every row (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _one_shot_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode``, without building the C encoder anew at every call (which
    ``JSONEncoder.encode`` does; the journal encodes several values per individual): the same
    text, and the same ValueError for a NaN or infinity. Without cycle checks, which rows of
    plain JSON values never need."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python): the encoder's own path
        return _ENCODER.encode
    chunks = make(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",",
                  False, False, False)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


_encode = _one_shot_encoder()


def _dumps(value: Any) -> str:
    """JSON text; values that hold no floats of unknown origin skip :func:`json_safe`."""
    try:
        return _encode(value)
    except ValueError:  # a NaN or infinity somewhere
        return _encode(json_safe(value))


#: The operator record of a random genome, as ``_dumps`` writes it.
_RANDOM_OPERATOR = '{"op":"random"}'


def _parents_text(parents: tuple[int, ...]) -> str:
    """``_dumps(list(parents))``, without the encoder for plain ints."""
    if not parents:
        return "[]"
    if all(type(p) is int for p in parents):
        return "[" + ",".join(map(str, parents)) + "]"
    return _dumps(list(parents))


class Journal(JournalQueries):
    """Read and write access to one run's SQLite journal.

    Use :meth:`create` for a new run and :meth:`open` for an existing one.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self._conn = conn
        self.readonly = readonly
        self._events: list[tuple] = []  # buffered, written in order at the next commit
        # rows buffered until the next commit or read (one executemany each: a campaign writes
        # thousands a second)
        self._individual_rows: list[tuple] = []
        self._evaluation_rows: list[tuple] = []

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
        # One transaction without syncs for the whole schema (the file is not in place yet),
        # then one fsync before the rename: a crash leaves only the temporary file.
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.execute("PRAGMA synchronous=OFF")
        now = time.time()
        conn.execute("BEGIN")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("created_at", repr(now)),
            ("config", _dumps(config)),
        ])
        conn.execute("COMMIT")
        conn.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        tmp.rename(path)
        conn = sqlite3.connect(path, isolation_level=None)
        _configure(conn)
        journal = cls(path, conn, readonly=False)
        journal.add_event("campaign_created")
        journal.commit()
        return journal

    @classmethod
    def in_memory(cls, config: dict[str, Any]) -> Journal:
        """A journal that lives in this process only (SQLite ``:memory:``), holding the frozen
        ``config``: the same API and schema as a file's, nothing written to disk. Benchmarks and
        simulations drive a real :class:`~evonas.campaign.Campaign` with it; it is gone once
        closed."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(SCHEMA)
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("created_at", repr(time.time())),
            ("config", _dumps(config)),
        ])
        conn.execute("COMMIT")
        journal = cls(Path(":memory:"), conn, readonly=False)
        journal.add_event("campaign_created")
        journal.commit()
        return journal

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Journal:
        """Open an existing journal, checking that it is one and that this code can read it.

        Reading runs no code from the file: the schema must be exactly the journal's tables
        (no views, no triggers), and every row must have the types this code reads (see
        :meth:`check_rows`). A read-only open never writes: it uses SQLite's ``mode=ro``, or
        ``immutable=1`` where that cannot work (a folder without write access and no ``-wal``
        file, read-only media). A writing open refuses a journal that is a symbolic link or
        that this process cannot write.

        Raises:
            JournalError: missing, truncated, corrupted, hostile (views, triggers, rows of the
                wrong type), not writable (``readonly=False``), or written by a newer schema.
        """
        path = Path(path)
        if not path.is_file():
            raise JournalError(f"{path}: no journal here")
        for suffix in _SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.is_symlink():
                raise JournalError(f"{side}: is a symbolic link; refusing to open the journal "
                                   "(SQLite would write through it)")
        if not readonly:
            _check_writable(path)
        conn = _connect_readonly(path)  # checks first: a bad file is left untouched
        try:
            check_journal(conn, path)
        except BaseException:
            conn.close()
            raise
        if not readonly:
            conn.close()
            try:
                conn = sqlite3.connect(path, isolation_level=None)
                _configure(conn)
            except SQLITE_ERRORS as exc:
                conn.close()
                raise JournalError(f"{path}: cannot open the journal for writing "
                                   f"({one_line(exc)})") from None
        return cls(path, conn, readonly)

    def check_rows(self) -> None:
        """Check the schema and that every row has the types the readers expect (SQL only,
        fast: what :meth:`open` checks).

        Raises:
            JournalError: naming the file and the table, row and column at fault.
        """
        check_journal(self._conn, self.path)

    def check_integrity(self) -> None:
        """Check everything a resume relies on, before it writes anything.

        The schema (every table and column, nothing else that runs code), every individual
        (genome a dict that :func:`genomes.genome_from_dict` accepts, parents born before it,
        operator record a dict, generation an integer or null, ids contiguous from 0), every
        evaluation (status, metrics a dict, a finite fitness or null, the source of a cached copy),
        and the last snapshot (its state a dict with a ``strategy`` dict).

        Raises:
            JournalError: naming the file and the table and row at fault.
        """
        from genomes import GenomeError, genome_from_dict

        with reading_journal(self.path):
            check_journal(self._conn, self.path)
            self.config()
            parsed: dict[str, str | None] = {}  # genome text -> error (repeats parse once)
            for id_, text in self._conn.execute("SELECT id, genome FROM individuals ORDER BY id"):
                if text not in parsed:
                    try:
                        genome_from_dict(_loads(text, self.path, f"individuals[{id_}].genome"))
                        parsed[text] = None
                    except GenomeError as exc:
                        parsed[text] = one_line(exc)
                if parsed[text] is not None:
                    raise JournalError(f"{self.path}: individuals[{id_}].genome: {parsed[text]}")
            for row in self._conn.execute(_INDIVIDUAL_SELECT + " ORDER BY id"):
                _individual(row, self.path)
            for row in self._conn.execute(_EVALUATION_SELECT + " ORDER BY individual_id"):
                _evaluation(row, self.path)
            snapshot = self.last_snapshot()
            if snapshot is not None and not isinstance(snapshot.state.get("strategy"), dict):
                raise JournalError(f"{self.path}: snapshots (the last one).state.strategy: "
                                   "missing or not a mapping")

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

    def _flush(self) -> None:
        """Write the buffered rows into the open transaction (reads then see them)."""
        if self._individual_rows:
            self._begin()
            self._conn.executemany("INSERT INTO individuals VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   self._individual_rows)
            self._individual_rows = []
        if self._evaluation_rows:
            self._begin()
            self._conn.executemany("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   self._evaluation_rows)
            self._evaluation_rows = []

    def commit(self) -> None:
        """Make every write so far durable (the campaign commits before it acts on them)."""
        self._flush()
        if self._events:
            self._begin()
            self._conn.executemany(
                "INSERT INTO events (kind, individual_id, data, at) VALUES (?, ?, ?, ?)",
                self._events)
            self._events = []
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def add_individual(self, id: int, genome: dict[str, Any] | str, hash: str,  # noqa: A002
                       parents: tuple[int, ...], operator: dict[str, Any],
                       generation: int | None) -> None:
        """Buffer an individual's row (its ``created_at`` says when it was born). ``genome`` is
        its JSON dict, or that dict's compact JSON text already made (a genome's cached
        ``to_json()``)."""
        self._individual_rows.append(
            (id, genome if isinstance(genome, str) else _dumps(genome), hash,
             _parents_text(parents),
             _RANDOM_OPERATOR if operator == {"op": "random"} else _dumps(operator),
             generation, time.time()))

    def add_evaluation(self, row: EvaluationRow, metrics_json: str | None = None) -> str:
        """Buffer an outcome (its ``finished_at`` says when it came); returns the metrics' JSON
        text (pass it back as ``metrics_json`` for another row with the same metrics, a cached
        copy)."""
        metrics = _dumps(row.metrics) if metrics_json is None else metrics_json
        self._evaluation_rows.append(
            (row.individual_id, row.status, json_safe(row.fitness), metrics,
             row.error, row.worker, row.seconds, row.source_id, time.time()))
        return metrics

    def set_config(self, config: dict[str, Any]) -> None:
        """Replace the frozen config (a resume with accepted changes)."""
        self._begin()
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'config'", (_dumps(config),))
        self.commit()

    def add_event(self, kind: str, individual_id: int | None = None,
                  data: dict[str, Any] | None = None) -> None:
        self._events.append(
            (kind, individual_id, None if data is None else _dumps(data), time.time()))

    def add_snapshot(self, snapshot: Snapshot, *, commit: bool = True) -> None:
        """Write a snapshot (after the rows buffered so far) and, unless ``commit`` is false,
        commit. A snapshot left uncommitted goes with the next commit: a crash before it loses
        the snapshot with the rows before it, never one without the other."""
        self._begin()
        self._conn.execute(
            "INSERT INTO snapshots (next_id, told, evaluations, state, at) VALUES (?, ?, ?, ?, ?)",
            (snapshot.next_id, snapshot.told, snapshot.evaluations, _dumps(snapshot.state),
             time.time()))
        self.add_event("snapshot", None, {"next_id": snapshot.next_id, "told": snapshot.told})
        if commit:
            self.commit()

    # ----------------------------------------------------------------- reading
    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def config(self) -> dict[str, Any]:
        text = self.meta("config")
        if text is None:
            raise JournalError(f"{self.path}: meta.config is missing")
        value = _loads(text, self.path, "meta.config")
        if not isinstance(value, dict):
            raise JournalError(f"{self.path}: meta.config: not a mapping")
        return value

    def individual(self, id: int) -> IndividualRow | None:  # noqa: A002
        self._flush()
        row = self._conn.execute(_INDIVIDUAL_SELECT + " WHERE id = ?", (id,)).fetchone()
        return None if row is None else _individual(row, self.path)

    def individuals(self, start: int = 0) -> Iterator[IndividualRow]:
        """Individuals in birth order, from id ``start``."""
        self._flush()
        cursor = self._conn.execute(_INDIVIDUAL_SELECT + " WHERE id >= ? ORDER BY id", (start,))
        for row in cursor:
            yield _individual(row, self.path)

    def evaluation(self, individual_id: int) -> EvaluationRow | None:
        self._flush()
        row = self._conn.execute(_EVALUATION_SELECT + " WHERE individual_id = ?",
                                 (individual_id,)).fetchone()
        return None if row is None else _evaluation(row, self.path)

    def evaluations(self) -> Iterator[EvaluationRow]:
        """Every outcome, by individual id."""
        self._flush()
        cursor = self._conn.execute(_EVALUATION_SELECT + " ORDER BY individual_id")
        for row in cursor:
            yield _evaluation(row, self.path)

    def search_records(self) -> list[tuple[int, dict[str, Any]]]:
        """``(id, operator record)`` of the individuals whose record has ``search_seconds``.

        The device time a strategy spent proposing them (DARTS' supernet epochs, whose records
        also log the search), which counts in the run's device-seconds besides the evaluations'.
        """
        self._flush()
        cursor = self._conn.execute(
            "SELECT id, operator FROM individuals "
            "WHERE instr(operator, '\"search_seconds\"') > 0 ORDER BY id")
        out = []
        for id_, text in cursor:
            record = _loads(text, self.path, f"individuals[{id_}].operator")
            if not isinstance(record, dict):
                raise JournalError(f"{self.path}: individuals[{id_}].operator: not a mapping")
            out.append((id_, record))
        return out

    def search_seconds(self) -> dict[int, float]:
        """Individual id -> the ``search_seconds`` of its operator record, where it has one."""
        self._flush()
        cursor = self._conn.execute(
            "SELECT id, json_extract(operator, '$.search_seconds') FROM individuals "
            "WHERE instr(operator, '\"search_seconds\"') > 0 ORDER BY id")
        return {row[0]: float(row[1]) for row in cursor
                if isinstance(row[1], int | float) and not isinstance(row[1], bool)
                and math.isfinite(row[1])}

    def first_ids_by_hash(self) -> dict[str, int]:
        """Canonical hash -> the id of the first individual that has it."""
        self._flush()
        return dict(self._conn.execute("SELECT hash, MIN(id) FROM individuals GROUP BY hash"))

    def best(self, k: int = 1) -> list[EvaluationRow]:
        """The ``k`` best successful evaluations (cached copies excluded), ties by birth order."""
        self._flush()
        cursor = self._conn.execute(
            _EVALUATION_SELECT + " WHERE status = 'ok' AND fitness IS NOT NULL "
            "ORDER BY fitness DESC, individual_id ASC LIMIT ?", (k,))
        return [_evaluation(row, self.path) for row in cursor]

    def last_snapshot(self) -> Snapshot | None:
        self._flush()
        row = self._conn.execute(
            "SELECT next_id, told, evaluations, state FROM snapshots ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        where = "snapshots (the last one)"
        for name, value in zip(("next_id", "told", "evaluations"), row[:3], strict=True):
            if not isinstance(value, int) or value < 0:
                raise JournalError(f"{self.path}: {where}.{name}: not a count ({value!r:.40})")
        state = _loads(row[3], self.path, f"{where}.state")
        if not isinstance(state, dict):
            raise JournalError(f"{self.path}: {where}.state: not a mapping")
        return Snapshot(row[0], row[1], row[2], state)

    def counts(self) -> dict[str, int]:
        """Individuals, evaluations by status, and events.

        ``ok`` and ``failed`` count evaluations actually run; ``cached`` counts every copy of an
        earlier individual's result (a copied failure too), so ``ok + failed`` is the evaluations
        spent.
        """
        self._flush()
        out = {"individuals": self._conn.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]}
        for status, n in self._conn.execute(
                "SELECT CASE WHEN source_id IS NULL THEN status ELSE 'cached' END AS s, COUNT(*) "
                "FROM evaluations GROUP BY s"):
            out[status] = n
        for key in ("ok", "failed", "cached"):
            out.setdefault(key, 0)
        out["events"] = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return out

    def evaluated_ids(self) -> set[int]:
        """The ids of the individuals that have an evaluation row."""
        self._flush()
        return {row[0] for row in self._conn.execute("SELECT individual_id FROM evaluations")}

    def state(self) -> str | None:
        """The kind of the last ``completed`` or ``stopped`` event, None when there is none."""
        row = self._conn.execute(
            "SELECT kind FROM events WHERE kind IN ('completed', 'stopped') "
            "ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def events(self, kind: str | None = None) -> list[tuple[int, str, int | None, Any]]:
        """Committed events in order as ``(seq, kind, individual_id, data)``."""
        query = "SELECT seq, kind, individual_id, data FROM events"
        args: tuple = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        return [(s, k, i, None if d is None else _loads(d, self.path, f"events[{s}].data"))
                for s, k, i, d in self._conn.execute(query + " ORDER BY seq", args)]


def safe_write_text(run_dir: Path, name: str, text: str) -> Path:
    """Write ``run_dir / name`` without ever following a symbolic link out of the folder.

    The text goes to a new temporary file in ``run_dir`` (created exclusively, never through a
    link) that is then renamed over ``name``; a ``name`` that is a symbolic link is refused
    rather than replaced.

    Raises:
        JournalError: when ``run_dir / name`` is a symbolic link or cannot be written.
    """
    path = Path(run_dir) / name
    if path.is_symlink():
        raise JournalError(f"{path}: is a symbolic link; refusing to write through it")
    tmp = path.with_name(f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise JournalError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


# ------------------------------------------------------------------ opening and checking
#: Files SQLite keeps next to the journal (WAL mode, and a rollback journal).
_SIDE_FILES = ("-wal", "-shm", "-journal")
_INDIVIDUAL_SELECT = "SELECT id, genome, hash, parents, operator, generation FROM individuals"
_EVALUATION_SELECT = ("SELECT individual_id, status, fitness, metrics, error, worker, seconds, "
                      "source_id FROM evaluations")


def _check_writable(path: Path) -> None:
    """Refuse to write a journal that is a symbolic link, or without write access."""
    if path.is_symlink():
        raise JournalError(f"{path}: is a symbolic link; evonas writes only to a journal that "
                           "is a file of the run folder")
    for target, what in ((path, "the journal"), (path.parent, "its folder")):
        if not os.access(target, os.W_OK):
            raise JournalError(f"{path}: read-only (no write access to {what}); reading works "
                               "(status, best, lineage, report), but a resume must write")


def _read_uris(path: Path) -> list[str]:
    """SQLite URIs to try, in order, for a read-only connection to ``path``.

    ``mode=ro`` sees what a running campaign has committed (its WAL); it needs to create the
    ``-shm`` file, which fails without write access to the folder. ``immutable=1`` reads the file
    as it is and touches nothing else: used when there is no ``-wal`` (no campaign writing) and
    the folder is not writable, when the journal is a symbolic link (so nothing is created next to
    its target), or as the fallback when ``mode=ro`` fails.
    """
    uri = path.resolve().as_uri()
    ro, immutable = f"{uri}?mode=ro", f"{uri}?mode=ro&immutable=1"
    has_wal = path.with_name(path.name + "-wal").exists()
    if path.is_symlink() or (not has_wal and not os.access(path.parent, os.W_OK)):
        return [immutable]
    return [ro, immutable]


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` that has read the schema (see :func:`_read_uris`)."""
    first: Exception | None = None
    for uri in _read_uris(path):
        conn = None
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.text_factory = _text
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA trusted_schema=OFF")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except SQLITE_ERRORS as exc:
            if conn is not None:
                conn.close()
            first = first or exc
    raise JournalError(f"{path}: not a readable evonas journal ({one_line(first)})")






def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")


def _text(data: bytes) -> str:
    """Text columns as str; bytes that are not UTF-8 (a damaged file) read as U+FFFD."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")




def _loads(text: Any, path: Path, where: str) -> Any:
    """JSON text from the journal, or :class:`JournalError` naming ``where``."""
    if not isinstance(text, str):
        raise JournalError(f"{path}: {where}: not JSON text ({type(text).__name__})")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise JournalError(f"{path}: {where}: not valid JSON ({one_line(exc, 80)})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _individual(row: tuple, path: Path) -> IndividualRow:
    where = f"individuals[{row[0]}]"
    genome = _loads(row[1], path, f"{where}.genome")
    parents = _loads(row[3], path, f"{where}.parents")
    operator = _loads(row[4], path, f"{where}.operator")
    if not isinstance(genome, dict):
        raise JournalError(f"{path}: {where}.genome: not a mapping")
    if not isinstance(parents, list) or not all(
            type(p) is int and 0 <= p < row[0] for p in parents):
        raise JournalError(f"{path}: {where}.parents: not a list of ids of earlier individuals")
    if not isinstance(operator, dict):
        raise JournalError(f"{path}: {where}.operator: not a mapping")
    if not isinstance(row[2], str):
        raise JournalError(f"{path}: {where}.hash: not text")
    if row[5] is not None and type(row[5]) is not int:
        raise JournalError(f"{path}: {where}.generation: not an integer or null")
    return IndividualRow(row[0], genome, row[2], tuple(parents), operator, row[5])


def _number(value: Any, path: Path, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise JournalError(f"{path}: {where}: not a finite number or null ({value!r:.40})")
    return float(value)


def _evaluation(row: tuple, path: Path) -> EvaluationRow:
    where = f"evaluations[{row[0]}]"
    if row[1] not in STATUS_VALUES:
        raise JournalError(f"{path}: {where}.status: not ok, failed or cached")
    metrics = _loads(row[3], path, f"{where}.metrics")
    if not isinstance(metrics, dict):
        raise JournalError(f"{path}: {where}.metrics: not a mapping")
    for name, value in ((".error", row[4]), (".worker", row[5])):
        if value is not None and not isinstance(value, str):
            raise JournalError(f"{path}: {where}{name}: not text or null")
    if row[7] is not None and type(row[7]) is not int:
        raise JournalError(f"{path}: {where}.source_id: not an integer or null")
    return EvaluationRow(row[0], Status(row[1]), _number(row[2], path, f"{where}.fitness"),
                         metrics, row[4], row[5], _number(row[6], path, f"{where}.seconds"),
                         row[7])
