"""Read-only views of a run folder: :class:`Run` and :class:`Individual`.

Opening a run reads its SQLite journal (JSON inside); it never executes code from the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evonas.storage import JOURNAL_FILE, EvaluationRow, IndividualRow, Journal, JournalError
from genomes import DAGGenome, genome_from_dict


@dataclass(frozen=True)
class Individual:
    """One individual of a run, with its outcome.

    Attributes:
        id: birth order (0 is the first individual).
        genome: the architecture.
        parents: ids of its parents.
        operator: JSON record of the operator that made it.
        metrics: the task's metrics (empty while not evaluated).
        status: ``ok``, ``failed``, ``cached`` or ``pending``.
        fitness: the selection value, or None.
        error: the failure reason, or None.
        hash: the genome's canonical hash.
        generation: its generation, where the strategy has them.
        source_id: for a ``cached`` result, the individual it was copied from.
    """

    id: int
    genome: DAGGenome
    parents: tuple[int, ...]
    operator: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    fitness: float | None
    error: str | None
    hash: str
    generation: int | None
    source_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "genome": self.genome.to_dict(), "parents": list(self.parents),
                "operator": self.operator, "metrics": self.metrics, "status": self.status,
                "fitness": self.fitness, "error": self.error, "hash": self.hash,
                "generation": self.generation, "source_id": self.source_id}


def _individual(row: IndividualRow, ev: EvaluationRow | None) -> Individual:
    return Individual(
        id=row.id, genome=genome_from_dict(row.genome), parents=row.parents,
        operator=row.operator, metrics=ev.metrics if ev else {},
        status=ev.status if ev else "pending", fitness=ev.fitness if ev else None,
        error=ev.error if ev else None, hash=row.hash, generation=row.generation,
        source_id=ev.source_id if ev else None)


class Run:
    """A campaign's run folder, finished, stopped or still running.

    Args:
        path: the run folder (holding ``journal.sqlite``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise JournalError(f"{self.path}: no run folder here")
        self._journal = Journal.open(self.path / JOURNAL_FILE, readonly=True)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        """The frozen configuration the campaign runs with."""
        return self._journal.config()

    def individuals(self) -> list[Individual]:
        """Every individual in birth order."""
        evaluations = {ev.individual_id: ev for ev in self._journal.evaluations()}
        return [_individual(row, evaluations.get(row.id)) for row in self._journal.individuals()]

    def individual(self, id: int) -> Individual:  # noqa: A002
        """One individual by id.

        Raises:
            KeyError: when there is no such individual.
        """
        row = self._journal.individual(id)
        if row is None:
            raise KeyError(f"{self.path}: no individual {id}")
        return _individual(row, self._journal.evaluation(id))

    def best(self) -> Individual | None:
        """The individual with the highest fitness (the earliest among ties), or None."""
        top = self._journal.best(1)
        return self.individual(top[0].individual_id) if top else None

    def status(self) -> dict[str, Any]:
        """Counts, best so far and whether the campaign finished, as JSON-safe data."""
        counts = self._journal.counts()
        best = self.best()
        events = self._journal.events()
        ended = [kind for _, kind, _, _ in events if kind in ("completed", "stopped")]
        budget = self.config.get("budget", {})
        evaluated = counts["ok"] + counts["failed"]
        return {
            "name": self.name,
            "path": str(self.path),
            "state": ended[-1] if ended else "running or killed",
            "individuals": counts["individuals"],
            "evaluations": evaluated,
            "budget_evaluations": budget.get("evaluations"),
            "ok": counts["ok"],
            "failed": counts["failed"],
            "cached": counts["cached"],
            "pending": counts["individuals"] - evaluated - counts["cached"],
            "best": None if best is None else {
                "id": best.id, "fitness": best.fitness, "metrics": best.metrics,
                "genome": best.genome.describe()},
            "strategy": self.config.get("strategy", {}).get("name"),
            "task": self.config.get("task", {}).get("name"),
        }

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"
