"""The outcome of an individual's evaluation, as the journal stores it."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """An evaluation's status. Members are ``str`` (``Status.OK == "ok"``), so JSON, SQLite and
    comparisons with the plain strings of older code keep working.

    * ``OK``: evaluated, with metrics and (usually) a fitness.
    * ``FAILED``: the evaluation failed; the journal keeps the reason.
    * ``CACHED``: a copy of an earlier individual's result (same canonical hash); it cost nothing.
    """

    OK = "ok"
    FAILED = "failed"
    CACHED = "cached"


#: The status lineage and run views give an individual that has no evaluation yet (never stored).
PENDING = "pending"
#: The stored statuses' values (for checks of rows read back).
STATUS_VALUES = frozenset(s.value for s in Status)
