"""Run storage: the SQLite journal (see :mod:`evonas.storage.journal`)."""

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

__all__ = [
    "JOURNAL_FILE",
    "SCHEMA_VERSION",
    "EvaluationRow",
    "IndividualRow",
    "Journal",
    "JournalError",
    "Snapshot",
    "json_safe",
    "reading_journal",
    "safe_write_text",
]
