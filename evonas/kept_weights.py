"""The trained weights of a campaign's K best individuals, kept in the run folder.

With ``campaign.keep_weights: K`` every evaluation of a task that trains writes its final state
(model, optimizer and schedule, :mod:`evonas.weights`) to ``RUN/weights/<id>.safetensors``. When
the result arrives, :class:`WeightKeeper` keeps the file if the individual is among the K best
evaluated so far (by fitness, ties to the earlier id) and deletes it otherwise; a newcomer that
displaces a kept individual prunes that one's file. Both are journaled as events in the same
transaction as the result:

* ``weights_kept`` (individual id; ``{"file": "weights/12.safetensors", "fitness": ...,
  "bytes": ..., "sha256": ...}``);
* ``weights_pruned`` (individual id; ``{"file": ..., "reason": "displaced" | "missing"}``).

A displaced file is deleted only after the journal commits its pruning, so a crash never leaves
the journal naming a kept file that is gone. When a campaign opens (new or resumed),
:meth:`WeightKeeper.reconcile` makes folder and journal agree: files the journal does not list as
kept (written by evaluations whose results a kill lost, or pruned just before it) are deleted, and
a kept file that is missing is journaled as pruned. The kept set is therefore a pure function of
the journal, and a resumed campaign keeps exactly what one never interrupted would have kept.

Reading (:func:`kept_weights`) parses events and checks checksums; it never imports or runs
anything from the run folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.errors import JournalError

if TYPE_CHECKING:
    from evonas.storage import EvaluationRow, Journal

#: The folder of kept weights inside a run folder.
WEIGHTS_DIR = "weights"
KEPT_EVENT = "weights_kept"
PRUNED_EVENT = "weights_pruned"
_FILE_NAME = re.compile(r"(0|[1-9][0-9]{0,11})\.safetensors")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class KeptWeights:
    """One kept weight file.

    Attributes:
        individual_id: whose weights they are.
        path: the file (``RUN/weights/<id>.safetensors``).
        fitness: the individual's fitness when it was kept.
        sha256: the file's checksum, as journaled.
    """

    individual_id: int
    path: Path
    fitness: float
    sha256: str

    def intact(self) -> bool:
        """Whether the file is there, a plain file (not a link), with the journaled checksum."""
        try:
            return _sha256_of(self.path) == self.sha256
        except OSError:
            return False


def weights_file(run_dir: Path, individual_id: int) -> Path:
    """Where an individual's evaluation writes its trained state."""
    return run_dir / WEIGHTS_DIR / f"{individual_id}.safetensors"


def kept_weights(run_dir: str | Path, journal: Journal) -> dict[int, KeptWeights]:
    """The kept weight files the journal lists now (kept and not pruned since), by id.

    Events naming any other file than ``weights/<id>.safetensors`` of their own individual are
    ignored: an event cannot point outside the run folder.
    """
    run_dir = Path(run_dir)
    kept: dict[int, KeptWeights] = {}
    events = sorted(journal.events(KEPT_EVENT) + journal.events(PRUNED_EVENT))
    for _, kind, ind_id, data in events:
        if type(ind_id) is not int:
            continue
        if kind == PRUNED_EVENT:
            kept.pop(ind_id, None)
            continue
        if not isinstance(data, dict) or data.get("file") != f"{WEIGHTS_DIR}/{ind_id}.safetensors":
            continue
        fitness, sha = data.get("fitness"), data.get("sha256")
        if isinstance(fitness, int | float) and not isinstance(fitness, bool) \
                and isinstance(sha, str) and _SHA256.fullmatch(sha):
            kept[ind_id] = KeptWeights(ind_id, weights_file(run_dir, ind_id), float(fitness), sha)
    return kept


class WeightKeeper:
    """Keeps the weight files of the ``k`` best individuals of one campaign (see the module
    docstring).

    Args:
        journal: the campaign's journal (a file journal: weights live in its run folder).
        k: how many to keep (at least 1).
    """

    def __init__(self, journal: Journal, k: int) -> None:
        if journal.path is None:
            raise JournalError("campaign.keep_weights needs a run folder (the journal is in "
                               "memory)")
        self.journal = journal
        self.k = k
        self.run_dir = Path(journal.path).parent
        self.folder = self.run_dir / WEIGHTS_DIR
        self._kept = {i: w.fitness for i, w in kept_weights(self.run_dir, journal).items()}
        self._to_delete: list[Path] = []

    def plan(self, individual_id: int) -> dict[str, Any]:
        """The training plan of an evaluation: save the final state where it may be kept."""
        return {"save_to": str(weights_file(self.run_dir, individual_id))}

    def reconcile(self) -> None:
        """Make the folder and the journal agree (see the module docstring); commits."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            raise JournalError(f"{self.folder}: is not a folder; kept weights go only into the "
                               "run folder itself (move it away)")
        self.folder.mkdir(exist_ok=True)
        for ind_id in sorted(self._kept):
            if not weights_file(self.run_dir, ind_id).is_file():
                self.journal.add_event(PRUNED_EVENT, ind_id, {
                    "file": f"{WEIGHTS_DIR}/{ind_id}.safetensors", "reason": "missing"})
                del self._kept[ind_id]
        for path in self.folder.iterdir():
            match = _FILE_NAME.fullmatch(path.name)
            stray = match is None or int(match.group(1)) not in self._kept
            if stray and (path.is_file() or path.is_symlink()):
                path.unlink(missing_ok=True)
        self.journal.commit()

    def record(self, row: EvaluationRow) -> None:
        """An evaluation's result arrived: keep its file, or delete it."""
        path = weights_file(self.run_dir, row.individual_id)
        if not path.is_file():
            return
        fitness = row.fitness
        if row.status != "ok" or fitness is None or not self._ranks_in(row.individual_id, fitness):
            path.unlink(missing_ok=True)
            return
        try:
            digest = _sha256_of(path)
        except OSError:
            return
        self.journal.add_event(KEPT_EVENT, row.individual_id, {
            "file": f"{WEIGHTS_DIR}/{row.individual_id}.safetensors", "fitness": fitness,
            "bytes": path.stat().st_size, "sha256": digest})
        self._kept[row.individual_id] = fitness
        while len(self._kept) > self.k:
            worst = min(self._kept, key=lambda i: (self._kept[i], -i))
            del self._kept[worst]
            self.journal.add_event(PRUNED_EVENT, worst, {
                "file": f"{WEIGHTS_DIR}/{worst}.safetensors", "reason": "displaced"})
            self._to_delete.append(weights_file(self.run_dir, worst))

    def committed(self) -> None:
        """The journal committed: delete the files whose pruning it now holds."""
        for path in self._to_delete:
            path.unlink(missing_ok=True)
        self._to_delete = []

    def kept_ids(self) -> list[int]:
        """The kept individuals, best first."""
        return sorted(self._kept, key=lambda i: (-self._kept[i], i))

    def _ranks_in(self, individual_id: int, fitness: float) -> bool:
        if len(self._kept) < self.k:
            return True
        worst = min(self._kept, key=lambda i: (self._kept[i], -i))
        return (fitness, -individual_id) > (self._kept[worst], -worst)


def _sha256_of(path: Path) -> str:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()
