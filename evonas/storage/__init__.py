"""Run storage: the SQLite journal (see :mod:`evonas.storage.journal`), its read queries
(:mod:`evonas.storage.queries`) and the evaluation statuses (:class:`Status`). Nothing outside
this package reads the journal's tables: everyone else asks a :class:`Journal`."""

from evonas.storage.journal import (
    JOURNAL_FILE,
    SCHEMA_VERSION,
    EvaluationRow,
    IndividualRow,
    Journal,
    JournalError,
    Snapshot,
    json_safe,
    reading_journal,
    safe_write_text,
)
from evonas.storage.queries import LINEAGE_COLUMNS, JournalQueries
from evonas.storage.status import PENDING, Status

__all__ = [
    "JOURNAL_FILE",
    "LINEAGE_COLUMNS",
    "PENDING",
    "SCHEMA_VERSION",
    "EvaluationRow",
    "IndividualRow",
    "Journal",
    "JournalError",
    "JournalQueries",
    "Snapshot",
    "Status",
    "json_safe",
    "reading_journal",
    "safe_write_text",
]
