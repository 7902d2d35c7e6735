"""Assemble the campaign report: read the run once, draw every chart, write one HTML file.

The run is read inside one read transaction
(:func:`evonas.analysis.lineage.read_snapshot`), so a report
of a campaign still running shows one consistent moment of it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from evonas.analysis import lineage
from evonas.fidelity.ladder import RUNG_EVENT, decided_rungs
from evonas.objectives import Objective, objectives_from_config, pareto_mask
from evonas.report import figures
from evonas.report import html as h
from evonas.report.drawing import draw_genome
from evonas.retrain import TrainedModel, latest_models
from evonas.run import Run
from evonas.storage import PENDING, Journal, JournalError, Status
from genomes import GenomeError, genome_from_dict
from genomes.space import NB201_EDGES

#: The report's file name inside the run folder.
REPORT_FILE = "report.html"
#: Rows shown at most in the failures table and the ancestry steps table.
MAX_FAILURES = 200
MAX_STEPS = 60


def _state(journal: Journal) -> str:
    return journal.state() or "running (or killed)"


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _describe(genome: dict[str, Any]) -> str:
    try:
        return genome_from_dict(genome).describe()
    except GenomeError:
        return json.dumps(genome)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _objective_values(journal: Journal, objectives: list[Objective]) -> tuple[list[int],
                                                                                np.ndarray]:
    rows = journal.metric_rows([o.metric for o in objectives], Status.OK)
    values = np.array([[np.nan if v is None or isinstance(v, str) else float(v) for v in r[1:]]
                       for r in rows], dtype=float).reshape(len(rows), len(objectives))
    return [r[0] for r in rows], values


def _pareto_section(journal: Journal, objectives: list[Objective]) -> str:
    if len(objectives) < 2:
        return h.note("Single objective (fitness): there is no Pareto front to show. A campaign "
                      "with strategy.objectives naming two or more metrics gets one.")
    ids, values = _objective_values(journal, objectives)
    usable = ~np.isnan(values).any(axis=1)
    if usable.sum() < 1:
        return h.note("No evaluation reports every objective (" +
                      ", ".join(str(o) for o in objectives) + ") yet.")
    ids = [i for i, ok in zip(ids, usable, strict=True) if ok]
    values = values[usable]
    mask = pareto_mask(values, objectives)
    body = h.figure("fig-pareto", figures.pareto_figure(values, mask, objectives, ids),
                    "Pareto front", f"Objectives: {', '.join(str(o) for o in objectives)}."
                    + (" Only the first two are drawn." if len(objectives) > 2 else ""))
    front = sorted((i for i, m in zip(ids, mask, strict=True) if m))
    rows = [[f"#{i}", *(_fmt(v, ".6g") for v in values[ids.index(i)])] for i in front[:50]]
    return body + h.table(["individual", *(str(o) for o in objectives)], rows, "pareto-table",
                          numeric=range(1, len(objectives) + 1))


def _ancestry_section(journal: Journal, best_id: int) -> str:
    found = lineage.ancestry(journal, best_id)
    path = lineage.chain(found, best_id)
    body = h.figure("fig-ancestry", figures.ancestry_figure(found, best_id, path),
                    f"Ancestry of #{best_id}",
                    "Each dot an ancestor at its birth order and fitness; lines join parent and "
                    "child, coloured by the operator that made the child. The grey band follows "
                    "the first parent back to a random genome.")
    rows = []
    for k in path[:MAX_STEPS]:
        n = found[k]
        parent_id, parent_fitness = lineage.best_parent_fitness(found, n)
        change = None if n.fitness is None or parent_fitness is None \
            else n.fitness - parent_fitness
        rows.append([f"#{k}", _fmt(n.fitness), _fmt(change, "+.4f"),
                     "-" if parent_id is None else f"#{parent_id}",
                     lineage.describe_record(n.operator)])
    body += h.table(["individual", "fitness", "change", "best parent", "operator"], rows,
                    "ancestry-table", numeric=(1, 2))
    if len(path) > MAX_STEPS:
        body += h.note(f"{len(path) - MAX_STEPS} earlier steps not listed "
                       f"(evonas lineage RUN --id {best_id} prints them all).")
    return body


def _operators_section(stats: lineage.OperatorStats) -> str:
    rows = [[r.operator, r.children, r.compared, r.improved, _fmt(r.improved_share, ".1%"),
             _fmt(r.mean_change, "+.4f"), _fmt(r.best_change, "+.4f"), r.cached, r.failed,
             r.pending] for r in stats.rows]
    body = h.table(["operator", "children", "compared", "fitter than best parent", "share",
                    "mean change", "best change", "cached", "failed", "pending"], rows,
                   "operator-table", numeric=range(1, 10))
    return body + h.figure("fig-operators", figures.operators_figure(stats), "Operators over time",
                           f"Individuals split into {len(stats.windows)} windows of birth order.")


def _trained_section(models: list[TrainedModel]) -> str:
    """The models ``evonas train`` kept: test accuracy after training on train + validation."""
    rows = [[f"#{m.individual_id}", m.task_name, _metric(m.metrics, "epochs"),
             _metric(m.metrics, "test_accuracy"), _metric(m.metrics, "params"),
             _metric(m.metrics, "train_seconds", ".1f"),
             m.weights.name if m.intact() else f"{m.weights.name} (missing or damaged)"]
            for m in models]
    return h.table(["individual", "task", "epochs", "test accuracy", "params", "seconds",
                    "weights"], rows, "trained-table", numeric=(2, 3, 4, 5))


def _amount(step: dict[str, Any]) -> Any:
    """What a rung event spent: its fraction of the training data, else its epochs."""
    return step["data_fraction"] if "data_fraction" in step else step.get("epochs")


def _decision(step: dict[str, Any]) -> str:
    """A rung's decision: yes, no, or waiting (for its rung to fill)."""
    promoted = step.get("promoted")
    return "waiting" if promoted is None else "yes" if promoted else "no"


def _fidelity_section(journal: Journal, config: dict[str, Any], best_id: int | None) -> str:
    """Each rung of the ladder: results there, how many were promoted, their fitness; and the
    best individual's climb."""
    events = decided_rungs(journal)
    by_rung: dict[int, list[dict[str, Any]]] = {}
    for _, data in events:
        if type(data.get("rung")) is int:
            by_rung.setdefault(data["rung"], []).append(data)
    rows = []
    for rung in sorted(by_rung):
        steps = by_rung[rung]
        fitness = [d["fitness"] for d in steps if isinstance(d.get("fitness"), int | float)]
        promoted = sum(1 for d in steps if d.get("promoted") is True)
        rows.append([rung, _amount(steps[0]), len(steps), promoted,
                     _fmt(promoted / len(steps), ".1%"),
                     _fmt(sum(fitness) / len(fitness) if fitness else None),
                     _fmt(max(fitness) if fitness else None),
                     _fmt(sum(float(d.get("seconds") or 0) for d in steps), ".1f")])
    section = _section(config, "fidelity")
    by_fraction = section.get("resource") == "data_fraction"
    unit = "data fraction" if by_fraction else "epochs"
    body = h.note(f"Scheduler {section.get('scheduler')}: every individual starts at its "
                  "first rung; a promotion " + (
                      "trains again from scratch on more of the training data." if by_fraction
                      else "continues training from the rung below."))
    body += h.table(["rung", unit, "results", "promoted", "share", "mean fitness",
                     "best fitness", "device-seconds"], rows, "fidelity-table",
                    numeric=range(0, 8))
    climb = [d for ind_id, d in events if ind_id == best_id]
    if climb:
        body += h.table(["rung", unit, "fitness", "seconds", "promoted"],
                        [[d.get("rung"), _amount(d), _fmt(d.get("fitness")),
                          _fmt(d.get("seconds"), ".1f"), _decision(d)]
                         for d in climb], "best-ladder", numeric=(0, 1, 2, 3))
        body += h.note(f"The climb of the best individual, #{best_id}.")
    return body


def _kept_section(run: Run) -> str:
    """The weights ``campaign.keep_weights`` keeps, best first."""
    kept = sorted(run.kept_weights().values(), key=lambda w: (-w.fitness, w.individual_id))
    rows = [[f"#{w.individual_id}", _fmt(w.fitness),
             w.path.name if w.intact() else f"{w.path.name} (missing or damaged)"]
            for w in kept]
    return h.table(["individual", "fitness", "weights"], rows, "kept-table", numeric=(1,))


def _metric(metrics: dict[str, Any], key: str, spec: str = ".4f") -> str:
    """A journaled metric for a table cell: an integer as is, a float with ``spec``, else -."""
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return str(value) if isinstance(value, int) else format(value, spec)


def _failures_section(journal: Journal) -> str:
    total = journal.failure_count()
    if not total:
        return h.note("No evaluation failed.")
    rows = journal.failures(MAX_FAILURES)
    body = h.table(["individual", "operator", "reason", "worker", "seconds"],
                   [[f"#{i}", op, err or "-", worker or "-", _fmt(sec, ".2f")]
                    for i, op, err, worker, sec in rows], "failures-table", numeric=(4,))
    if total > MAX_FAILURES:
        body += h.note(f"{total - MAX_FAILURES} more failures not listed.")
    return body


def _search_section(run: Run, ops: list[str] | None) -> str:
    """A differentiable search's log (DARTS): the alphas per epoch and the derivations."""
    history = run.search_history()
    body = ""
    if ops:
        body += h.figure("fig-alphas", figures.alphas_figure(history, ops, NB201_EDGES),
                         "Architecture weights per epoch",
                         "The softmax of each edge's architecture parameters; the derived cell "
                         "takes each edge's largest weight, none excluded.")
    rows = [[e["epoch"], _fmt(e.get("train_accuracy")), _fmt(e.get("val_accuracy")),
             f"#{e['individual']}", e.get("skips"),
             "diverged" if e.get("diverged") else ("yes" if e.get("skip_collapse") else "no")]
            for e in history]
    return body + h.table(["epoch", "supernet train acc", "supernet val acc", "derived",
                           "skip edges", "collapse"], rows, "search-epochs", numeric=(0, 1, 2, 4))


def build_report(run: Run, objectives: list[Objective] | None = None, windows: int = 10) -> str:
    """The report of ``run`` as one HTML document.

    Args:
        run: an open run (finished, stopped or still running).
        objectives: the objectives of the Pareto front; default: those the config names.
        windows: windows of birth order for the operator chart.
    """
    journal = run._journal
    with lineage.read_snapshot(journal):
        config = journal.config()
        if objectives is None:
            objectives = objectives_from_config(config)
        everyone = lineage.nodes(journal)
        best_rows = journal.best(1)
        counts = {s: sum(1 for n in everyone if n.status == s)
                  for s in (*Status, PENDING)}
        summary = [("run", run.path), ("state", _state(journal)),
                   ("strategy", _section(config, "strategy").get("name")),
                   ("task", _section(config, "task").get("name")),
                   ("space", _section(config, "space").get("name")),
                   ("seed", config.get("seed")),
                   ("individuals", len(everyone)), ("evaluated", counts["ok"]),
                   ("cached copies", counts["cached"]), ("failed", counts["failed"]),
                   ("pending", counts["pending"])]
        sections = []
        best_body = h.note("No successful evaluation yet.")
        ancestry_body = h.note("No successful evaluation yet.")
        if best_rows:
            best = best_rows[0]
            best_individual = journal.individual(best.individual_id)
            assert best_individual is not None  # an evaluation's individual is journaled
            genome = best_individual.genome
            try:
                genome_from_dict(genome)
            except (GenomeError, RecursionError) as exc:
                raise JournalError(f"{journal.path}: individuals[{best.individual_id}].genome: "
                                   f"{' '.join(str(exc).split())[:200]}") from None
            summary.append(("best", f"#{best.individual_id}, fitness {best.fitness:.6g}"))
            try:
                png, engine = draw_genome(genome)
                best_body = h.figure("fig-best-genome", png, f"Genome of #{best.individual_id}",
                                     f"Drawn with {engine}.")
            except ValueError as exc:
                best_body = h.note(f"The genome cannot be drawn: {exc}")
            metrics = [[k, v] for k, v in best.metrics.items()]
            best_body += h.pre(_describe(genome)) + h.table(["metric", "value"], metrics,
                                                            "best-metrics", numeric=(1,))
            ancestry_body = _ancestry_section(journal, best.individual_id)
        summary.append(("report written", time.strftime("%Y-%m-%d %H:%M:%S")))
        sections.append(h.section("summary", "Summary", h.definitions(summary)))
        sections.append(h.section("progress", "Fitness over time", h.figure(
            "fig-progress", figures.progress_figure(everyone), "Fitness over time",
            "Every individual's fitness by birth order; the red steps are the best so far.")))
        sections.append(h.section("pareto", "Pareto front", _pareto_section(journal, objectives)))
        search = run.search_summary()
        if search is not None:
            sections.append(h.section("search", "Differentiable search",
                                      _search_section(run, search["ops"])))
        sections.append(h.section("best-genome", "Best genome", best_body))
        sections.append(h.section("ancestry", "Ancestry of the best", ancestry_body))
        if journal.events(RUNG_EVENT):
            sections.append(h.section("fidelity", "Fidelity ladder", _fidelity_section(
                journal, config, best_rows[0].individual_id if best_rows else None)))
        if run.kept_weights():
            sections.append(h.section("kept", "Kept weights", _kept_section(run)))
        trained = latest_models(run.path)
        if trained:
            sections.append(h.section("trained", "Trained models", _trained_section(trained)))
        stats = lineage.operator_stats(journal, windows)
        sections.append(h.section("operators", "Operators", _operators_section(stats)))
        rows = lineage.diversity(journal, windows=max(1, min(20, len(everyone) // 10)))
        sections.append(h.section("diversity", "Diversity", h.figure(
            "fig-diversity", figures.diversity_figure(rows), "Diversity over time",
            "Distinct canonical hashes per group and the mean edit distance between its "
            "genomes (sampled pairs in large groups).")))
        sections.append(h.section("failures", "Failures", _failures_section(journal)))
    return h.page(f"evonas report: {run.name}", sections)


def write_report(run: Run | str | Path, output: str | Path | None = None,
                 objectives: list[Objective] | None = None) -> Path:
    """Write the report of a run as one self-contained HTML file.

    Args:
        run: an open :class:`~evonas.run.Run` or a run folder (opened read-only).
        output: where to write; default ``report.html`` in the run folder.
        objectives: the Pareto front's objectives; default: those the config names.

    Returns:
        The path written.
    """
    if isinstance(run, Run):
        text = build_report(run, objectives)
        folder = run.path
    else:
        with Run(run) as opened:
            text = build_report(opened, objectives)
            folder = opened.path
    path = Path(output) if output is not None else folder / REPORT_FILE
    h.write_atomic(path, text)
    return path
