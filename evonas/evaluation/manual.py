"""An evaluator whose evaluations someone else runs: the ask-and-tell :class:`~evonas.study.Study`.

The campaign submits jobs as usual; :meth:`ManualEvaluator.take` hands them out (to
``Study.ask``) and :meth:`ManualEvaluator.give` takes their results back (from ``Study.tell``),
which :meth:`~ManualEvaluator.poll` returns to the campaign. Every method is thread-safe: the
campaign runs in one thread, the user's loop in others.

:meth:`~ManualEvaluator.request_stop` halts the campaign without waiting for the evaluations out:
results already given back are returned first, then ``poll`` raises :class:`StudyStopped` (a
:class:`KeyboardInterrupt`, which the campaign handles as an interrupt: the journal is committed
and the run marked stopped, resumable; what was out is dispatched again on resume).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator

#: Longest ``poll`` wait while someone waits for the campaign to commit (see
#: :meth:`ManualEvaluator.hurrying`).
HURRY_SECONDS = 0.01


class StudyStopped(KeyboardInterrupt):  # noqa: N818 (an interrupt, named for what it does)
    """Raised by :meth:`ManualEvaluator.poll` once a stop is requested: the campaign stops as on
    an interrupt."""


class ManualEvaluator(Evaluator):
    """Jobs wait in a queue until taken; results arrive when given back.

    Args:
        capacity: how many jobs may be out at once (the campaign keeps that many submitted).
        worker: what the journal records as the worker of the results given back.

    Raises:
        ValueError: for a capacity below 1.
    """

    returns_in_order = False

    def __init__(self, capacity: int = 1, worker: str = "study") -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity: must be a positive integer, got {capacity!r}")
        self._capacity = capacity
        self.worker = worker
        self._cond = threading.Condition()
        self._jobs: deque[EvalJob] = deque()  # submitted, not taken
        self._out: dict[int, EvalJob] = {}  # taken, not given back
        self._results: list[EvalResult] = []  # given back, not polled
        self._in_flight = 0  # submitted, not returned by poll
        self._stop = False
        self._closed = False
        self._hurry = 0  # callers waiting for the campaign to come round its loop
        self._hurry_started = 0  # how many such waits began (wakes a poll waiting already)

    # ----------------------------------------------------------------- the campaign's side
    def submit(self, job: EvalJob) -> None:
        with self._cond:
            self._jobs.append(job)
            self._in_flight += 1
            self._cond.notify_all()

    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        """Wait for results given back (see :meth:`Evaluator.poll`).

        Raises:
            StudyStopped: once :meth:`request_stop` was called and no result is left to return.
        """
        with self._cond:
            if not self._results and not self._stop:
                if self._in_flight == 0:
                    return []
                if self._hurry:
                    timeout = HURRY_SECONDS if timeout is None else min(timeout, HURRY_SECONDS)
                started = self._hurry_started
                self._cond.wait_for(lambda: bool(self._results) or self._stop
                                    or self._hurry_started != started, timeout)
            out, self._results = self._results, []
            self._in_flight -= len(out)
            if not out and self._stop:
                raise StudyStopped("the study was closed")
            return out

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def capacity(self) -> int:
        return self._capacity

    def close(self) -> None:
        """The campaign has ended: :meth:`take` returns None from now on and :meth:`give`
        refuses (jobs out or not taken are dropped; a resume dispatches them again)."""
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._out.clear()
            self._cond.notify_all()

    # ----------------------------------------------------------------- the user's side
    def take(self, timeout: float | None = None) -> EvalJob | None:
        """The next job submitted, waiting up to ``timeout`` seconds (None: no limit).

        Returns:
            The job, or None once the evaluator is closed (the campaign ended).

        Raises:
            TimeoutError: when no job came within ``timeout``.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._jobs) or self._closed, timeout):
                raise TimeoutError(f"no trial was ready within {timeout:g}s")
            if self._closed:
                return None
            job = self._jobs.popleft()
            self._out[job.individual_id] = job
            return job

    def give(self, result: EvalResult) -> None:
        """Hand back the result of a job :meth:`take` handed out.

        Raises:
            KeyError: when no job of that id is out (never taken, given back already, or the
                evaluator closed since).
        """
        with self._cond:
            del self._out[result.individual_id]
            self._results.append(result)
            self._cond.notify_all()

    def is_out(self, individual_id: int) -> bool:
        """Whether the job of ``individual_id`` was taken and not given back."""
        with self._cond:
            return individual_id in self._out

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def request_stop(self) -> None:
        """Stop the campaign: :meth:`poll` returns what was given back, then raises
        :class:`StudyStopped`."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @contextlib.contextmanager
    def hurrying(self) -> Iterator[None]:
        """While inside, :meth:`poll` returns within :data:`HURRY_SECONDS`, so the campaign comes
        round its loop (and commits the journal) often: for a caller waiting to read what the
        campaign has written."""
        with self._cond:
            self._hurry += 1
            self._hurry_started += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._hurry -= 1
