"""The journal's schema: its version, its tables and their columns (see
:mod:`evonas.storage.journal` for what each table holds)."""

from __future__ import annotations

SCHEMA_VERSION = 1
JOURNAL_FILE = "journal.sqlite"

#: The statements that create a new journal.
SCHEMA = """
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

#: Every table of the schema and its columns, in order.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "individuals": ("id", "genome", "hash", "parents", "operator", "generation", "created_at"),
    "evaluations": ("individual_id", "status", "fitness", "metrics", "error", "worker",
                    "seconds", "source_id", "finished_at"),
    "events": ("seq", "kind", "individual_id", "data", "at"),
    "snapshots": ("seq", "next_id", "told", "evaluations", "state", "at"),
}
