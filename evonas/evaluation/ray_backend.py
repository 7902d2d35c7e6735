"""A Ray evaluator (``evaluator.backend: ray``): one Ray actor per slot, local or across a cluster.

Each slot is an actor that builds the task once from its JSON config and keeps it (and its
dataset) loaded, like a pool worker. The task and space configs go to the object store once
(:func:`ray.put`) and every actor, including replacements, is created from those references.
Each actor asks Ray for ``num_cpus`` CPUs and ``num_gpus`` GPUs (fractions allowed: ``0.5`` puts
two evaluations on one GPU); inside it the task runs on ``cuda:0`` (the GPU Ray assigned) when
``num_gpus > 0``, else on the CPU.

The evaluator holds at most one job per actor and collects results with :func:`ray.wait` as they
finish. This process stays the only journal writer: actors only return result dicts. Faults cost
one failed result each, as in :class:`~evonas.evaluation.pool.LocalPoolEvaluator`:

1. An exception in the evaluation: the actor reports it and carries on (shared :func:`run_job`).
2. An actor that dies (``os._exit``, a segfault, ``ray.kill``, a lost node): its job is
   re-submitted to a fresh actor up to ``max_retries`` times, then fails with
   ``"worker died (<Ray's reason>)"``.
3. A job running longer than ``timeout`` seconds: its actor is killed, the job fails with
   ``"timeout after Xs"`` (no retry) and a fresh actor takes the slot.

Ray is an optional extra (``pip install 'evonas[ray]'``); without it :class:`RayEvaluator` raises a
:class:`~evonas.config.ConfigError` naming ``evaluator.backend``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from evonas.config import ConfigError
from evonas.evaluation.base import EvalJob, EvalResult
from evonas.evaluation.devices import usable_cpus
from evonas.evaluation.pool import WorkerStartupError
from evonas.evaluation.slots import SlotEvaluator
from evonas.tasks.errors import TaskError

#: A slot whose actor dies this many times in a row before it is ready is given up.
MAX_STARTUP_FAILURES = 3
#: Longest Ray death reason kept in a failed result.
MAX_REASON_CHARS = 160


def import_ray() -> Any:
    """Import and return the ``ray`` module.

    Raises:
        ConfigError: when Ray is not installed (one line naming ``evaluator.backend``).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("evaluator.backend: 'ray' needs the Ray package; install it with "
                          "pip install 'evonas[ray]' (or use evaluator.backend: local)") from None
    return ray


class EvaluationActor:
    """The body of one Ray actor: builds the task once, then evaluates jobs on request.

    Args:
        name: the slot name (``"ray-0"``); results report ``"ray-0 (<node ip>, <device>)"``.
        task_config: the ``task:`` mapping.
        space_config: the ``space:`` mapping.
        device: ``"cpu"`` or ``"cuda:0"`` (the GPU Ray assigned to this actor).
        threads: torch intra-op threads (None: leave torch's default).
    """

    def __init__(self, name: str, task_config: dict[str, Any], space_config: dict[str, Any],
                 device: str, threads: int | None) -> None:
        import ray

        self.device = device
        self.name = f"{name} ({ray.util.get_node_ip_address()}, {device})"
        self.task = self.space = None
        self.setup_error: tuple[str, str] | None = None
        try:
            from evonas.tasks.registry import build_task_and_space

            self.task, self.space = build_task_and_space(task_config, space_config)
            self.task.warm_up(device)
            torch = sys.modules.get("torch")
            if threads and torch is not None:
                torch.set_num_threads(threads)
                with contextlib.suppress(RuntimeError):
                    torch.set_num_interop_threads(1)
        except Exception as exc:  # noqa: BLE001 (reported by ready(); the driver raises)
            self.setup_error = (type(exc).__name__, str(exc))

    def ready(self) -> tuple[str, tuple[str, str] | None]:
        """This actor's full name and its setup error (``(type name, message)``) or None."""
        return self.name, self.setup_error

    def evaluate(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job (``EvalJob`` fields); return the ``EvalResult`` as a dict."""
        from evonas.evaluation.execute import describe_exception, run_job

        eval_job = EvalJob(**job)
        if self.setup_error is not None:
            error = describe_exception(RuntimeError(": ".join(self.setup_error)))
            return EvalResult.failed(eval_job, f"task setup failed: {error}", self.name,
                                     0.0).to_dict()
        assert self.task is not None and self.space is not None  # set up without an error
        return run_job(self.task, self.space, eval_job, self.name, self.device).to_dict()


@dataclass
class _Slot:
    """One actor position; its actor is replaced when it dies or times out."""

    index: int
    actor: Any = None
    ready_ref: Any = None
    ready: bool = False
    name: str = ""
    startup_failures: int = 0
    job: EvalJob | None = None
    ref: Any = None
    dispatched_at: float = 0.0


class RayEvaluator(SlotEvaluator):
    """Evaluate jobs on ``workers`` Ray actors.

    If this process is already connected to Ray (``ray.is_initialized()``), that connection is
    used as it is and left open by :meth:`close`. Otherwise ``address`` says where to connect:
    None starts a local Ray instance (sized so every actor fits, shut down by :meth:`close`),
    ``"auto"`` joins the cluster this machine belongs to (``ray start``), and
    ``"ray://host:port"`` or ``"host:port"`` a given one.

    Args:
        task_config: the ``task:`` mapping (JSON-able).
        space_config: the ``space:`` mapping (JSON-able).
        workers: number of actors (the capacity).
        timeout: seconds a job may run before its actor is killed (None: no limit).
        address: the Ray cluster (see above).
        num_cpus: CPUs each actor asks for (fractions allowed).
        num_gpus: GPUs each actor asks for (fractions allowed; 0: evaluate on the CPU).
        max_retries: re-submissions of a job whose actor died, each on a fresh actor.
        init_options: extra keyword arguments for :func:`ray.init`.

    Raises:
        ConfigError: when Ray is not installed, ``workers`` is below 1, ``address`` is not a
            string, or a local instance lacks the GPUs asked for.
        ValueError: on a bad ``timeout``, resource or retry count.
    """

    slot_kind = "actors"

    def __init__(self, task_config: dict[str, Any], space_config: dict[str, Any], workers: int,
                 timeout: float | None = None, address: str | None = None,
                 num_cpus: float = 1.0, num_gpus: float = 0.0, max_retries: int = 1,
                 init_options: dict[str, Any] | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"evaluator.workers: the ray backend needs at least 1 worker, "
                              f"got {workers}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout: must be positive seconds or None, got {timeout}")
        if num_cpus < 0 or num_gpus < 0 or max_retries < 0:
            raise ValueError("evaluator.num_cpus, num_gpus and max_retries must be >= 0")
        if address is not None and not isinstance(address, str):
            raise ConfigError(f"evaluator.address: must be 'auto', 'ray://host:port' or null, "
                             f"got {address!r}")
        self._ray = ray = import_ray()
        super().__init__()
        self.timeout = timeout
        self.num_cpus, self.num_gpus, self.max_retries = num_cpus, num_gpus, max_retries
        self._owns_ray = False
        self._retries: dict[int, int] = {}
        started = time.perf_counter()
        if not ray.is_initialized():
            options = {"log_to_driver": False, "logging_level": logging.WARNING,
                       **(init_options or {})}
            if address is None:
                options.setdefault("num_cpus", max(usable_cpus(), math.ceil(workers * num_cpus)))
                options.setdefault("include_dashboard", False)
                # Actors import what this process can: a task or strategy named by import path
                # (``my_module:make_task``) resolves in them as here. On a cluster the module must
                # be installed on every node (or shipped with Ray's runtime_env py_modules).
                options.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": os.pathsep.join(
                    p for p in sys.path if p and os.path.isdir(p))}})
            ray.init(address=address, **options)
            self._owns_ray = True
        try:
            if address is None and self._owns_ray and num_gpus > 0:
                have = ray.cluster_resources().get("GPU", 0)
                if have < workers * num_gpus:
                    raise ConfigError(f"evaluator.num_gpus: {workers} workers x {num_gpus} GPUs "
                                      f"need {workers * num_gpus:g} GPUs, this machine has "
                                      f"{have:g}")
            #: Seconds spent connecting to or starting Ray (0 when already connected).
            self.startup_seconds = round(time.perf_counter() - started, 3)
            self._task_ref = ray.put(dict(task_config))
            self._space_ref = ray.put(dict(space_config))
            threads = max(1, round(num_cpus))
            self._actor_class = ray.remote(EvaluationActor).options(
                num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0, max_task_retries=0)
            self._device = "cuda:0" if num_gpus > 0 else "cpu"
            self._threads = threads
            self._slots = [_Slot(i) for i in range(workers)]
            for slot in self._slots:
                self._start(slot)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ Evaluator API
    @property
    def actors(self) -> list[Any]:
        """The current actor handles, one per slot (they change when an actor is replaced)."""
        return [slot.actor for slot in self._slots]

    @property
    def worker_names(self) -> list[str]:
        """Names of the actors, as results report them (the slot name until it is ready)."""
        return [slot.name for slot in self._slots]

    def close(self) -> None:
        """Kill every actor (jobs in flight are dropped); shut Ray down if this evaluator
        started it. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._done.clear()
        ray = self._ray
        for slot in getattr(self, "_slots", []):
            if slot.actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(slot.actor, no_restart=True)
            slot.actor = slot.job = slot.ref = slot.ready_ref = None
        if self._owns_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()

    # ------------------------------------------------------------------ internals
    def _start(self, slot: _Slot) -> None:
        """Create a fresh actor for ``slot``; its ``ready()`` call tells when the task is built."""
        slot.name = f"ray-{slot.index}"
        slot.ready = False
        slot.job = slot.ref = None
        slot.actor = self._actor_class.remote(slot.name, self._task_ref, self._space_ref,
                                              self._device, self._threads)
        slot.ready_ref = slot.actor.ready.remote()

    def _dispatch(self) -> None:
        """Hand pending jobs to idle, ready actors (one job per actor)."""
        for slot in self._slots:
            if not self._pending:
                return
            if slot.job is not None or not slot.ready:
                continue
            job = self._pending.popleft()
            slot.job = job
            slot.ref = slot.actor.evaluate.remote(
                {"individual_id": job.individual_id, "genome": job.genome_dict(), "seed": job.seed,
                 "plan": job.plan})
            slot.dispatched_at = time.monotonic()

    def _wait(self, seconds: float) -> None:
        """Block up to ``seconds`` for any actor call to finish; handle every finished one."""
        owners: dict[Any, _Slot] = {}
        for slot in self._slots:
            ref = slot.ref if slot.job is not None else slot.ready_ref
            if ref is not None:
                owners[ref] = slot
        if not owners:
            time.sleep(seconds)
            return
        refs = list(owners)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=seconds)
        if ready:  # collect everything else that is done too
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            slot = owners[ref]
            if ref is slot.ready_ref:
                self._on_ready(slot)
            else:
                self._on_result(slot)
        if self._setup_error is not None:
            raise self._setup_error

    def _on_ready(self, slot: _Slot) -> None:
        ray = self._ray
        try:
            name, error = ray.get(slot.ready_ref)
        except ray.exceptions.RayError as exc:  # died while building the task
            slot.startup_failures += 1
            if slot.startup_failures >= MAX_STARTUP_FAILURES:
                raise WorkerStartupError(
                    f"{slot.name} died {slot.startup_failures} times before it was ready "
                    f"(last: {death_reason(exc)}); check that the task can be built on every "
                    "node") from None
            self._start(slot)
            return
        slot.ready_ref = None
        slot.ready = True
        slot.name = name
        slot.startup_failures = 0
        if error is not None and self._setup_error is None:
            type_name, message = error
            self._setup_error = (TaskError(message) if type_name == TaskError.__name__ else
                                 WorkerStartupError(f"{name}: task setup failed: "
                                                    f"{type_name}: {message}"))

    def _on_result(self, slot: _Slot) -> None:
        ray = self._ray
        job = slot.job
        assert job is not None
        try:
            result = EvalResult.from_dict(ray.get(slot.ref))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            self._on_death(slot, death_reason(exc))
            return
        except ray.exceptions.RayError as exc:  # not expected: run_job never raises
            result = EvalResult.failed(job, f"ray error: {death_reason(exc)}", slot.name,
                                       time.monotonic() - slot.dispatched_at)
        self._retries.pop(job.individual_id, None)
        slot.job = slot.ref = None
        self._done.append(result)

    def _on_death(self, slot: _Slot, reason: str) -> None:
        """``slot``'s actor died running its job: retry the job on a fresh actor, or fail it."""
        job = slot.job
        assert job is not None
        tries = self._retries.get(job.individual_id, 0)
        if tries < self.max_retries:
            self._retries[job.individual_id] = tries + 1
            self._pending.appendleft(job)
        else:
            self._retries.pop(job.individual_id, None)
            attempts = f"; {tries + 1} attempts" if tries else ""
            self._done.append(EvalResult.failed(job, f"worker died ({reason}){attempts}",
                                                slot.name, time.monotonic() - slot.dispatched_at))
        self._replace(slot)

    def _check_timeouts(self) -> None:
        """Kill actors whose job has run past the timeout, failing the job."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for slot in self._slots:
            if slot.job is not None and now - slot.dispatched_at > self.timeout:
                ready, _ = self._ray.wait([slot.ref], timeout=0)
                if ready:  # it finished just in time
                    self._on_result(slot)
                    continue
                job = slot.job
                self._retries.pop(job.individual_id, None)
                self._done.append(EvalResult.failed(job, f"timeout after {self.timeout:g}s",
                                                    slot.name, now - slot.dispatched_at))
                self._replace(slot)

    def _replace(self, slot: _Slot) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(slot.actor, no_restart=True)
        self._start(slot)


def death_reason(exc: BaseException) -> str:
    """A short reason from a Ray actor error (``"killed by ray.kill"``, ``"exit code 3"``...)."""
    text = str(exc)
    for marker in ("Worker exit detail:", "The actor is dead because"):
        if marker in text:
            rest = text.split(marker, 1)[1].strip()
            reason = rest.split(". ")[0].splitlines()[0].strip().rstrip(".")
            break
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = lines[0] if lines else type(exc).__name__
    reason = reason.replace("`", "")
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS - 3] + "..."
