"""Read-only views of a run folder: :class:`Run` and :class:`Individual`.

Opening a run reads its SQLite journal (JSON inside); it never executes code from the folder.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.fidelity.ladder import decided_rungs
from evonas.kept_weights import KeptWeights, kept_weights
from evonas.storage import (
    JOURNAL_FILE,
    PENDING,
    EvaluationRow,
    IndividualRow,
    Journal,
    JournalError,
    Status,
    json_safe,
    reading_journal,
)
from evonas.strategies.base import search_seconds
from genomes import Genome, GenomeError, genome_from_dict

if TYPE_CHECKING:
    import networkx as nx

    from evonas.analysis.lineage import DiversityRow, OperatorStats


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
    genome: Genome
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


def _individual(row: IndividualRow, ev: EvaluationRow | None, path: Path) -> Individual:
    try:
        genome = genome_from_dict(row.genome)
    except (GenomeError, RecursionError) as exc:
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise JournalError(f"{path}: individuals[{row.id}].genome: {text}") from None
    return Individual(
        id=row.id, genome=genome, parents=row.parents,
        operator=row.operator, metrics=ev.metrics if ev else {},
        status=ev.status if ev else PENDING, fitness=ev.fitness if ev else None,
        error=ev.error if ev else None, hash=row.hash, generation=row.generation,
        source_id=ev.source_id if ev else None)


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    """``config[key]`` when it is a mapping, else an empty one (a journal written by hand)."""
    value = config.get(key)
    return value if isinstance(value, dict) else {}


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
        with reading_journal(self._journal.path):
            return self._journal.config()

    def individuals(self) -> list[Individual]:
        """Every individual in birth order."""
        with reading_journal(self._journal.path):
            evaluations = {ev.individual_id: ev for ev in self._journal.evaluations()}
            return [_individual(row, evaluations.get(row.id), self._journal.path)
                    for row in self._journal.individuals()]

    def individual(self, id: int) -> Individual:  # noqa: A002
        """One individual by id.

        Raises:
            KeyError: when there is no such individual.
        """
        with reading_journal(self._journal.path):
            row = self._journal.individual(id)
            if row is None:
                raise KeyError(f"{self.path}: no individual {id}")
            return _individual(row, self._journal.evaluation(id), self._journal.path)

    def kept_weights(self) -> dict[int, KeptWeights]:
        """The weight files ``campaign.keep_weights`` keeps now, by individual id (see
        :mod:`evonas.kept_weights`)."""
        with reading_journal(self._journal.path):
            return kept_weights(self.path, self._journal)

    def ladder(self, id: int) -> list[dict[str, Any]]:  # noqa: A002
        """The rungs an individual climbed under a ``fidelity:`` scheduler, lowest first: each
        ``{"rung", "epochs", "status", "fitness", "seconds", "promoted"}``, and
        ``"data_fraction"`` on a ``data_fraction`` ladder (empty without one). ``promoted`` is
        None for a result still waiting for its rung to fill (``successive_halving``)."""
        with reading_journal(self._journal.path):
            steps = decided_rungs(self._journal)
        return [{k: data.get(k) for k in ("rung", "epochs", "status", "fitness", "seconds",
                                          "promoted", "data_fraction") if k in data}
                for ind_id, data in steps if ind_id == id]

    def best(self) -> Individual | None:
        """The individual with the highest fitness (the earliest among ties), or None."""
        with reading_journal(self._journal.path):
            top = self._journal.best(1)
        return self.individual(top[0].individual_id) if top else None

    def status(self) -> dict[str, Any]:
        """Counts, best so far and whether the campaign finished, as JSON-safe data (no NaN or
        infinity: such values read as None).

        ``evaluations`` counts the evaluations run (``ok`` and ``failed``); a copy of an earlier
        individual's result, a copied failure too, counts as ``cached``.
        """
        with reading_journal(self._journal.path):
            counts = self._journal.counts()
            best = self.best()
            state = self._journal.state()
            config = self.config
            evaluated = counts["ok"] + counts["failed"]
            device_seconds = sum(ev.seconds or 0.0 for ev in self._journal.evaluations()
                                 if ev.source_id is None) + \
                sum(self._journal.search_seconds().values())
            search = self.search_summary()
            to_target = self.evaluations_to_target()
        return json_safe({
            "name": self.name,
            "path": str(self.path),
            "state": state or "running or killed",
            "individuals": counts["individuals"],
            "evaluations": evaluated,
            "budget_evaluations": _section(config, "budget").get("evaluations"),
            "ok": counts["ok"],
            "failed": counts["failed"],
            "cached": counts["cached"],
            "pending": counts["individuals"] - evaluated - counts["cached"],
            "device_seconds": round(min(device_seconds, sys.float_info.max), 3),  # sums overflow
            "best": None if best is None else {
                "id": best.id, "fitness": best.fitness, "metrics": best.metrics,
                "genome": best.genome.describe()},
            "evaluations_to_target": to_target,
            "search": search,
            "strategy": _section(config, "strategy").get("name"),
            "task": _section(config, "task").get("name"),
        })

    # ----------------------------------------------------------------- lineage
    def lineage(self, *, genomes: bool = False) -> nx.DiGraph:
        """The family tree: a DiGraph of every individual, edges parent -> child.

        Nodes carry ``op``, ``status``, ``hash``, ``fitness`` and ``generation`` (and the genome
        dict with ``genomes=True``); edges carry the child's ``operator`` record, its ``op`` name
        and ``delta``, the child's fitness minus this parent's. See :mod:`evonas.analysis.lineage`.
        """
        from evonas.analysis import lineage

        return lineage.lineage_graph(self._journal, genomes=genomes)

    def ancestors(self, id: int) -> list[int]:  # noqa: A002
        """Ids of every ancestor of individual ``id``, ascending.

        Raises:
            KeyError: when there is no such individual.
        """
        from evonas.analysis import lineage

        return lineage.ancestors(self._journal, id)

    def descendants(self, id: int) -> list[int]:  # noqa: A002
        """Ids of every descendant of individual ``id``, ascending.

        Raises:
            KeyError: when there is no such individual.
        """
        from evonas.analysis import lineage

        return lineage.descendants(self._journal, id)

    def path_to_root(self, id: int, follow: str = "first") -> list[int]:  # noqa: A002
        """The chain of ids from ``id`` back to an individual without parents, ``id`` first.

        Args:
            id: where the path starts.
            follow: at several parents, the ``first`` or the ``fittest``.

        Raises:
            KeyError: when there is no such individual.
        """
        from evonas.analysis import lineage

        return lineage.path_to_root(self._journal, id, follow)

    def operator_stats(self, windows: int = 10, include_cached: bool = True) -> OperatorStats:
        """Per operator: children made, share that beat their best parent, mean fitness change,
        over the whole run and over ``windows`` windows of birth order."""
        from evonas.analysis import lineage

        return lineage.operator_stats(self._journal, windows, include_cached)

    def diversity(self, by: str = "auto", windows: int = 20) -> list[DiversityRow]:
        """Distinct canonical hashes and mean genome distance per generation (``by="auto"``
        where the strategy has generations) or per window of birth order."""
        from evonas.analysis import lineage

        return lineage.diversity(self._journal, by, windows)

    def diff(self, a: int, b: int) -> str:
        """What differs between the genomes of individuals ``a`` and ``b``, one line each.

        Raises:
            KeyError: when either individual does not exist.
        """
        from evonas.analysis import lineage

        rows = []
        for id_ in (a, b):
            with reading_journal(self._journal.path):
                row = self._journal.individual(id_)
            if row is None:
                raise KeyError(f"{self.path}: no individual {id_}")
            _individual(row, None, self._journal.path)  # a genome this code reads
            rows.append(row.genome)
        return "\n".join(lineage.genome_diff(rows[0], rows[1], (f"#{a}", f"#{b}")))

    def search_history(self) -> list[dict[str, Any]]:
        """The search log of a strategy that trains to propose (DARTS): one entry per epoch.

        Each entry is an epoch record of the operator (``epoch``, ``alphas``, ``lr``, losses and
        accuracies of the supernet) plus ``individual`` (the id of the derived genome it led to),
        ``skips`` and ``skip_collapse`` of that derivation. Empty for other strategies.
        """
        out = []
        with reading_journal(self._journal.path):
            records = self._journal.search_records()
        for ind_id, record in records:
            history = record.get("history", [])
            for epoch in history if isinstance(history, list) else []:
                if isinstance(epoch, dict):
                    out.append({**epoch, "individual": ind_id, "skips": record.get("skips"),
                                "skip_collapse": record.get("skip_collapse")})
        return out

    def search_summary(self) -> dict[str, Any] | None:
        """Epochs, supernet seconds, the first collapsed epoch, whether the supernet diverged and
        the op names of the alphas' columns, for a DARTS search; None for other strategies."""
        with reading_journal(self._journal.path):
            records = self._journal.search_records()
        if not records:
            return None
        collapsed = [r.get("epoch") for _, r in records if r.get("skip_collapse")]
        return {"epoch": records[-1][1].get("epoch"),
                "seconds": round(sum(search_seconds(r) for _, r in records), 3),
                "skip_collapse_epoch": collapsed[0] if collapsed else None,
                "diverged": any(r.get("diverged") for _, r in records),
                "ops": records[-1][1].get("ops")}

    def evaluations_to_target(self, target: float | None = None) -> int | None:
        """Evaluations spent until the first individual (in birth order) reached ``target``.

        Counts evaluated individuals (``ok`` or ``failed``; cached copies, a copied failure too,
        cost nothing) up to and including the first whose fitness is at least ``target``.

        Args:
            target: the fitness to reach (default: the config's ``task.target``).

        Returns:
            The count, or None when there is no target or no individual reached it yet.
        """
        if target is None:
            target = _section(self.config, "task").get("target")
        if not isinstance(target, int | float) or isinstance(target, bool):
            return None
        spent = 0
        with reading_journal(self._journal.path):
            for ev in self._journal.evaluations():  # ordered by individual id: birth order
                if ev.status in (Status.OK, Status.FAILED) and ev.source_id is None:
                    spent += 1
                if ev.status in (Status.OK, Status.CACHED) and ev.fitness is not None \
                        and ev.fitness >= target:
                    return spent
        return None

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"
