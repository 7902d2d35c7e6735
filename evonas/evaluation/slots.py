"""The skeleton both slot-based evaluators share: the local pool and the Ray backend.

Each keeps a list of *slots* (a worker process or an actor, holding at most one job), a parent-side
queue of jobs waiting for a free slot and a list of finished results. This base class owns the
parts that do not depend on what a slot is: submitting, polling until a result or a deadline,
waiting for every slot to be ready, the in-flight count and how long to block. Subclasses say how
to hand jobs to slots (:meth:`_dispatch`), how to block on them (:meth:`_wait`) and how to enforce
the job timeout (:meth:`_check_timeouts`).
"""

from __future__ import annotations

import abc
import time
from collections import deque
from typing import Any

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator

#: Longest single wait before an evaluator re-checks its slots (a safety net; events wake it).
MAX_WAIT_SECONDS = 1.0


class SlotEvaluator(Evaluator):
    """An evaluator whose capacity is a list of slots, each running one job at a time.

    Subclasses set ``_slots`` (objects with ``ready``, ``job`` and ``name``), ``timeout`` and
    call ``super().__init__()`` first.
    """

    #: What a slot is called in messages (``workers``, ``actors``).
    slot_kind = "slots"

    def __init__(self) -> None:
        self.timeout: float | None = None
        self._slots: list[Any] = []
        self._pending: deque[EvalJob] = deque()
        self._done: list[EvalResult] = []
        self._setup_error: Exception | None = None
        self._closed = False

    # ------------------------------------------------------------------ Evaluator API
    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it goes to the first free, ready slot (at once if there is one)."""
        if self._closed:
            raise RuntimeError("submit: the evaluator is closed")
        if not isinstance(job, EvalJob):
            raise TypeError(f"submit: expected an EvalJob, got {type(job).__name__}")
        if self._admit(job):
            self._pending.append(job)
        self._dispatch()

    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        """Wait up to ``timeout`` seconds (None: no limit) for results; return all available.

        Raises:
            TaskError: when a slot could not build the task from its config (every job would
                fail the same way, so the evaluator stops the caller instead).
            WorkerStartupError: when a slot fails to start for another reason.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._dispatch()
            if self._done or not self.in_flight:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            self._wait(self._wait_seconds(now, deadline))
            self._check_timeouts()
        done, self._done = self._done, []
        return done

    @property
    def in_flight(self) -> int:
        return len(self._pending) + self._busy() + len(self._done)

    @property
    def capacity(self) -> int:
        return len(self._slots)

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Block until every slot has built its task; results meanwhile wait for :meth:`poll`.

        Raises:
            TimeoutError: when ``timeout`` seconds pass first (e.g. a cluster lacks resources).
            TaskError: when a slot could not build the task from its config.
            WorkerStartupError: when a slot fails to start for another reason.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not all(slot.ready for slot in self._slots):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                waiting = [slot.name for slot in self._slots if not slot.ready]
                raise TimeoutError(f"{self.slot_kind} not ready after {timeout}s: {waiting}")
            self._wait(self._wait_seconds(now, deadline))
            self._check_timeouts()
            self._dispatch()

    def __del__(self) -> None:
        try:  # noqa: SIM105 (contextlib may already be torn down at interpreter exit)
            self.close()
        except Exception:  # noqa: BLE001 (never raise from a finaliser)
            pass

    # ------------------------------------------------------------------ for subclasses
    def _admit(self, job: EvalJob) -> bool:
        """Whether ``job`` joins the queue (False: it already has its result). Default: yes."""
        return True

    def _busy(self) -> int:
        """Jobs held by slots (running, or waiting for a fresh worker to retry them)."""
        return sum(slot.job is not None for slot in self._slots)

    def _wait_seconds(self, now: float, deadline: float | None) -> float:
        """How long to block: until the deadline, the next job timeout, or the safety net."""
        limits = [MAX_WAIT_SECONDS]
        if deadline is not None:
            limits.append(deadline - now)
        if self.timeout is not None:
            limits += [started + self.timeout - now for started in self._job_start_times()]
        return max(0.0, min(limits))

    def _job_start_times(self) -> list[float]:
        """When each running job started, as :func:`time.monotonic` (for the timeout)."""
        return [slot.dispatched_at for slot in self._slots if slot.job is not None]

    @abc.abstractmethod
    def _dispatch(self) -> None:
        """Hand pending jobs to idle, ready slots."""

    @abc.abstractmethod
    def _wait(self, seconds: float) -> None:
        """Block up to ``seconds`` for slot events; handle every one that happened."""

    @abc.abstractmethod
    def _check_timeouts(self) -> None:
        """Fail the jobs that have run past ``timeout`` (and replace their slots)."""
