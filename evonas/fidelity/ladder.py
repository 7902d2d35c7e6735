"""The campaign's side of multi-fidelity training: rung jobs, rung files and rung events.

Every individual of a campaign with a ``fidelity:`` scheduler climbs a ladder. Its first job
trains to its first rung's epochs (of a learning-rate schedule spanning the top rung) and saves
the whole training state to ``RUN/rungs/<id>.r<k>.safetensors``. When the result arrives the
:class:`Ladder` journals a ``rung`` event and asks the scheduler: a promotion submits the next
rung's job, which continues from that file (model, optimizer, schedule and generators: the same
as never having stopped); a stop, the top rung or a failure ends the ladder, and the last rung's
result becomes the individual's evaluation (its ``seconds`` the sum over its rungs, its metrics
those of the last rung plus ``rung`` and ``rungs_climbed``). Only then is the strategy told.

A rung file is deleted once the rung above it has a journaled, committed result (or the ladder
ended), so a campaign killed at any point can redo what was in flight: on resume the scheduler
replays the journal's ``rung`` events in their order, an individual whose last event promoted it
continues from its rung file, and files of no climbing individual are deleted. With
``campaign.keep_weights`` the last rung's file becomes the individual's kept-weights file
(:mod:`evonas.kept_weights`).

With ``resource: data_fraction`` a rung trains the full recipe from scratch on its fraction of
the training data (its job saves a state only for the kept weights), so a promotion starts over
on more data and nothing continues from a rung file.

A synchronous scheduler (successive halving) may leave a result undecided: the individual
*waits* at its rung, holding no worker, with its rung file kept, until a later result fills the
rung (or :meth:`Ladder.close` decides it) and *releases* it: promoted, its next job is submitted;
stopped, its ladder ends with the result it waited with. On resume the starts (``dispatched``
events, which form the cohorts), rung events and closes are replayed in their order, and an
individual still waiting is not dispatched again.

``rung`` event data: ``{"rung", "epochs", "status", "fitness", "metrics", "seconds", "worker",
"error", "promoted"}``, and ``"data_fraction"`` on a ladder of that resource (``epochs`` is then
the epochs that rung trained). With a synchronous scheduler ``promoted`` is null for a result
that waits, and the event adds ``"released"`` (``{id: promoted}`` of the waiting individuals it
decided) and ``"waiting"`` (how many still wait); a ``rung_close`` event has those two only.
:func:`decided_rungs` reads rung events with every decision filled in.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from evonas.errors import JournalError
from evonas.evaluation.base import STATUS_OK, EvalResult, evaluation_seconds
from evonas.fidelity.schedulers import Scheduler
from evonas.kept_weights import weights_file

if TYPE_CHECKING:
    from evonas.storage import Journal

#: The folder of rung states inside a run folder.
RUNGS_DIR = "rungs"
RUNG_EVENT = "rung"
#: A synchronous scheduler's decision of rungs that could not fill.
CLOSE_EVENT = "rung_close"
#: The campaign's event of a first job's dispatch (a synchronous scheduler's cohorts follow it).
DISPATCHED_EVENT = "dispatched"


def decided_rungs(journal: Journal) -> list[tuple[int, dict[str, Any]]]:
    """The journal's rung events in their order as ``(individual id, data)``, each with its
    decision: a result that waited on a synchronous scheduler (``promoted`` null when
    journaled) takes the one a later event released; one still waiting keeps null."""
    events = sorted(journal.events(RUNG_EVENT) + journal.events(CLOSE_EVENT))
    steps: list[tuple[int, dict[str, Any]]] = []
    waiting: dict[str, dict[str, Any]] = {}
    for _, kind, ind_id, data in events:
        if not isinstance(data, dict):
            continue
        if kind == RUNG_EVENT and type(ind_id) is int:
            step = dict(data)
            steps.append((ind_id, step))
            if step.get("promoted") is None:
                waiting[str(ind_id)] = step
        released = data.get("released")
        for key, promoted in (released.items() if isinstance(released, dict) else ()):
            if key in waiting:
                waiting.pop(key)["promoted"] = promoted
    return steps


_RUNG_FILE = re.compile(r"(0|[1-9][0-9]{0,11})\.r([0-9]{1,3})\.safetensors")


@dataclass
class _Climb:
    """An individual on its ladder: the rung its job in flight trains to (or, while it waits for
    a synchronous scheduler's decision, the rung it reported), what it cost, and the result it
    waits with."""

    rung: int
    seconds: float = 0.0
    waiting: EvalResult | None = None


@dataclass
class Arrival:
    """What a rung result (or a :meth:`Ladder.close`) leads to.

    Attributes:
        promotions: ``(individual id, plan)`` of each job to submit now.
        finals: the evaluation results of the ladders that ended.
        paused: whether the reporting individual now waits for its rung to fill (its worker is
            free for someone else).
    """

    promotions: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    finals: list[EvalResult] = field(default_factory=list)
    paused: bool = False


class Ladder:
    """Runs every individual of one campaign up its ladder (see the module docstring).

    Args:
        scheduler: decides promotions.
        journal: the campaign's journal (a file journal: rung states live in its run folder).
        keep_weights: whether finished ladders hand their last state to the kept weights.
    """

    def __init__(self, scheduler: Scheduler, journal: Journal, keep_weights: bool) -> None:
        if journal.path is None:
            raise JournalError("fidelity needs a run folder (the journal is in memory)")
        self.scheduler = scheduler
        self.journal = journal
        self.keep_weights = keep_weights
        self.run_dir = Path(journal.path).parent
        self.folder = self.run_dir / RUNGS_DIR
        self.by_fraction = scheduler.resource == "data_fraction"
        self.top_epochs = None if self.by_fraction else int(scheduler.rungs[-1])
        self._climbs: dict[int, _Climb] = {}
        self._to_delete: list[Path] = []

    @property
    def synchronous(self) -> bool:
        """Whether results may wait for their rung to fill (see :class:`Arrival`)."""
        return self.scheduler.synchronous

    def waiting(self) -> int:
        """How many individuals wait for their rung's decision (each holds no worker)."""
        return self.scheduler.waiting()

    def is_waiting(self, individual_id: int) -> bool:
        return self.scheduler.is_waiting(individual_id)

    def rung_file(self, individual_id: int, rung: int) -> Path:
        return self.folder / f"{individual_id}.r{rung}.safetensors"

    # ------------------------------------------------------------------ resume
    def restore(self, evaluated: set[int]) -> None:
        """Replay the journal's rung events into the scheduler (for a synchronous one, with the
        starts and closes between them); individuals whose ladder has not ended and who have no
        evaluation yet (``evaluated`` lacks them) continue from their rung file, or wait with
        their last rung's result. Then delete the rung files nobody needs."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            raise JournalError(f"{self.folder}: is not a folder; rung states go only into the "
                               "run folder itself (move it away)")
        self.folder.mkdir(exist_ok=True)
        events = (self.journal.events() if self.synchronous
                  else self.journal.events(RUNG_EVENT))
        for _, kind, ind_id, data in events:
            if kind == DISPATCHED_EVENT and type(ind_id) is int:
                self.scheduler.join(ind_id)
            elif kind == CLOSE_EVENT:
                self._replay_decisions(self.scheduler.close(), None, data)
            elif kind == RUNG_EVENT:
                self._replay_rung(ind_id, data)
        self._climbs = {i: c for i, c in self._climbs.items() if i not in evaluated}
        keep = {self.rung_file(i, c.rung if c.waiting else c.rung - 1).name
                for i, c in self._climbs.items()}
        for path in self.folder.iterdir():
            if path.name not in keep and (path.is_file() or path.is_symlink()):
                path.unlink(missing_ok=True)

    def _replay_rung(self, ind_id: Any, data: Any) -> None:
        if type(ind_id) is not int or not isinstance(data, dict):
            raise JournalError(f"{self.journal.path}: events: a rung event without an "
                               "individual or data")
        rung, promoted = data.get("rung"), data.get("promoted")
        if type(rung) is not int or not 0 <= rung < len(self.scheduler.rungs) \
                or not (isinstance(promoted, bool) or (promoted is None and self.synchronous)):
            raise JournalError(f"{self.journal.path}: events: rung event of individual "
                               f"{ind_id}: rung {rung!r:.20} or promoted {promoted!r:.20} "
                               "is not what a ladder records")
        fitness = data.get("fitness") if data.get("status") == STATUS_OK else None
        metrics = data.get("metrics") or {}
        climb = self._climbs.setdefault(ind_id, _Climb(rung))
        climb.seconds += float(data.get("seconds") or 0.0)
        climb.rung = rung
        try:
            decisions = self.scheduler.report(ind_id, rung, fitness, metrics)
        except ValueError:  # a rung of an individual the journal never dispatched
            self._diverged(f"rung {rung} of individual {ind_id}")
        if decisions.get(ind_id) != promoted:
            self._diverged(f"rung {rung} of individual {ind_id}")
        if promoted is None:
            climb.waiting = EvalResult(ind_id, str(data.get("status")), metrics,
                                       data.get("error"), str(data.get("worker") or ""),
                                       float(data.get("seconds") or 0.0))
        self._replay_decisions(decisions, ind_id, data)

    def _replay_decisions(self, decisions: dict[int, bool], reporter: int | None,
                          data: Any) -> None:
        """Check a synchronous scheduler's decisions against the journal's and apply them."""
        released = {str(i): p for i, p in decisions.items() if i != reporter}
        if self.synchronous and (not isinstance(data, dict)
                                 or (data.get("released") or {}) != released):
            self._diverged("a rung's release" if reporter is None
                           else f"the rung individual {reporter} completed")
        for ind_id, promoted in decisions.items():
            climb = self._climbs[ind_id]
            climb.waiting = None
            if promoted:
                climb.rung += 1
            else:
                del self._climbs[ind_id]

    def _diverged(self, what: str) -> NoReturn:
        raise JournalError(f"{self.journal.path}: events: {what}: the scheduler now decides "
                           "otherwise than the journal says (was the fidelity config or the code "
                           "changed?)")

    # ------------------------------------------------------------------ jobs
    def plan(self, individual_id: int) -> dict[str, Any]:
        """The plan of the individual's next job: its first rung, or the rung it was promoted
        to (continuing from the rung below)."""
        climb = self._climbs.get(individual_id)
        if climb is None:
            self.scheduler.join(individual_id)
            climb = self._climbs[individual_id] = _Climb(
                self.scheduler.first_rung(individual_id))
        return self._plan(individual_id, climb.rung, resume=climb.rung >
                          self.scheduler.first_rung(individual_id))

    def _plan(self, individual_id: int, rung: int, resume: bool) -> dict[str, Any]:
        plan: dict[str, Any] = {"save_to": str(self.rung_file(individual_id, rung))}
        if self.by_fraction:  # every rung trains from scratch on its share of the data
            plan["data_fraction"] = self.scheduler.rungs[rung]
            return plan
        plan.update(epochs=int(self.scheduler.rungs[rung]), schedule_epochs=self.top_epochs)
        if resume:
            plan["resume_from"] = str(self.rung_file(individual_id, rung - 1))
        return plan

    def _amount(self, rung: int, result: EvalResult) -> dict[str, Any]:
        """What a rung's event says it spent: its epochs (and fraction of the data)."""
        if self.by_fraction:
            return {"epochs": result.metrics.get("epochs"),
                    "data_fraction": self.scheduler.rungs[rung]}
        return {"epochs": int(self.scheduler.rungs[rung])}

    def arrive(self, result: EvalResult) -> Arrival:
        """A rung job's result: journal it with the scheduler's decisions, and say what follows:
        the promoted continue to their next rung, the stopped end their ladder, and with a
        synchronous scheduler the individual may wait (and its result may decide others)."""
        ind_id = result.individual_id
        climb = self._climbs.get(ind_id)
        if climb is None or climb.waiting is not None:  # a late result of a ladder decided
            return Arrival()
        rung = climb.rung
        climb.seconds += result.seconds
        fitness = result.metrics.get("fitness") if result.status == STATUS_OK else None
        decisions = self.scheduler.report(ind_id, rung, fitness, result.metrics)
        data = {"rung": rung, **self._amount(rung, result), "status": result.status,
                "fitness": fitness, "metrics": result.metrics, "seconds": result.seconds,
                "worker": result.worker, "error": result.error,
                "promoted": decisions.get(ind_id)}
        if self.synchronous:
            data.update(self._release_data(decisions, ind_id))
        self.journal.add_event(RUNG_EVENT, ind_id, data)
        if rung > self.scheduler.first_rung(ind_id):
            self._to_delete.append(self.rung_file(ind_id, rung - 1))
        if ind_id not in decisions:
            climb.waiting = result
        arrival = self._apply(decisions, result)
        arrival.paused = ind_id not in decisions
        return arrival

    def close(self) -> Arrival:
        """Nothing is in flight and nothing new can start: decide the rungs that wait (a
        synchronous scheduler's; journaled as a ``rung_close`` event)."""
        decisions = self.scheduler.close()
        if not decisions:
            return Arrival()
        self.journal.add_event(CLOSE_EVENT, None, self._release_data(decisions, None))
        return self._apply(decisions, None)

    def _release_data(self, decisions: dict[int, bool], reporter: int | None) -> dict[str, Any]:
        """What a synchronous ladder's event adds: the waiting individuals the decisions
        release (id -> promoted), and how many still wait."""
        return {"released": {str(i): p for i, p in decisions.items() if i != reporter},
                "waiting": self.scheduler.waiting()}

    def _apply(self, decisions: dict[int, bool], result: EvalResult | None) -> Arrival:
        """Promote or end each decided individual (``result``: the reporting one's)."""
        arrival = Arrival()
        for ind_id, promoted in decisions.items():
            climb = self._climbs[ind_id]
            last = climb.waiting or result
            assert last is not None and last.individual_id == ind_id
            climb.waiting = None
            if promoted:
                climb.rung += 1
                arrival.promotions.append((ind_id, self._plan(ind_id, climb.rung, resume=True)))
            else:
                arrival.finals.append(self._end(ind_id, climb, last))
        return arrival

    def _end(self, ind_id: int, climb: _Climb, last: EvalResult) -> EvalResult:
        """End a ladder at its climb's rung: its last state becomes the kept weights (or is
        deleted), and the individual's evaluation is that rung's result with all rungs'
        seconds."""
        del self._climbs[ind_id]
        rung = climb.rung
        path = self.rung_file(ind_id, rung)
        if self.keep_weights and last.status == STATUS_OK and path.is_file():
            os.replace(path, weights_file(self.run_dir, ind_id))
        else:
            self._to_delete.append(path)
        metrics = dict(last.metrics)
        if last.status == STATUS_OK:
            metrics.update(rung=rung, rungs_climbed=rung - self.scheduler.first_rung(ind_id) + 1)
        return EvalResult(ind_id, last.status, metrics, last.error, last.worker,
                          evaluation_seconds(climb.seconds))

    def committed(self) -> None:
        """The journal committed: delete the rung files nothing continues from any more."""
        for path in self._to_delete:
            path.unlink(missing_ok=True)
        self._to_delete = []
