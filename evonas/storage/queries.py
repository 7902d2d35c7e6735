"""The journal's read queries for analysis: lineage, the report and comparisons.

:class:`JournalQueries` is a base of :class:`~evonas.storage.journal.Journal`; its methods are
the only SQL outside the journal's own reading and writing. They return plain tuples of the
stored values (parents and operator records as their compact JSON text, which lineage parses only
where a question needs it), so a journal of 100,000 individuals answers in one pass. Every query
sees the rows buffered so far (it flushes first) and, inside :meth:`consistent_read`, one moment
of a journal that a campaign may be writing meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from evonas.storage.status import PENDING, Status

#: Columns of a lineage row (:meth:`JournalQueries.lineage_rows`).
LINEAGE_COLUMNS = ("id", "parents", "operator", "status", "fitness", "hash", "generation")

_NODE_COLUMNS = (f"SELECT i.id, i.parents, i.operator, COALESCE(e.status, '{PENDING}'), "
                 "e.fitness, i.hash, i.generation FROM individuals i "
                 "LEFT JOIN evaluations e ON e.individual_id = i.id")
_ANCESTORS_CTE = """
WITH RECURSIVE anc(id) AS (
    SELECT ?
    UNION
    SELECT p.value FROM anc JOIN individuals a ON a.id = anc.id, json_each(a.parents) AS p
)"""
_ANCESTRY_SQL = f"{_ANCESTORS_CTE} {_NODE_COLUMNS} JOIN anc ON anc.id = i.id ORDER BY i.id"
_ANCESTOR_IDS_SQL = f"{_ANCESTORS_CTE} SELECT id FROM anc WHERE id != ? ORDER BY id"
#: The chain of first parents. Parents are born first (the journal's checks refuse a parent not
#: born before its child), and the query follows only such links, so it ends even on a journal
#: with a parent cycle.
_FIRST_PARENTS_SQL = """
WITH RECURSIVE up(id, depth) AS (
    SELECT ?, 0
    UNION ALL
    SELECT json_extract(a.parents, '$[0]'), up.depth + 1
    FROM up JOIN individuals a ON a.id = up.id
    WHERE a.parents != '[]' AND json_extract(a.parents, '$[0]') < up.id
)
SELECT id FROM up ORDER BY depth"""
#: Ids per ``IN (...)`` query (below SQLite's limit on bound parameters).
_CHUNK = 500


class JournalQueries:
    """Read queries of a journal (see the module docstring); mixed into ``Journal``."""

    path: Path
    _conn: sqlite3.Connection

    def _flush(self) -> None:  # the journal's: write buffered rows before reading
        raise NotImplementedError

    @contextmanager
    def consistent_read(self) -> Iterator[None]:
        """Read the journal as of one moment: every query inside sees the state committed when
        the first of them ran (a campaign may be writing meanwhile, WAL mode lets it). Nested
        uses, and a journal inside its own write transaction, read what is there."""
        self._flush()
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ lineage
    def has_individual(self, id: int) -> bool:  # noqa: A002
        self._flush()
        return self._conn.execute("SELECT 1 FROM individuals WHERE id = ?",
                                  (id,)).fetchone() is not None

    def lineage_rows(self) -> list[tuple]:
        """Every individual in birth order as ``(id, parents JSON, operator JSON, status,
        fitness, hash, generation)`` (:data:`LINEAGE_COLUMNS`); status ``pending`` while not
        evaluated, a ``cached`` copy's fitness its source's."""
        self._flush()
        return self._conn.execute(_NODE_COLUMNS + " ORDER BY i.id").fetchall()

    def lineage_row(self, id: int) -> tuple | None:  # noqa: A002
        """One individual's lineage row, None when there is no individual ``id``."""
        self._flush()
        return self._conn.execute(_NODE_COLUMNS + " WHERE i.id = ?", (id,)).fetchone()

    def ancestry_rows(self, id: int) -> list[tuple]:  # noqa: A002
        """Lineage rows of ``id`` and all its ancestors, by id (one recursive query; empty when
        there is no individual ``id``)."""
        self._flush()
        return self._conn.execute(_ANCESTRY_SQL, (id,)).fetchall()

    def ancestor_ids(self, id: int) -> list[int]:  # noqa: A002
        """Ids of every ancestor of ``id`` (parents, their parents...), ascending."""
        self._flush()
        return [row[0] for row in self._conn.execute(_ANCESTOR_IDS_SQL, (id, id))]

    def parent_links(self, after: int = -1) -> Iterator[tuple[int, int]]:
        """``(child, parent)`` of every child born after ``after``, by child id."""
        self._flush()
        yield from self._conn.execute(
            "SELECT i.id, p.value FROM individuals i, json_each(i.parents) AS p "
            "WHERE i.id > ? ORDER BY i.id", (after,))

    def first_parent_chain(self, id: int) -> list[int]:  # noqa: A002
        """``id``, its first parent, that one's first parent... back to a root."""
        self._flush()
        return [row[0] for row in self._conn.execute(_FIRST_PARENTS_SQL, (id,))]

    def operator_rows(self) -> Iterator[tuple[int, str, str, str, float | None]]:
        """``(id, operator JSON, parents JSON, status, fitness)`` of every individual in birth
        order (status ``pending`` while not evaluated)."""
        self._flush()
        yield from self._conn.execute(
            f"SELECT i.id, i.operator, i.parents, COALESCE(e.status, '{PENDING}'), e.fitness "
            "FROM individuals i LEFT JOIN evaluations e ON e.individual_id = i.id ORDER BY i.id")

    def hash_rows(self) -> list[tuple[int, str, int | None]]:
        """``(id, canonical hash, generation)`` of every individual in birth order."""
        self._flush()
        return self._conn.execute(
            "SELECT id, hash, generation FROM individuals ORDER BY id").fetchall()

    def genome_texts(self, ids: Sequence[int] | None = None) -> dict[int, str]:
        """Individual id -> its genome's JSON text, for ``ids`` (None: every individual)."""
        self._flush()
        if ids is None:
            return dict(self._conn.execute("SELECT id, genome FROM individuals"))
        out: dict[int, str] = {}
        ids = list(ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            out.update(self._conn.execute(
                f"SELECT id, genome FROM individuals WHERE id IN ({marks})", chunk))
        return out

    # ------------------------------------------------------------------ report
    def metric_rows(self, metrics: Sequence[str], status: Status = Status.OK) -> list[tuple]:
        """``(id, value, ...)`` of every evaluation with ``status``, by id: one value per name of
        ``metrics`` as stored (``fitness``: the fitness column; a metric the result lacks:
        None)."""
        self._flush()
        columns = ", ".join("e.fitness" if m == "fitness" else "json_extract(e.metrics, ?)"
                            for m in metrics)
        args = ['$."' + m.replace('"', '\\"') + '"' for m in metrics if m != "fitness"]
        select = "SELECT e.individual_id" + (f", {columns}" if columns else "")
        return self._conn.execute(
            f"{select} FROM evaluations e WHERE e.status = ? ORDER BY e.individual_id",
            [*args, str(status)]).fetchall()

    def failure_count(self) -> int:
        """Evaluations that failed (copies of a failure are ``cached``, not counted)."""
        self._flush()
        return self._conn.execute("SELECT COUNT(*) FROM evaluations WHERE status = ?",
                                  (str(Status.FAILED),)).fetchone()[0]

    def failures(self, limit: int | None = None) -> list[tuple]:
        """``(id, operator name, error, worker, seconds)`` of failed evaluations, by id (the
        first ``limit``; operator ``?`` when its record has no ``op``)."""
        self._flush()
        return self._conn.execute(
            "SELECT e.individual_id, COALESCE(json_extract(i.operator, '$.op'), '?'), e.error, "
            "e.worker, e.seconds FROM evaluations e JOIN individuals i ON i.id = e.individual_id "
            "WHERE e.status = ? ORDER BY e.individual_id LIMIT ?",
            (str(Status.FAILED), -1 if limit is None else limit)).fetchall()
