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

``rung`` event data: ``{"rung", "epochs", "status", "fitness", "metrics", "seconds", "worker",
"error", "promoted"}``, and ``"data_fraction"`` on a ladder of that resource (``epochs`` is then
the epochs that rung trained).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.errors import JournalError
from evonas.evaluation.base import STATUS_OK, EvalResult, evaluation_seconds
from evonas.fidelity.schedulers import Scheduler
from evonas.kept_weights import weights_file

if TYPE_CHECKING:
    from evonas.storage import Journal

#: The folder of rung states inside a run folder.
RUNGS_DIR = "rungs"
RUNG_EVENT = "rung"
_RUNG_FILE = re.compile(r"(0|[1-9][0-9]{0,11})\.r([0-9]{1,3})\.safetensors")


@dataclass
class _Climb:
    """An individual on its ladder: the rung its job in flight trains to, and what it cost."""

    rung: int
    seconds: float = 0.0


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

    def rung_file(self, individual_id: int, rung: int) -> Path:
        return self.folder / f"{individual_id}.r{rung}.safetensors"

    # ------------------------------------------------------------------ resume
    def restore(self, evaluated: set[int]) -> None:
        """Replay the journal's rung events into the scheduler; individuals whose last event
        promoted them and who have no evaluation yet (``evaluated`` lacks them) continue from
        their rung file. Then delete the rung files nobody continues from."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            raise JournalError(f"{self.folder}: is not a folder; rung states go only into the "
                               "run folder itself (move it away)")
        self.folder.mkdir(exist_ok=True)
        climbs: dict[int, _Climb] = {}
        for _, _, ind_id, data in self.journal.events(RUNG_EVENT):
            if type(ind_id) is not int or not isinstance(data, dict):
                raise JournalError(f"{self.journal.path}: events: a rung event without an "
                                   "individual or data")
            rung, promoted = data.get("rung"), data.get("promoted")
            if type(rung) is not int or not 0 <= rung < len(self.scheduler.rungs) \
                    or not isinstance(promoted, bool):
                raise JournalError(f"{self.journal.path}: events: rung event of individual "
                                   f"{ind_id}: rung {rung!r:.20} or promoted {promoted!r:.20} "
                                   "is not what a ladder records")
            fitness = data.get("fitness") if data.get("status") == STATUS_OK else None
            decided = self.scheduler.decide(ind_id, rung, fitness, data.get("metrics") or {})
            if decided != promoted:
                raise JournalError(f"{self.journal.path}: events: rung {rung} of individual "
                                   f"{ind_id}: the scheduler now decides otherwise than the "
                                   "journal says (was the fidelity config or the code changed?)")
            climb = climbs.setdefault(ind_id, _Climb(rung))
            climb.seconds += float(data.get("seconds") or 0.0)
            climb.rung = rung + 1 if promoted else rung
            if not promoted:
                climbs.pop(ind_id)
        self._climbs = {i: c for i, c in climbs.items() if i not in evaluated}
        keep = {self.rung_file(i, c.rung - 1).name for i, c in self._climbs.items()}
        for path in self.folder.iterdir():
            if path.name not in keep and (path.is_file() or path.is_symlink()):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ jobs
    def plan(self, individual_id: int) -> dict[str, Any]:
        """The plan of the individual's next job: its first rung, or the rung it was promoted
        to (continuing from the rung below)."""
        climb = self._climbs.get(individual_id)
        if climb is None:
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

    def arrive(self, result: EvalResult) -> tuple[dict[str, Any] | None, EvalResult | None]:
        """A rung job's result: journal it, then either promote (``(next plan, None)``) or end
        the ladder (``(None, the individual's evaluation result)``)."""
        ind_id = result.individual_id
        climb = self._climbs.get(ind_id)
        if climb is None:  # not climbing: a late result of a ladder already ended
            return None, None
        rung = climb.rung
        climb.seconds += result.seconds
        fitness = result.metrics.get("fitness") if result.status == STATUS_OK else None
        promoted = self.scheduler.decide(ind_id, rung, fitness, result.metrics)
        self.journal.add_event(RUNG_EVENT, ind_id, {
            "rung": rung, **self._amount(rung, result), "status": result.status,
            "fitness": fitness, "metrics": result.metrics, "seconds": result.seconds,
            "worker": result.worker, "error": result.error, "promoted": promoted})
        if rung > self.scheduler.first_rung(ind_id):
            self._to_delete.append(self.rung_file(ind_id, rung - 1))
        if promoted:
            climb.rung = rung + 1
            return self._plan(ind_id, rung + 1, resume=True), None
        del self._climbs[ind_id]
        last = self.rung_file(ind_id, rung)
        if self.keep_weights and result.status == STATUS_OK and last.is_file():
            os.replace(last, weights_file(self.run_dir, ind_id))
        else:
            self._to_delete.append(last)
        metrics = dict(result.metrics)
        if result.status == STATUS_OK:
            metrics.update(rung=rung, rungs_climbed=rung - self.scheduler.first_rung(ind_id) + 1)
        return None, EvalResult(ind_id, result.status, metrics, result.error, result.worker,
                                evaluation_seconds(climb.seconds))

    def committed(self) -> None:
        """The journal committed: delete the rung files nothing continues from any more."""
        for path in self._to_delete:
            path.unlink(missing_ok=True)
        self._to_delete = []
