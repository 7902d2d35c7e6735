"""Run storage: the SQLite journal (see :mod:`evonas.storage.journal`)."""

from evonas.storage.journal import (
    JOURNAL_FILE,
    SCHEMA_VERSION,
    EvaluationRow,
    IndividualRow,
    Journal,
    JournalError,
    Snapshot,
)

__all__ = [
    "JOURNAL_FILE",
    "SCHEMA_VERSION",
    "EvaluationRow",
    "IndividualRow",
    "Journal",
    "JournalError",
    "Snapshot",
]
