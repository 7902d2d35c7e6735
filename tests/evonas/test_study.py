"""The ask-and-tell :class:`evonas.Study`: the user's loop evaluates, the campaign searches."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import evonas
import evonas.seeds
from evonas.analysis import lineage
from evonas.errors import ConfigError, TaskError, UsageError
from evonas.evaluation.base import EvalJob
from evonas.evaluation.manual import ManualEvaluator, StudyStopped
from evonas.report.build import write_report
from evonas.storage import JOURNAL_FILE, Journal
from evonas.strategies import STRATEGIES, Evaluated
from evonas.strategies.random_search import RandomSearch
from evonas.study import Study, Trial
from evonas.tasks import EvaluationFailure, build_task
from evonas.tasks.external import EXTERNAL_REASON
from genomes import CPPNGenome, DAGGenome, space_from_dict
from tests.evonas.analysis.lineage_runs import evonas_main

POPULATION = {"population": 6, "sample": 3}


def nb201_fitness(genome: DAGGenome) -> float:
    """A deterministic stand-in for training: convolutions count, the 3x3 ones more."""
    return float(sum(2 if op == "nor_conv_3x3" else op == "nor_conv_1x1"
                     for _, _, op in genome.edges))


def params_of(genome: DAGGenome) -> int:
    """A second objective: ops that are not ``none``."""
    return sum(op != "none" for _, _, op in genome.edges)


def neat_fitness(genome: CPPNGenome) -> float:
    """Structure and weights of a CPPN, deterministic."""
    weights = sum(abs(c[3]) for c in genome.to_dict()["connections"])
    return len(genome.enabled_connections) + len(genome.hidden_ids) + math.tanh(weights)


def fitness_of(genome: Any) -> float:
    return neat_fitness(genome) if isinstance(genome, CPPNGenome) else nb201_fitness(genome)


def config(tmp_path: Path, name: str | None = "study", evaluations: int = 24,
           **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "seed": 3, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "nb201"},
        "strategy": {"name": "regularized_evolution", **POPULATION},
        "budget": {"evaluations": evaluations},
    }
    data.update(sections)
    return data


def drive(study: Study, limit: int | None = None, metrics: Any = None) -> list[Trial]:
    """Ask and tell (fitness from the genome) until the study ends or ``limit`` trials."""
    told: list[Trial] = []
    while limit is None or len(told) < limit:
        trial = study.ask(timeout=30)
        if trial is None:
            break
        values = metrics(trial) if metrics else {"fitness": fitness_of(trial.genome)}
        study.tell(trial, values)
        told.append(trial)
    return told


def journal_rows(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What a run's journal holds that does not depend on timing."""
    with Journal.open(path / JOURNAL_FILE, readonly=True) as journal:
        individuals = [(i.id, i.hash, i.parents, i.operator, i.generation)
                       for i in journal.individuals()]
        evaluations = [(e.individual_id, e.status, e.fitness, e.metrics, e.error, e.source_id)
                       for e in journal.evaluations()]
    return individuals, evaluations


# ----------------------------------------------------------------------------- the loop
def test_loop_reaches_the_budget_and_journals_a_lineage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Study(config(tmp_path)) as study:
        told = drive(study)
        assert study.ask() is None and study.done  # and again: still None
        assert study.ask() is None
        summary = study.summary
    assert summary is not None and not summary.stopped
    assert summary.evaluations == 24 == len(told)
    run = evonas.open_run(study.path)
    status = run.status()
    assert status["state"] == "completed" and status["task"] == "external"
    individuals = run.individuals()
    asked = {t.id for t in told}
    # every individual is journaled with its result; cached repeats never reach the user
    assert {i.id for i in individuals if i.status.value == "ok"} == asked
    assert all(i.status.value in ("ok", "cached") for i in individuals)
    for ind in individuals:
        assert ind.fitness == fitness_of(ind.genome)
        assert all(p < ind.id for p in ind.parents)
        if ind.id >= POPULATION["population"]:
            assert ind.parents  # bred, not random
    assert any(t.parents for t in told)
    mutated = next(t for t in told if t.parents)
    assert mutated.operator["op"] != "random"
    assert mutated.parents == run.individual(mutated.id).parents
    best = run.best()
    assert best is not None and best.fitness == max(fitness_of(t.genome) for t in told)
    with Journal.open(study.path / JOURNAL_FILE, readonly=True) as journal:
        path = lineage.path_to_root(journal, best.id)
    assert path[0] == best.id and not run.individual(path[-1]).parents
    assert run.path_to_root(best.id) == path
    assert evonas_main(["lineage", str(study.path), "--best"]) == 0
    assert f"#{best.id}" in capsys.readouterr().out


def test_the_report_builds_on_a_study_folder(tmp_path: Path) -> None:
    cfg = config(tmp_path, strategy={"name": "nsga2", "population": 8,
                                     "objectives": [{"metric": "fitness", "goal": "max"},
                                                    {"metric": "params", "goal": "min"}]})
    with Study(cfg) as study:
        drive(study, metrics=lambda t: {"fitness": nb201_fitness(t.genome),
                                        "params": params_of(t.genome)})
    report = write_report(study.path)
    text = report.read_text()
    assert report.exists() and "external" in text and "Pareto front" in text


def test_trials_carry_the_evaluation_seed_and_compile(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    task = {"name": "external", "input_shape": [3, 8, 8], "num_classes": 5}
    tiny = {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few tiny forward passes: threads only contend
    try:
        with Study(config(tmp_path, task=task, space=tiny, evaluations=3)) as study:
            trial = study.ask()
            assert trial is not None and isinstance(trial.genome, DAGGenome)
            assert trial.seed == evonas.seeds.evaluation_seed(3, trial.id)
            assert tuple(trial.module()(torch.zeros(2, 3, 8, 8)).shape) == (2, 5)
            net = trial.module((1, 8, 8), 2)
            assert tuple(net(torch.zeros(2, 1, 8, 8)).shape) == (2, 2)
            study.tell(trial, {"fitness": 1.0})
        with Study(config(tmp_path, name="no-shape", evaluations=2)) as study:
            trial = study.ask()
            assert trial is not None
            with pytest.raises(UsageError, match="input_shape"):
                trial.module()
        neat = {"name": "neat", "num_inputs": 2, "num_outputs": 1}
        with Study(config(tmp_path, name="cppn", space=neat, evaluations=2,
                          strategy={"name": "neat", "population": 4})) as study:
            trial = study.ask()
            assert trial is not None and isinstance(trial.genome, CPPNGenome)
            assert isinstance(trial.module(), torch.nn.Module)
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- strategies
#: Settings that keep each strategy's run small (every registered one must appear).
STRATEGY_CONFIGS: dict[str, dict[str, Any]] = {
    "generational": {"strategy": {"name": "generational", "population": 6, "offspring": 6}},
    "regularized_evolution": {"strategy": {"name": "regularized_evolution", **POPULATION}},
    "random": {"strategy": {"name": "random"}},
    "nsga2": {"strategy": {"name": "nsga2", "population": 8,
                           "objectives": [{"metric": "fitness", "goal": "max"},
                                          {"metric": "params", "goal": "min"}]}},
    "reinforce": {"strategy": {"name": "reinforce", "hidden_size": 8}},
    "neat": {"space": {"name": "neat", "num_inputs": 2, "num_outputs": 1},
             "strategy": {"name": "neat", "population": 8}},
    "bananas": {"strategy": {"name": "bananas", "initial": 4, "members": 2, "hidden": 8,
                             "epochs": 5, "parents": 2, "mutations": 2,
                             "random_candidates": 2}},
    "local_search": {"strategy": {"name": "local_search", "initial": 4}},
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_works_through_ask_and_tell(tmp_path: Path, name: str) -> None:
    if name in ("darts", "spos", "enas"):
        pytest.skip(f"{name} trains its own supernet on a dataset task's splits: the study asks "
                    "only the architectures it derives (it refuses the external task)")
    sections = STRATEGY_CONFIGS.get(name, {"strategy": {"name": name}})
    with Study(config(tmp_path, evaluations=16, **sections)) as study:
        told = drive(study, metrics=lambda t: {"fitness": fitness_of(t.genome),
                                               "params": 0 if name == "neat" else
                                               params_of(t.genome)})
    assert study.summary is not None and not study.summary.stopped
    run = evonas.open_run(study.path)
    assert run.status()["state"] == "completed"
    assert len(told) == study.summary.evaluations >= 1
    assert all(i.status.value in ("ok", "cached") for i in run.individuals())
    best = run.best()
    assert best is not None and best.fitness == max(fitness_of(t.genome) for t in told)
    last = run.individual(told[-1].id)
    assert (told[-1].parents, told[-1].operator, told[-1].generation) == (
        last.parents, last.operator, last.generation)


def test_darts_refuses_the_external_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="darts"):
        Study(config(tmp_path, strategy={"name": "darts"}))
    assert not (tmp_path / "runs" / "study").exists()


# ----------------------------------------------------------------------------- parallel
def test_parallel_trials_are_told_out_of_order(tmp_path: Path) -> None:
    with Study(config(tmp_path, evaluations=18), parallel=3) as study:
        told = 0
        while True:
            batch = [study.ask(timeout=30) for _ in range(3)]
            trials = [t for t in batch if t is not None]
            if not trials:
                break
            assert len({t.id for t in trials}) == len(trials)
            assert [t.id for t in study.pending] == sorted(t.id for t in trials)
            if len(trials) == 3:  # all three out: nothing more until a tell
                with pytest.raises(TimeoutError):
                    study.ask(timeout=0.1)
            for trial in reversed(trials):
                study.tell(trial, {"fitness": nb201_fitness(trial.genome)})
                told += 1
            if len(trials) < 3:
                assert study.ask(timeout=30) is None
                break
    assert study.summary is not None and study.summary.evaluations == told == 18
    run = evonas.open_run(study.path)
    assert run.status()["state"] == "completed"
    with Journal.open(study.path / JOURNAL_FILE, readonly=True) as journal:
        order = [e[3] for e in journal.events("restored")][0]
    assert order["order"] == "async" and order["capacity"] == 3


def test_worker_threads_share_a_study(tmp_path: Path) -> None:
    with Study(config(tmp_path, evaluations=20), parallel=4) as study:
        counts: list[int] = []

        def worker() -> None:
            counts.append(len(drive(study)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sum(counts) == 20 and study.summary is not None
    assert evonas.open_run(study.path).status()["evaluations"] == 20


# ----------------------------------------------------------------------------- tell
def test_a_failed_tell_is_journaled_and_bad_tells_are_refused(tmp_path: Path) -> None:
    with Study(config(tmp_path, evaluations=6)) as study:
        trial = study.ask()
        assert trial is not None
        cases: list[tuple[Any, str]] = [
            ({"accuracy": 0.5}, "fitness"), ({"fitness": float("nan")}, "finite"),
            ({"fitness": True}, "finite"), ({"fitness": 1.0, "loss": "low"}, "loss"),
            ([("fitness", 1.0)], "mapping")]
        for metrics, match in cases:
            with pytest.raises(UsageError, match=match):
                study.tell(trial, metrics)
        with pytest.raises(UsageError, match="not both"):
            study.tell(trial, {"fitness": 1.0}, failed="boom")
        with pytest.raises(UsageError, match="metrics"):
            study.tell(trial)
        with pytest.raises(UsageError, match="seconds"):
            study.tell(trial, {"fitness": 1.0}, seconds=-1)
        study.tell(trial, failed="diverged: loss is nan", seconds=2.5)
        with pytest.raises(UsageError, match="told already"):
            study.tell(trial, {"fitness": 1.0})
        second = study.ask()
        assert second is not None
        study.tell(second, {"fitness": np.float32(2.0), "loss": None, "epochs": np.int64(3)})
        drive(study)
    run = evonas.open_run(study.path)
    failed = run.individual(trial.id)
    assert failed.status.value == "failed" and failed.error == "diverged: loss is nan"
    assert run.status()["failed"] == 1
    ok = run.individual(second.id)
    assert ok.metrics == {"fitness": 2.0, "loss": None, "epochs": 3}
    with Journal.open(study.path / JOURNAL_FILE, readonly=True) as journal:
        row = journal.evaluation(trial.id)
    assert row is not None and row.seconds == 2.5 and row.worker == "study"


def test_trials_of_another_study_and_closed_studies_are_refused(tmp_path: Path) -> None:
    with Study(config(tmp_path, name="a", evaluations=4)) as a, \
            Study(config(tmp_path, name="b", evaluations=4)) as b:
        trial_a, trial_b = a.ask(), b.ask()
        assert trial_a is not None and trial_b is not None and trial_a.id == trial_b.id
        with pytest.raises(UsageError, match="not asked from this study"):
            a.tell(trial_b, {"fitness": 1.0})
        with pytest.raises(UsageError, match="Trial"):
            a.tell("0", {"fitness": 1.0})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="closed"):
        a.ask()
    with pytest.raises(UsageError, match="closed"):
        a.tell(trial_a, {"fitness": 1.0})
    a.close()  # twice: harmless


def test_optimize_runs_an_objective(tmp_path: Path) -> None:
    def objective(trial: Trial) -> float:
        if trial.id == 2:
            raise EvaluationFailure("out of memory")
        return nb201_fitness(trial.genome)

    with Study(config(tmp_path, evaluations=10)) as study:
        study.optimize(objective, n_trials=4)
        assert not study.done and not study.pending
        study.optimize(objective)
        assert study.done
    run = evonas.open_run(study.path)
    assert run.status()["evaluations"] == 10 and run.individual(2).error == "out of memory"


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("reopen", ["folder", "config"])
def test_a_closed_study_resumes_to_the_uninterrupted_journal(tmp_path: Path,
                                                             reopen: str) -> None:
    sections = {"campaign": {"order": "birth", "checkpoint_every": 5}}
    full = config(tmp_path, name="full", evaluations=30, **sections)
    with Study(full) as study:
        drive(study)
    expected = journal_rows(study.path)

    cut = config(tmp_path, name="cut", evaluations=30, **sections)
    study = Study(cut)
    drive(study, limit=13)
    out = study.ask()
    assert out is not None and out.parents == expected[0][out.id][2]
    study.close()
    assert study.summary is not None and study.summary.stopped
    assert evonas.open_run(study.path).status()["state"] == "stopped"

    with Study(study.path if reopen == "folder" else cut) as again:
        first = again.ask()
        assert first is not None
        assert (first.id, first.seed, first.genome) == (out.id, out.seed, out.genome)
        again.tell(first, {"fitness": fitness_of(first.genome)})
        drive(again)
    assert again.summary is not None and not again.summary.stopped
    assert journal_rows(again.path) == expected


def test_resuming_from_a_config_applies_a_raised_budget(tmp_path: Path) -> None:
    cfg = config(tmp_path, evaluations=8)
    with Study(cfg) as study:
        drive(study)
    assert evonas.open_run(study.path).status()["evaluations"] == 8
    with Study(cfg, budget__evaluations=12) as more:
        told = drive(more)
    assert len(told) == 4 and evonas.open_run(study.path).status()["evaluations"] == 12
    change: dict[str, Any] = {"strategy.population": 9}
    with pytest.raises(ConfigError, match="strategy.population"):
        Study(cfg, **change)


def test_a_study_folder_in_use_is_refused(tmp_path: Path) -> None:
    with Study(config(tmp_path, evaluations=4)) as study:
        with pytest.raises(evonas.storage.lock.RunInUseError):
            Study(study.path)
        drive(study)


# ----------------------------------------------------------------------------- errors
class BoomStrategy(RandomSearch):
    """Random search that fails on its third tell."""

    def tell(self, results: list[Evaluated]) -> None:
        if results[-1].id == 2:
            raise RuntimeError("boom in the strategy")
        super().tell(results)


def test_a_campaign_error_is_raised_in_the_users_thread(tmp_path: Path) -> None:
    cfg = config(tmp_path, evaluations=10,
                 strategy={"name": "tests.evonas.test_study:BoomStrategy"})
    study = Study(cfg)
    with pytest.raises(RuntimeError, match="boom"):
        drive(study)
    with pytest.raises(RuntimeError, match="boom"):  # and at every later call
        study.ask()
    study.close()  # raised already: close is quiet
    assert study.done


def test_bad_study_arguments(tmp_path: Path) -> None:
    for parallel in (0, 1.5, True):
        with pytest.raises(UsageError, match="parallel"):
            Study(config(tmp_path), parallel=parallel)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not found"):
        Study(tmp_path / "missing.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(evonas.storage.JournalError, match="not a run folder"):
        Study(tmp_path / "empty")
    with pytest.raises(ConfigError, match="input_shape"):
        Study(config(tmp_path, task={"name": "external", "input_shape": [3, 8]}))


def test_a_yaml_config_without_a_task_gets_the_external_task(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: y\nruns_dir: {tmp_path / 'runs'}\nstrategy: {{name: random}}\n"
                    "budget: {evaluations: 3}\n")
    with evonas.Study(path) as study:
        assert len(drive(study)) == 3
    assert evonas.open_run(study.path).config["task"] == {"name": "external",
                                                          "input_shape": None,
                                                          "num_classes": None, "target": None}


# ----------------------------------------------------------------------------- pieces
def test_the_external_task_never_evaluates() -> None:
    space = space_from_dict({"name": "nb201"})
    task = build_task({"name": "external", "input_shape": [1, 8, 8], "num_classes": 10}, space)
    assert (task.input_shape, task.num_classes) == ((1, 8, 8), 10)
    genome = space.sample(np.random.default_rng(0))
    with pytest.raises(EvaluationFailure, match="Study.tell") as failure:
        task.evaluate(genome, 0)
    assert failure.value.reason == EXTERNAL_REASON
    for bad in ({"num_classes": 0}, {"input_shape": [3, 0, 8]}, {"target": "high"},
                {"classes": 3}):
        with pytest.raises(TaskError):
            build_task({"name": "external", **bad}, space)


def test_the_manual_evaluator_hands_jobs_out_and_results_back() -> None:
    from evonas.evaluation.base import EvalResult

    ev = ManualEvaluator(2)
    assert ev.capacity == 2 and ev.poll(0) == []
    ev.submit(EvalJob(0, {}, 1))
    ev.submit(EvalJob(1, {}, 2))
    assert ev.in_flight == 2 and ev.poll(0.01) == []
    job = ev.take(0)
    assert job is not None and job.individual_id == 0 and ev.is_out(0)
    with pytest.raises(KeyError):
        ev.give(EvalResult(1, "ok", {"fitness": 1.0}))  # not taken
    ev.give(EvalResult(0, "ok", {"fitness": 1.0}))
    assert [r.individual_id for r in ev.poll(0)] == [0] and ev.in_flight == 1
    ev.request_stop()
    with pytest.raises(StudyStopped):
        ev.poll(1)
    ev.close()
    assert ev.take(0) is None and ev.closed
    with pytest.raises(ValueError, match="capacity"):
        ManualEvaluator(0)


@pytest.mark.parametrize("option", [{"campaign": {"keep_weights": 2}},
                                    {"fidelity": {"scheduler": "asha", "max": 4}},
                                    {"inherit_weights": True}])
def test_a_study_refuses_options_that_need_the_engine_to_train(tmp_path, option) -> None:
    config = {"task": {"name": "digits"}, "runs_dir": str(tmp_path / "runs"), **option}
    with pytest.raises(ConfigError, match="trained by your own loop"):
        evonas.Study(config)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
