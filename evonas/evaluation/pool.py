"""A local pool of persistent worker processes (``multiprocess``, spawn start method).

Each worker builds the task once from its JSON config and keeps its dataset loaded. The parent
holds at most one job per worker, so it always knows which job a worker is running; jobs
submitted beyond the pool's capacity wait in the parent until a worker is free.

Each worker has its own duplex pipe to the parent (jobs in, messages out) rather than a share of one
result queue: a process killed while writing to a shared queue would leave the queue's write lock
held and stall every other worker. The parent waits on all pipes and all process sentinels at
once (:func:`multiprocess.connection.wait`), so it sees a result or a death as soon as it happens.

Faults cost one failed result each, never the pool:

1. An exception in the evaluation: the worker reports it (``"RuntimeError: ..."``, ``"nan loss"``)
   and carries on; such a job is not retried. Out of memory is retried once in the worker at half
   the batch (see :mod:`evonas.evaluation.execute`), then fails as ``"infeasible: ..."``.
2. A worker process that dies (``os._exit``, a segfault, the OOM killer), reason
   ``"worker died (exit code N)"``, or
3. a job running longer than ``timeout`` seconds (counted from when the worker starts it: when
   the job is handed to the idle, ready worker, which is waiting on its pipe and starts it at
   once, or, for a job handed to a worker still building its task, when the worker reports
   ready; the worker is killed), reason ``"timeout after Xs"``: a fresh worker takes the dead
   one's place and
   runs the job again, up to ``max_crashes`` attempts in all. A job that crashes that many times
   is quarantined: it fails with ``"quarantined after N crashes: <last reason>"``. The seconds of
   every attempt count in the result's ``seconds``.

Every submitted job yields exactly one result, whatever happens. With ``max_tasks_per_worker``
set, a worker is retired (told to stop, and given a grace period to exit) after that many
evaluations and a fresh one takes its place, which bounds what a leaking task can accumulate.

Jobs and results cross the pipes as small JSON records (``send_bytes``, read back with one
``os.read`` for every message waiting, see :mod:`evonas.evaluation.worker`), not as pickled
objects: one C-speed encode and decode per message, and a single message per job each way, which
is what lets one parent keep thousands of evaluations a second flowing. The parent's bookkeeping
per evaluation does not grow with the pool: idle workers wait in a free list (a job goes to the
one idle longest), the busy count is kept as jobs come and go, and the poll object that watches
the pipes is rebuilt only when a worker is replaced or its pipe breaks. A job whose genome is not
JSON-able fails as ``"genome is not JSON: ..."`` without reaching a worker.

A task config the workers cannot build is no per-job fault: :meth:`LocalPoolEvaluator.poll`
raises its :class:`~evonas.tasks.TaskError` (every job would fail the same way), and a worker that
dies three times in a row before it is ready raises :class:`WorkerStartupError`.

With a device memory capacity known (``device_memory`` given, or CUDA devices), dispatch is
memory-aware: each job's peak memory is estimated from its shapes and the job goes only to a
device it fits on, or fails at once as infeasible (see :mod:`evonas.evaluation.dispatch`).
Otherwise the parent never imports torch.

Workers ignore SIGINT (the parent decides when to stop), are daemonic (terminated when the parent
exits) and exit on their own when the parent process disappears, so none is left orphaned.
"""

from __future__ import annotations

import math
import os
import select
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import multiprocess
from multiprocess.connection import wait as wait_for_objects

from evonas.evaluation.base import EvalJob, EvalResult, evaluation_seconds
from evonas.evaluation.devices import WorkerDevice, patched_environ, plan_devices
from evonas.evaluation.dispatch import (
    Estimator,
    MemoryDispatcher,
    device_capacities,
    memory_dispatch_wanted,
    task_estimator,
)
from evonas.evaluation.memory import DEFAULT_SAFETY_FACTOR, parse_bytes
from evonas.evaluation.slots import SlotEvaluator
from evonas.evaluation.worker import (
    DIRECT_READS,
    READ_CHUNK,
    STOP,
    FrameReader,
    decode_message,
    encode_job,
    send_all,
    worker_main,
)
from evonas.tasks.errors import TaskError

#: Seconds ``close()`` waits for idle workers to exit after the stop sentinel.
CLOSE_GRACE_SECONDS = 5.0
#: A slot whose worker dies this many times in a row before becoming ready is given up.
MAX_STARTUP_FAILURES = 3
#: ``select.poll`` where the platform has it (not on Windows).
_POLL = getattr(select, "poll", None)


class WorkerStartupError(RuntimeError):
    """A worker cannot start: it keeps dying before it is ready, or cannot build the task."""


@dataclass
class _Slot:
    """One worker position in the pool; its process is replaced when it dies."""

    index: int
    device: WorkerDevice
    process: Any = None
    conn: Any = None
    broken: bool = False
    ready: bool = False
    startup_failures: int = 0
    job: EvalJob | None = None
    dispatched_at: float = 0.0
    started_at: float | None = None
    retry: EvalJob | None = None  # a crashed job waiting for this slot's fresh worker
    tasks_done: int = 0  # evaluations finished by the current process
    fd: int = -1  # ``conn``'s file descriptor
    listed: bool = False  # in the pool's free list (checked again when taken from it)
    reader: FrameReader = field(default_factory=FrameReader)  # bytes read from ``conn``

    @property
    def name(self) -> str:
        return f"worker-{self.index} ({self.device.label})"


class LocalPoolEvaluator(SlotEvaluator):
    """Evaluate jobs in ``workers`` persistent spawned processes.

    Args:
        task_config: the ``task:`` mapping (JSON-able); each worker builds the task from it.
        space_config: the ``space:`` mapping (JSON-able).
        workers: number of worker processes (the capacity); ignored when ``workers_per_device``
            is given.
        timeout: seconds a job may run before its worker is killed (None: no limit).
        devices: devices shared out round-robin (default: every visible GPU, else CPU slots).
        threads_per_worker: torch threads of each worker (default: usable cores // workers).
        max_crashes: attempts a job gets when its worker dies or hangs, before quarantine.
        max_tasks_per_worker: evaluations after which a worker is replaced (None: never).
        workers_per_device: start this many workers on each device (``workers`` becomes
            ``len(devices) * workers_per_device``); None: ``workers`` round-robin.
        device_memory: memory budget per device for the evaluations running on it together
            (bytes, or a size such as ``"8GiB"``); None: the CUDA devices' own, and no
            memory-aware dispatch on CPU.
        memory_safety_factor: multiplies every memory estimate.
        memory_estimator: a job's estimated peak memory in bytes, instead of estimating it from
            the task (for tests and custom tasks); used only when dispatch is memory-aware.
    """

    slot_kind = "workers"

    def __init__(self, task_config: dict[str, Any], space_config: dict[str, Any], workers: int,
                 timeout: float | None = None, devices: list[str] | None = None,
                 threads_per_worker: int | None = None, max_crashes: int = 2,
                 max_tasks_per_worker: int | None = None, workers_per_device: int | None = None,
                 device_memory: int | str | None = None,
                 memory_safety_factor: float = DEFAULT_SAFETY_FACTOR,
                 memory_estimator: Estimator | None = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout: must be positive seconds or None, got {timeout}")
        if max_crashes < 1:
            raise ValueError(f"max_crashes: must be 1 or more, got {max_crashes}")
        if max_tasks_per_worker is not None and max_tasks_per_worker < 1:
            raise ValueError(f"max_tasks_per_worker: must be 1 or more or None, "
                             f"got {max_tasks_per_worker}")
        super().__init__()
        self.task_config = dict(task_config)
        self.space_config = dict(space_config)
        self.timeout = timeout
        self.max_crashes = max_crashes
        self.max_tasks_per_worker = max_tasks_per_worker
        self._attempts: dict[int, tuple[int, float]] = {}  # job id -> (crashes, seconds spent)
        self._retiring: list[tuple[Any, Any, float]] = []  # (process, pipe, kill deadline)
        self._ctx = multiprocess.get_context("spawn")
        self._poller: Any = None  # kept across waits until _watch_version moves on
        self._poller_version = -1  # the _watch_version it was built for
        self._watch_version = 0  # bumped when a worker's process or pipe changes or breaks
        self._poll_fds: dict[int, tuple[_Slot, bool]] = {}
        self._free: deque[_Slot] = deque()  # slots that may be idle, longest idle first
        self._running = 0  # slots holding a job
        self._pinned = 0  # slots holding a crashed job for their fresh worker
        memory = None if device_memory is None else parse_bytes(device_memory)
        plan = plan_devices(workers, devices, threads=threads_per_worker,
                            workers_per_device=workers_per_device)
        self._slots = [_Slot(i, device) for i, device in enumerate(plan)]
        self._memory: MemoryDispatcher | None = None
        try:
            for slot in self._slots:
                self._start(slot)
            labels = [slot.device.label for slot in self._slots]
            if memory_dispatch_wanted(labels, memory):  # while the workers start
                self._memory = self._memory_dispatcher(labels, memory, memory_safety_factor,
                                                       memory_estimator)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ Evaluator API
    def _admit(self, job: EvalJob) -> bool:
        if self._memory is not None:
            error = self._memory.admit(job)
            if error is not None:  # no device could ever hold it: no worker runs it
                self._done.append(EvalResult.failed(job, error, "", 0.0))
                return False
        return True

    def _busy(self) -> int:
        return self._running + self._pinned

    @property
    def waiting(self) -> int:
        """Jobs queued in the parent, not yet given to a worker."""
        return len(self._pending)

    @property
    def memory_aware(self) -> bool:
        """Whether jobs are dispatched by their estimated memory (a capacity is known)."""
        return self._memory is not None

    @property
    def worker_names(self) -> list[str]:
        """Names of the workers, as results report them."""
        return [slot.name for slot in self._slots]

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (they change when a worker is replaced)."""
        return [slot.process.pid for slot in self._slots]

    def close(self) -> None:
        """Stop every worker: idle ones get a stop message, busy or starting ones are terminated.

        Jobs still in flight are dropped. Safe to call more than once.
        """
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._attempts.clear()
        for slot in self._slots:
            self._pin(slot, None)
            if slot.process is None:
                continue
            if slot.ready and slot.job is None and not slot.broken and slot.process.is_alive():
                try:
                    slot.conn.send_bytes(STOP)
                except OSError:
                    slot.process.terminate()
            else:
                slot.process.terminate()
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        for slot in self._slots:
            if slot.process is not None:
                _stop_process(slot.process, max(0.0, deadline - time.monotonic()))
                slot.conn.close()
                self._hold(slot, None)
        for process, conn, _ in self._retiring:
            _stop_process(process, max(0.0, deadline - time.monotonic()))
            conn.close()
        self._retiring.clear()
        self._done.clear()

    # ------------------------------------------------------------------ internals
    def _hold(self, slot: _Slot, job: EvalJob | None) -> None:
        """Give ``slot`` its job (None: it has none; it joins the free list)."""
        if (slot.job is None) != (job is None):
            self._running += 1 if job is not None else -1
        slot.job = job
        if job is None:
            self._list_free(slot)

    def _pin(self, slot: _Slot, job: EvalJob | None) -> None:
        """Pin a crashed job to ``slot``'s fresh worker (None: unpin)."""
        if (slot.retry is None) != (job is None):
            self._pinned += 1 if job is not None else -1
        slot.retry = job

    def _list_free(self, slot: _Slot) -> None:
        """Put ``slot`` at the end of the free list if it can take a job and is not there."""
        if not slot.listed and slot.job is None and slot.retry is None and not slot.broken:
            slot.listed = True
            self._free.append(slot)

    def _break(self, slot: _Slot) -> None:
        """Mark ``slot``'s pipe broken: no more reads or sends; its sentinel tells the rest."""
        slot.broken = True
        self._watch_version += 1

    def _start(self, slot: _Slot) -> None:
        """Start a fresh worker process for ``slot``, with a fresh pipe."""
        slot.ready = slot.broken = False
        slot.started_at = None
        slot.tasks_done = 0
        slot.reader = FrameReader()
        self._watch_version += 1
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        spec = {
            "name": slot.name,
            "device": slot.device.local,
            "threads": slot.device.threads,
            "task": self.task_config,
            "space": self.space_config,
            "parent_pid": os.getpid(),
        }
        process = self._ctx.Process(target=worker_main, args=(spec, child_end),
                                    name=f"evonas-{slot.name}", daemon=True)
        with patched_environ(slot.device.env):  # inherited by the child at start
            process.start()
        child_end.close()  # the child holds its own copy; ours would hide its death (no EOF)
        slot.process, slot.conn, slot.fd = process, parent_end, parent_end.fileno()
        self._hold(slot, None)

    def _dispatch(self) -> None:
        """Retire used-up workers, then hand jobs to idle workers (one job per worker).

        A slot's pinned retry goes first (to its fresh worker), then the pending queue: to the
        worker idle longest (from the free list), or, with memory-aware dispatch or a retry
        pinned, to the first idle worker in slot order whose device the job fits.
        """
        if self._retiring:
            self._reap_retired()
        limit = self.max_tasks_per_worker
        if limit is not None:  # retired as soon as they are idle, work waiting or not
            for slot in self._slots:
                if slot.job is None and not slot.broken and slot.tasks_done >= limit:
                    self._retire(slot)
        if not self._pending and not self._pinned:
            return  # nothing to hand out (the common case: polled with every worker busy)
        if self._memory is not None or self._pinned:
            for slot in self._slots:
                if slot.job is not None or slot.broken:
                    continue
                job = self._next_job(slot)
                if job is not None:
                    self._send_job(slot, job)
            return
        pending, free = self._pending, self._free
        while pending and free:
            slot = free.popleft()
            slot.listed = False
            if slot.job is None and slot.retry is None and not slot.broken:
                self._send_job(slot, pending.popleft())

    def _send_job(self, slot: _Slot, job: EvalJob) -> None:
        """Send ``job`` to ``slot``'s worker; on failure the job goes back (or fails, when it
        cannot be encoded)."""
        try:
            text = _genome_json(job)
            payload = encode_job(job.individual_id, job.seed,
                                 job.genome if text is not None else job.genome_dict(), text,
                                 job.plan)
        except (TypeError, ValueError) as exc:  # a set or an object inside, a cycle
            self._fail_unsendable(job, f"genome is not JSON: {exc}")
            self._list_free(slot)
            return
        try:
            if DIRECT_READS:
                send_all(slot.fd, payload)
            else:
                slot.conn.send_bytes(payload)
        except OSError:  # the worker just died; its sentinel will trigger the replacement
            if job.individual_id in self._attempts:
                self._pin(slot, job)
            else:
                self._pending.appendleft(job)
            self._break(slot)
            return
        self._hold(slot, job)
        slot.dispatched_at = now = time.monotonic()
        # A ready worker holds no other job: it is waiting on its pipe and starts this one
        # at once. One still building its task starts it when it reports ready.
        slot.started_at = now if slot.ready else None

    def _fail_unsendable(self, job: EvalJob, error: str) -> None:
        """Fail ``job``, which cannot be encoded for a worker (no worker ever sees it)."""
        _, spent = self._attempts.pop(job.individual_id, (0, 0.0))
        if self._memory is not None:
            self._memory.forget(job.individual_id)
        self._done.append(EvalResult.failed(job, error, "", spent))

    def _next_job(self, slot: _Slot) -> EvalJob | None:
        """Take the job idle ``slot`` should start: its pinned retry, else the oldest pending
        job (with memory-aware dispatch: one that fits the slot's device now), else None."""
        if self._memory is None:
            if slot.retry is not None:
                job = slot.retry
                self._pin(slot, None)
                return job
            return self._pending.popleft() if self._pending else None
        label = slot.device.label
        running = [other.job for other in self._slots
                   if other.job is not None and other.device.label == label]
        if slot.retry is not None:
            if not self._memory.fits(slot.retry, label, running):
                return None  # it waits for memory on its own worker's device
            job = slot.retry
            self._pin(slot, None)
            return job
        return self._memory.take(self._pending, label, running)

    def _memory_dispatcher(self, labels: list[str], device_memory: int | None,
                           safety_factor: float,
                           estimator: Estimator | None) -> MemoryDispatcher:
        """Build the memory-aware dispatcher (builds the task here, unless given an estimator)."""
        resident = 0
        if estimator is None:
            estimator, resident = task_estimator(self.task_config, self.space_config,
                                                 safety_factor)
        capacities = device_capacities(labels, device_memory, resident)
        return MemoryDispatcher(capacities, estimator, max_overtakes=len(labels))

    def _job_start_times(self) -> list[float]:
        return [slot.started_at for slot in self._slots
                if slot.job is not None and slot.started_at is not None]

    def _wait(self, seconds: float) -> None:
        """Block up to ``seconds`` on every pipe and process sentinel; handle what is ready."""
        dead = []
        for slot, is_conn in self._ready(seconds):
            if is_conn:
                self._read(slot, ready=True)
            else:
                dead.append(slot)
        for slot in dead:
            self._read(slot)  # what it sent before dying is in the pipe
            slot.process.join(timeout=1.0)
            self._replace(slot, f"worker died ({_describe_exit(slot.process.exitcode)})")
        if self._setup_error is not None:
            raise self._setup_error

    def _ready(self, seconds: float) -> list[tuple[_Slot, bool]]:
        """Wait up to ``seconds`` for a readable pipe or a dead process: ``(slot, is_pipe)`` each.

        A broken pipe is not watched (it would read as ready forever); its process's sentinel
        tells when the worker is gone. With :func:`select.poll`, one poll object is kept until a
        worker is replaced or its pipe breaks (a wait then costs one system call); otherwise
        :func:`multiprocess.connection.wait` builds its selector every call.
        """
        if _POLL is None:
            owners: dict[Any, tuple[_Slot, bool]] = {}
            for slot in self._slots:
                owners[slot.process.sentinel] = (slot, False)
                if not slot.broken:
                    owners[slot.conn] = (slot, True)
            return [owners[ready] for ready in wait_for_objects(list(owners), timeout=seconds)]
        if self._poller_version != self._watch_version:
            self._poller = _POLL()
            self._poll_fds = {}
            for slot in self._slots:
                self._poller.register(slot.process.sentinel, select.POLLIN)
                self._poll_fds[slot.process.sentinel] = (slot, False)
                if not slot.broken:
                    self._poller.register(slot.fd, select.POLLIN)
                    self._poll_fds[slot.fd] = (slot, True)
            self._poller_version = self._watch_version
        events = self._poller.poll(max(0, math.ceil(seconds * 1000)))
        return [self._poll_fds[fd] for fd, _ in events]

    def _read(self, slot: _Slot, ready: bool = False) -> None:
        """Handle every message waiting on ``slot``'s pipe (``ready``: the caller saw one)."""
        if not DIRECT_READS:
            self._read_messages(slot, ready)
            return
        fd = slot.fd
        while not slot.broken:
            if not ready and not _readable(fd):
                return
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:  # the worker is gone or going; its sentinel will tell
                chunk = b""
            if not chunk:  # end of file: the worker is gone
                self._break(slot)
                return
            for data in slot.reader.feed(chunk):
                self._handle(slot, decode_message(data))
            if ready and len(chunk) < READ_CHUNK:
                return  # the wait saw data and this read took all of it
            ready = False  # check before reading on: a read with nothing waiting would block

    def _read_messages(self, slot: _Slot, ready: bool) -> None:
        """:meth:`_read` with ``recv_bytes`` (platforms without :data:`DIRECT_READS`)."""
        conn = slot.conn
        while not slot.broken:
            try:
                if not ready and not conn.poll():
                    return
                ready = False
                message = decode_message(conn.recv_bytes())
            except (EOFError, OSError):  # the worker is gone or going; its sentinel will tell
                self._break(slot)
                return
            self._handle(slot, message)

    def _handle(self, slot: _Slot, message: list[Any]) -> None:
        """Act on one message from ``slot``'s worker."""
        kind = message[0]
        if kind == "result":
            _, job_id, status, metrics, error, worker, seconds = message
            job = slot.job
            if job is None or job.individual_id != job_id:
                return
            slot.started_at = None
            slot.tasks_done += 1
            if self._attempts:
                _, spent = self._attempts.pop(job_id, (0, 0.0))
                seconds = evaluation_seconds(seconds + spent)
            if self._memory is not None:
                self._memory.forget(job_id)
            self._done.append(EvalResult(job_id, status, metrics, error, worker, seconds))
            self._hold(slot, None)
        elif kind == "ready":
            slot.ready = True
            slot.startup_failures = 0
            if slot.job is not None and slot.started_at is None:
                slot.started_at = time.monotonic()  # it starts its job now
            payload = message[1]
            if payload is not None and self._setup_error is None:
                self._setup_error = _setup_failure(slot, *payload)

    def _check_timeouts(self) -> None:
        """Kill workers whose job has run past the timeout, failing the job."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for slot in self._slots:
            if (slot.job is not None and slot.started_at is not None
                    and now - slot.started_at > self.timeout):
                slot.process.kill()
                slot.process.join(timeout=1.0)
                self._read(slot)  # it may have finished just before the kill
                self._replace(slot, f"timeout after {self.timeout:g}s")

    def _replace(self, slot: _Slot, reason: str) -> None:
        """Count a crash (``reason``) of the job ``slot`` holds and start a fresh worker.

        The job goes to the fresh worker for another attempt, or, on its ``max_crashes``-th
        crash, fails as quarantined. A worker that dies before it is ready never started its job
        (it reads jobs only once the task is built), so that job is queued again uncounted.
        """
        if not slot.ready:
            if slot.job is not None:
                if slot.job.individual_id in self._attempts:
                    self._pin(slot, slot.job)
                else:
                    self._pending.appendleft(slot.job)
                self._hold(slot, None)
            slot.startup_failures += 1
            if slot.startup_failures >= MAX_STARTUP_FAILURES:
                raise WorkerStartupError(
                    f"{slot.name} died {slot.startup_failures} times before it was ready "
                    f"(last: {reason}); check that the task can be built in a fresh process")
        elif slot.job is not None:
            job = slot.job
            self._hold(slot, None)
            crashes, spent = self._attempts.pop(job.individual_id, (0, 0.0))
            crashes += 1
            spent += time.monotonic() - (slot.started_at or slot.dispatched_at)
            if crashes < self.max_crashes:
                self._attempts[job.individual_id] = (crashes, spent)
                self._pin(slot, job)
            else:
                error = f"quarantined after {crashes} crash{'es' if crashes > 1 else ''}: {reason}"
                if self._memory is not None:
                    self._memory.forget(job.individual_id)
                self._done.append(EvalResult.failed(job, error, slot.name, spent))
        if slot.process.is_alive():
            _stop_process(slot.process, 0.0)
        slot.conn.close()
        self._start(slot)

    def _retire(self, slot: _Slot) -> None:
        """Tell ``slot``'s idle worker to stop and start a fresh one; reaped later."""
        try:
            slot.conn.send_bytes(STOP)
        except OSError:
            slot.process.terminate()
        self._retiring.append((slot.process, slot.conn, time.monotonic() + CLOSE_GRACE_SECONDS))
        self._start(slot)

    def _reap_retired(self) -> None:
        """Join retired workers that have exited; kill those past their grace period."""
        still = []
        for process, conn, deadline in self._retiring:
            if process.is_alive() and time.monotonic() < deadline:
                still.append((process, conn, deadline))
                continue
            _stop_process(process, 0.0)
            conn.close()
        self._retiring = still


def _genome_json(job: EvalJob) -> str | None:
    """The compact JSON text of the job's genome when the submitter gave the genome object and
    it holds that text already (a checked DAG or CPPN genome: the campaign journaled it), else
    None."""
    cache = getattr(job.parsed, "__dict__", None)
    if cache is None or not cache.get("_valid"):
        return None
    text = cache.get("_json")
    return text if isinstance(text, str) else None


def _readable(fd: int) -> bool:
    """Whether a read of ``fd`` would not block (data or end of file waiting); with
    :func:`select.poll`, which takes any descriptor number (``select`` stops at 1024)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _setup_failure(slot: _Slot, type_name: str, message: str) -> Exception:
    """The exception to raise for a worker that could not build its task."""
    if type_name == TaskError.__name__:
        return TaskError(message)  # a config error: the message names the field
    return WorkerStartupError(f"{slot.name}: task setup failed: {type_name}: {message}")


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"exit code {exitcode}, {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"exit code {exitcode}"


def _stop_process(process: Any, grace: float) -> None:
    """Join ``process`` for ``grace`` seconds, then terminate, then kill."""
    if grace > 0:
        process.join(timeout=grace)
    if process.is_alive():
        process.terminate()
        process.join(timeout=1.0)
    if process.is_alive():
        process.kill()
        process.join(timeout=1.0)
