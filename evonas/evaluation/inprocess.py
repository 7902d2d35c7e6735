"""The in-process evaluator (``workers: 0``): jobs run one at a time in the caller's process.

Useful for debugging (breakpoints and tracebacks work) and for tasks so cheap that a process pool
would only add overhead, such as table lookups. It cannot enforce a timeout or survive a crash of
the evaluation: those need :class:`~evonas.evaluation.pool.LocalPoolEvaluator`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from evonas.evaluation.base import EvalJob, EvalResult, Evaluator
from evonas.evaluation.execute import run_job
from evonas.tasks import Task, build_task
from genomes import SearchSpace, space_from_dict


class InProcessEvaluator(Evaluator):
    """Evaluate jobs in this process, one per :meth:`poll` call, in submission order.

    Args:
        task: the task, or its ``task:`` config mapping.
        space: the search space, or its ``space:`` config mapping.
        device: the torch device to evaluate on.
    """

    def __init__(self, task: Task | dict[str, Any], space: SearchSpace | dict[str, Any],
                 device: str = "cpu") -> None:
        self.space = space_from_dict(space) if isinstance(space, dict) else space
        self.task = build_task(task, self.space) if isinstance(task, dict) else task
        self.device = device
        self.task.warm_up(device)  # one-off set-up is not the first evaluation's seconds
        self.worker = f"main ({device})"
        self._pending: deque[EvalJob] = deque()

    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it runs during the next :meth:`poll`."""
        self._pending.append(job)

    def poll(self, timeout: float | None = None) -> list[EvalResult]:
        """Run the oldest queued job and return its result (``timeout`` cannot interrupt it)."""
        if not self._pending:
            return []
        return [run_job(self.task, self.space, self._pending.popleft(), self.worker, self.device)]

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    returns_in_order = True

    @property
    def capacity(self) -> int:
        return 1

    def close(self) -> None:
        self._pending.clear()
