"""Errors raised by tasks.

Two kinds, and the difference matters to the campaign:

* :class:`TaskError`: the task *configuration* is wrong (a bad key, a missing file). The campaign
  cannot run; it stops before any evaluation, and the message names the config field or file.
* :class:`EvaluationFailure`: one evaluation failed (a NaN loss, an architecture missing from a
  table). That individual gets a failed result with the short reason; the campaign goes on.
"""

from __future__ import annotations

from evonas.errors import TaskError  # an EvonasError, defined in the leaf; exported here as before


class EvaluationFailure(Exception):  # noqa: N818 (the name is part of the task contract)
    """One evaluation failed for a reason worth recording (``"nan loss"``).

    Attributes:
        reason: the short reason, stored as the evaluation's error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


__all__ = ["EvaluationFailure", "TaskError"]
