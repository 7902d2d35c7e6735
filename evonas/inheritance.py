"""Weight inheritance (network morphism, Real et al. 2017): a child starts from its parent's
trained weights and trains a shorter recipe.

With ``inherit_weights: {enabled: true, epochs: 2, keep: 64}`` (or just ``inherit_weights:
true``) every evaluation saves its final state to ``RUN/parents/<id>.safetensors``, and the
states of the ``keep`` most recent successful evaluations stay there. A child whose first parent
still has a state is dispatched with a plan that copies every tensor whose name and shape the two
networks share (the compiler's stable module names give the map; a widened layer inherits the
overlapping slice, :func:`evonas.weights.inherit_matching`) and then trains ``epochs`` epochs of
the task's recipe, on a schedule of that length; a child without one (a random genome, or a
parent whose state is gone) trains the full recipe from scratch.

What was inherited, from whom, is journaled: an ``inherited`` event at dispatch
(``{"from": parent id, "epochs": ...}``) and the task's ``inherited_tensors``, ``sliced_tensors``
and ``fresh_tensors`` metrics in the evaluation. On resume, files of evaluations the journal
lacks are deleted and at most the ``keep`` newest states of journaled successes stay, so a
re-dispatched child inherits only from an evaluation the journal holds. Weight inheritance and a
``fidelity:`` ladder do not combine (a ladder continues an individual's own state).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.errors import ConfigError, JournalError
from evonas.kept_weights import weights_file
from evonas.options import Option, OptionSchema

if TYPE_CHECKING:
    from evonas.storage import EvaluationRow, Journal
    from evonas.strategies import Candidate

#: The folder of parents' states inside a run folder.
PARENTS_DIR = "parents"
INHERITED_EVENT = "inherited"
_FILE_NAME = re.compile(r"(0|[1-9][0-9]{0,11})\.safetensors")

INHERIT_OPTIONS = OptionSchema(
    Option("enabled", False, "start a child from its first parent's trained weights"),
    Option("epochs", None, "epochs an inheriting child trains (null: half the task's epochs, "
           "at least 1)", kind=int, low=1),
    Option("keep", 64, "the newest successful evaluations whose states stay available to "
           "their children", low=1),
)


def inherit_epochs(section: dict[str, Any], task_epochs: Any, where: str) -> int:
    """The epochs an inheriting child trains.

    Raises:
        ConfigError: when the task has no epochs option and ``epochs`` is not set.
    """
    if section.get("epochs"):
        return int(section["epochs"])
    if type(task_epochs) is not int or task_epochs < 1:
        raise ConfigError(f"{where}.epochs: the task has no epochs option; set it")
    return max(1, task_epochs // 2)


class WeightInheritance:
    """Saves every evaluation's state and hands parents' states to their children.

    Args:
        journal: the campaign's journal (a file journal).
        epochs: what an inheriting child trains.
        keep: how many of the newest states stay.
        keep_weights: whether ``campaign.keep_weights`` also wants the final states (they are
            linked into its folder as results arrive).
    """

    def __init__(self, journal: Journal, epochs: int, keep: int, keep_weights: bool) -> None:
        if journal.path is None:
            raise JournalError("inherit_weights needs a run folder (the journal is in memory)")
        self.journal = journal
        self.epochs = epochs
        self.keep = keep
        self.keep_weights = keep_weights
        self.run_dir = Path(journal.path).parent
        self.folder = self.run_dir / PARENTS_DIR
        self._available: list[int] = []  # ids with a state, oldest first

    def state_file(self, individual_id: int) -> Path:
        return self.folder / f"{individual_id}.safetensors"

    def reconcile(self) -> None:
        """Keep the states of the ``keep`` newest journaled successes; delete the rest."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            raise JournalError(f"{self.folder}: is not a folder; parents' states go only into "
                               "the run folder itself (move it away)")
        self.folder.mkdir(exist_ok=True)
        ok = {row.individual_id for row in self.journal.evaluations()
              if row.status == "ok" and row.source_id is None}
        present = []
        for path in self.folder.iterdir():
            match = _FILE_NAME.fullmatch(path.name)
            if match is not None and int(match.group(1)) in ok and path.is_file():
                present.append(int(match.group(1)))
            elif path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)
        present.sort()
        for stale in present[:-self.keep]:
            self.state_file(stale).unlink(missing_ok=True)
        self._available = present[-self.keep:]

    def plan(self, individual_id: int, candidate: Candidate) -> dict[str, Any]:
        """Save this evaluation's state; inherit from the first parent when it has one."""
        plan: dict[str, Any] = {"save_to": str(self.state_file(individual_id))}
        parent = candidate.parents[0] if candidate.parents else None
        if parent is not None and parent in self._available \
                and self.state_file(parent).is_file():
            plan.update(inherit_from=str(self.state_file(parent)), epochs=self.epochs,
                        schedule_epochs=self.epochs)
            self.journal.add_event(INHERITED_EVENT, individual_id,
                                   {"from": parent, "epochs": self.epochs})
        return plan

    def record(self, row: EvaluationRow) -> None:
        """A result arrived: keep its state for its children (the newest ``keep``), and hand it
        to the kept weights when they are on."""
        path = self.state_file(row.individual_id)
        if not path.is_file():
            return
        if row.status != "ok":
            path.unlink(missing_ok=True)
            return
        if self.keep_weights:
            target = weights_file(self.run_dir, row.individual_id)
            target.unlink(missing_ok=True)
            os.link(path, target)
        self._available.append(row.individual_id)
        while len(self._available) > self.keep:
            self.state_file(self._available.pop(0)).unlink(missing_ok=True)
