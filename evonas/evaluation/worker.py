"""The pool worker process: build the task once, then evaluate jobs until told to stop.

This module is the spawn target of :class:`~evonas.evaluation.pool.LocalPoolEvaluator`. It imports
only the standard library at module level: torch (and everything that imports it) is imported
inside :func:`worker_main`, by the task, in a process whose environment (``CUDA_VISIBLE_DEVICES``,
``OMP_NUM_THREADS``) the parent set before starting it; the torch thread count is applied before
the first evaluation.

The worker talks to the parent over its own duplex pipe, in JSON records sent with
``send_bytes`` (no pickle: one C-speed encode and decode per message). It receives
``[individual_id, seed, genome]``, or ``[individual_id, seed, genome, plan]`` (:func:`encode_job`;
``null``, :data:`STOP`, means stop) and sends one of:

* ``["ready", null]``: the task is built; ``["ready", [exception type name, message]]``: it
  could not be built (the parent raises; jobs sent anyway fail with that reason);
* ``["result", individual_id, status, metrics, error, worker, seconds]``: a job finished.

There is no per-job "started" message: the worker holds one job at a time, so a job handed to a
ready worker starts as soon as it arrives (the parent starts its timeout clock then), and a job
handed to a worker still building its task starts when ``ready`` is sent.

Sends are synchronous (no feeder thread), so a message sent before the process dies is delivered.
Both sides read their pipe with :class:`FrameReader` where the platform has :func:`select.poll`
(POSIX): one ``os.read`` takes every message waiting (the framing of ``send_bytes``: a 4-byte
big-endian length, or ``-1`` and an 8-byte one), instead of two reads and a buffer object per
message as ``recv_bytes`` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import sys
import threading
import time
from typing import Any

#: How often the worker checks that its parent is still alive, in seconds.
PARENT_CHECK_SECONDS = 1.0
#: The message that tells a worker to stop.
STOP = b"null"

_encode = json.JSONEncoder(separators=(",", ":")).encode
#: Bytes one ``os.read`` of a pipe asks for (a Linux pipe or socket buffer holds about this much).
READ_CHUNK = 1 << 16
#: Whether :class:`FrameReader` can read pipes here (POSIX file descriptors; not Windows).
DIRECT_READS = hasattr(select, "poll")
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")


class FrameReader:
    """Splits the bytes read from a :mod:`multiprocess` pipe into its messages.

    ``send_bytes`` frames a message as a 4-byte big-endian signed length (``-1`` for a long
    one, followed by an 8-byte unsigned length) and the payload. Feed whatever ``os.read``
    returned; get back every message now complete (a partial one waits for the next feed).
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Append ``chunk``; return the complete messages, oldest first."""
        buffer = self._buffer
        if not buffer and len(chunk) >= 4:  # the usual case: whole messages in one read
            (size,) = _LENGTH.unpack_from(chunk)
            if size >= 0 and len(chunk) == size + 4:
                return [chunk[4:]]
        buffer += chunk
        out = []
        pos, end = 0, len(buffer)
        while end - pos >= 4:
            (size,) = _LENGTH.unpack_from(buffer, pos)
            start = pos + 4
            if size == -1:
                if end - start < 8:
                    break
                (size,) = _LONG_LENGTH.unpack_from(buffer, start)
                start += 8
            if end - start < size:
                break
            out.append(bytes(buffer[start:start + size]))
            pos = start + size
        del buffer[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of a message not yet complete."""
        return len(self._buffer)


def encode_job(individual_id: int, seed: int, genome: Any, genome_json: str | None = None,
               plan: dict[str, Any] | None = None) -> bytes:
    """A job as the worker receives it. Raises TypeError or ValueError if not JSON-able.

    ``genome_json``: ``genome`` already in compact JSON (a genome's cached ``to_json()``),
    spliced in as it is instead of being encoded again (the same bytes); ``genome`` may then
    be None. ``plan``: the job's training plan (:class:`~evonas.evaluation.base.TrainingPlan`
    as a dict), sent as a fourth element when there is one.
    """
    if genome_json is not None and type(individual_id) is int and type(seed) is int:
        tail = "" if plan is None else "," + _encode(plan)
        return f"[{individual_id},{seed},{genome_json}{tail}]".encode()
    if genome is None:
        genome = json.loads(genome_json or "null")
    if plan is not None:
        return _encode([individual_id, seed, genome, plan]).encode()
    return _encode([individual_id, seed, genome]).encode()


def encode_message(message: list[Any]) -> bytes:
    """A worker's message to the parent (``["ready", ...]`` or ``["result", ...]``)."""
    return _encode(message).encode()


_decode = json.JSONDecoder().decode


def decode_message(data: bytes) -> Any:
    """Either side's message, decoded (``None`` for :data:`STOP`)."""
    return _decode(data.decode())


def frame(payload: bytes) -> bytes:
    """``payload`` framed as ``send_bytes`` frames it (its length first), for :func:`send_all`."""
    size = len(payload)
    if size > 0x7FFFFFFF:
        return _LENGTH.pack(-1) + _LONG_LENGTH.pack(size) + payload
    return _LENGTH.pack(size) + payload


def send_all(fd: int, payload: bytes) -> None:
    """Write ``payload`` as one message to the pipe ``fd`` (what ``conn.send_bytes`` does, in
    one ``os.write`` for a message that fits the pipe's buffer). Raises OSError as it would."""
    data = memoryview(frame(payload))
    while data:
        data = data[os.write(fd, data):]


def worker_main(spec: dict[str, Any], conn: Any) -> None:
    """Run one worker until a ``None`` job arrives or the parent process disappears.

    Args:
        spec: plain data: ``name`` (``"worker-0 (cpu)"``), ``device``
            (as this process sees it, e.g. ``"cuda:0"``), ``threads`` (torch threads or None),
            ``task`` and ``space`` (config mappings) and ``parent_pid``.
        conn: this worker's end of its pipe to the parent.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    _exit_with_parent(spec["parent_pid"])
    name, device = spec["name"], spec["device"]
    task = space = setup_error = None
    try:
        task, space = _set_up(spec)
    except Exception as exc:  # noqa: BLE001 (reported to the parent, every job then fails)
        from evonas.evaluation.execute import describe_exception

        setup_error = describe_exception(exc)
        conn.send_bytes(encode_message(["ready", [type(exc).__name__, str(exc)]]))
    else:
        conn.send_bytes(encode_message(["ready", None]))

    from evonas.evaluation.base import EvalJob, EvalResult
    from evonas.evaluation.execute import run_job

    if DIRECT_READS:
        fd = conn.fileno()

        def send(data: bytes) -> None:
            send_all(fd, data)
    else:
        send = conn.send_bytes
    try:
        for data in _incoming(conn):
            message = decode_message(data)
            if message is None:
                break
            individual_id, seed, genome, *plan = message
            job = EvalJob(individual_id, genome, seed, plan=plan[0] if plan else None)
            if setup_error is not None:
                result = EvalResult.failed(job, f"task setup failed: {setup_error}", name, 0.0)
            else:
                assert task is not None and space is not None  # set up without an error
                result = run_job(task, space, job, name, device)
            try:
                data = encode_message(["result", result.individual_id, result.status,
                                       result.metrics, result.error, result.worker,
                                       result.seconds])
            except (TypeError, ValueError) as exc:  # metrics a custom task left unchecked
                data = encode_message(["result", individual_id, "failed", {},
                                       f"result is not JSON: {exc}", name, result.seconds])
            send(data)
    except (EOFError, OSError):  # the parent is gone: nobody is left to report to
        pass


def _incoming(conn: Any) -> Any:
    """Yield the messages arriving on ``conn``, blocking for each (EOFError: the parent is
    gone). With :data:`DIRECT_READS`, one ``os.read`` takes every message already waiting."""
    if not DIRECT_READS:
        while True:
            yield conn.recv_bytes()
    fd, reader, read = conn.fileno(), FrameReader(), os.read
    while True:
        chunk = read(fd, READ_CHUNK)
        if not chunk:
            raise EOFError
        yield from reader.feed(chunk)


def _set_up(spec: dict[str, Any]) -> tuple[Any, Any]:
    """Build the space and the task, warm the task up and apply the torch thread count.

    ``OMP_NUM_THREADS`` in this process's environment already caps torch's threads; the explicit
    calls make it certain. Tasks that never import torch (table lookups) skip its import entirely,
    which keeps worker start-up fast.
    """
    from evonas.tasks.registry import build_task_and_space

    task, space = build_task_and_space(spec["task"], spec["space"])
    task.warm_up(spec["device"])
    threads = spec.get("threads")
    torch = sys.modules.get("torch")
    if threads and torch is not None:  # before any evaluation runs
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # fails once parallel work has run
            torch.set_num_interop_threads(1)
    return task, space


def _exit_with_parent(parent_pid: int) -> None:
    """Start a daemon thread that ends this process when the parent is gone.

    It also covers a worker stuck in a long evaluation, which never returns to its pipe.
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
