"""End-to-end campaigns on the NB201 table, evaluated in-process."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import evonas
from genomes import DAGGenome
from tests.campaigns import interrupted_equals_uninterrupted, journal_rows
from tests.conftest import NB201_TABLE, tabular_config

TABLE = {row["arch"]: float(row["cifar10_test_acc"])
         for row in csv.DictReader(NB201_TABLE.open())}


def test_regularized_evolution_records_every_individual(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path))
    individuals = run.individuals()
    assert [ind.id for ind in individuals] == list(range(len(individuals)))
    evaluated = [ind for ind in individuals if ind.status == "ok"]
    assert len(evaluated) == 40  # the budget counts real evaluations, not cache hits
    for ind in individuals:
        assert ind.status in ("ok", "cached")
        assert ind.fitness == TABLE[ind.genome.to_nb201()] or ind.status == "cached"
        assert all(p < ind.id for p in ind.parents)
        assert "op" in ind.operator
    # the first `population` individuals are random, the rest are mutants of earlier ones
    assert all(ind.operator == {"op": "random"} and not ind.parents for ind in individuals[:10])
    assert all(len(ind.parents) == 1 for ind in individuals[10:])


def test_cached_individuals_copy_the_first_with_the_same_hash(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, budget__evaluations=60,
                                    strategy__population=5, strategy__sample=5))
    individuals = run.individuals()
    by_id = {ind.id: ind for ind in individuals}
    cached = [ind for ind in individuals if ind.status == "cached"]
    assert cached, "a small population on NB201 revisits architectures"
    for ind in cached:
        source = by_id[ind.source_id]
        assert source.id < ind.id and source.hash == ind.hash and source.status == "ok"
        assert ind.fitness == source.fitness
    hashes = [ind.hash for ind in individuals if ind.status == "ok"]
    assert len(hashes) == len(set(hashes))  # nothing evaluated twice


def test_same_seed_same_journal_other_seed_differs(tmp_path: Path) -> None:
    a = evonas.run(tabular_config(tmp_path, name="a"))
    b = evonas.run(tabular_config(tmp_path, name="b"))
    c = evonas.run(tabular_config(tmp_path, name="c", seed=1))
    assert journal_rows(a.path) == journal_rows(b.path)
    assert journal_rows(a.path) != journal_rows(c.path)


def test_generational_strategy_runs_generations(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(
        tmp_path, strategy={"name": "generational", "population": 8, "offspring": 8},
        budget__evaluations=40))
    individuals = run.individuals()
    generations = sorted({ind.generation for ind in individuals})
    assert generations[0] == 0 and len(generations) >= 4
    ops = {ind.operator["op"] for ind in individuals}
    assert "random" in ops and ({"crossover_dag", "reproduce"} & ops or len(ops) > 1)
    gen0 = [ind for ind in individuals if ind.generation == 0]
    assert len(gen0) == 8 and all(not ind.parents for ind in gen0)
    best = run.best()
    assert best is not None and best.fitness == max(
        ind.fitness for ind in individuals if ind.status == "ok")


def test_random_search_and_budget(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, strategy={"name": "random"},
                                    budget__evaluations=15))
    status = run.status()
    assert status["evaluations"] == 15 and status["state"] == "completed"


def test_best_is_consistent_with_table(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, budget__evaluations=100))
    best = run.best()
    assert best.fitness == TABLE[best.genome.to_nb201()]
    assert best.fitness >= 93.0
    same = DAGGenome.from_nb201(best.genome.to_nb201())
    assert same.canonical_hash() == best.hash


def test_resume_after_abrupt_stop_reproduces_the_journal(tmp_path: Path) -> None:
    """Kill the loop mid-campaign (simulated), resume, and compare with an uninterrupted run."""
    interrupted_equals_uninterrupted(
        tmp_path, 17, strategy={"name": "generational", "population": 6, "offspring": 6})


def test_resume_with_a_larger_budget_continues(tmp_path: Path) -> None:
    from evonas.api import resume_campaign
    from evonas.config import ConfigError

    short = evonas.run(tabular_config(tmp_path, name="short", budget__evaluations=20))
    assert short.status()["evaluations"] == 20
    with pytest.raises(ConfigError, match="strategy.population: cannot change on resume"):
        resume_campaign(short.path, overrides={"strategy.population": 20})
    lines: list[str] = []
    resume_campaign(short.path, overrides={"budget.evaluations": 40}, report=lines.append)
    assert lines == ["budget.evaluations: 20 -> 40"]
    long = evonas.run(tabular_config(tmp_path, name="long", budget__evaluations=40))
    assert journal_rows(short.path) == journal_rows(long.path)
    assert evonas.open_run(short.path).config["budget"]["evaluations"] == 40


def test_device_seconds_budget_stops_the_campaign(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, budget__evaluations=5000,
                                    budget__device_seconds=0.002))
    status = run.status()
    assert status["state"] == "completed"
    assert 0 < status["evaluations"] < 5000
    assert status["device_seconds"] >= 0.002


def test_async_regularized_evolution_proposes_what_the_campaign_lacks(tmp_path: Path) -> None:
    """Told asynchronously, regularized evolution asks the campaign what it has and walks on
    from known children: a converged population keeps evaluating new cells instead of
    proposing cached copies (the textbook algorithm, in birth order, proposes copies)."""
    overrides = {"budget__evaluations": 1000, "budget__max_individuals": 40_000,
                 "strategy__population": 5, "strategy__sample": 3}
    textbook = evonas.run(tabular_config(tmp_path, name="birth", **overrides))
    told_async = evonas.run(tabular_config(tmp_path, name="async", campaign__order="async",
                                           **overrides))
    assert len(textbook.individuals()) > 1.5 * 1000  # many cached copies
    individuals = told_async.individuals()
    assert sum(ind.status == "ok" for ind in individuals) == 1000
    assert len(individuals) < 1.1 * 1000
    walked = [ind for ind in individuals if "via" in ind.operator]
    assert walked, "the population converged: some children are walks from known ones"
    for ind in walked:  # each step of a walk is a mutation record, the last one its own
        assert all("op" in step for step in ind.operator["via"])
    assert max(ind.fitness or 0 for ind in individuals) >= \
        max(ind.fitness or 0 for ind in textbook.individuals())
