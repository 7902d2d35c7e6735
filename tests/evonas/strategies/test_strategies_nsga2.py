"""NSGA-II: multi-objective selection, resumable state, and the Pareto front of a run."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

import evonas
from evonas.analysis.pareto import non_dominated, pareto_front, print_pareto
from evonas.config import ConfigError
from evonas.strategies import NSGA2, Evaluated
from evonas.strategies.nsga2 import check_config, check_objectives
from genomes import FreeSpace, NB201Space
from tests.campaigns import interrupted_equals_uninterrupted
from tests.conftest import tabular_config

COST_TASK = {"name": "tabular", "table": "nb201_cifar10_cost", "metric": "cifar10_test_acc"}
OBJECTIVES = [{"metric": "fitness", "goal": "max"}, {"metric": "params", "goal": "min"}]


def toy_metrics(genome) -> tuple[float, dict]:
    """Two conflicting objectives: 3x3 convs (up) against a size proxy (down)."""
    text = genome.describe()
    fitness = text.count("3x3") + int(genome.canonical_hash()[:4], 16) / 1e6
    params = text.count("conv") * 10 + len(genome.edges)
    return fitness, {"fitness": fitness, "params": params}


def drive(strategy: NSGA2, steps: int, start_id: int = 0, fail_every: int = 0) -> list[tuple]:
    asked, next_id = [], start_id
    for _ in range(steps):
        for c in strategy.ask(1):
            asked.append((next_id, c.genome.canonical_hash(), c.parents, c.operator["op"]))
            fitness, metrics = toy_metrics(c.genome)
            if fail_every and next_id % fail_every == 0:
                fitness, metrics = None, {}
            strategy.tell([Evaluated(next_id, c.genome, fitness, metrics)])
            next_id += 1
    return asked


def make(space=None, **options) -> NSGA2:
    return NSGA2(space or NB201Space(), np.random.default_rng(5), population=8, **options)


@pytest.mark.parametrize("space", [NB201Space(), FreeSpace(max_nodes=6, max_edges=10)])
def test_state_round_trip_continues_identically(space) -> None:
    a = make(space)
    drive(a, 27, fail_every=7)  # mid-generation, with failures in the population
    state = json.loads(json.dumps(a.state_dict(), allow_nan=False))  # strict JSON
    b = make(space)
    b.load_state_dict(state)
    assert drive(a, 40, 1000, fail_every=7) == drive(b, 40, 1000, fail_every=7)


def test_generations_select_with_nsga2_and_breed_from_the_population() -> None:
    s = make()
    first = s.ask(100)
    assert len(first) == 8 and s.ask(3) == []  # waits for the whole generation
    for i, c in enumerate(first):
        s.tell([Evaluated(i, c.genome, *toy_metrics(c.genome))])
    assert s.generation == 1 and len(s.population) == 8
    children = s.ask(100)
    assert len(children) == 8 and all(c.generation == 1 for c in children)
    assert all(p in range(8) for c in children for p in c.parents)
    ops = {c.operator["op"] for c in children}
    assert ops <= {"crossover_dag", "reproduce"} | {"mutate_op"}
    for j, c in enumerate(children):
        s.tell([Evaluated(8 + j, c.genome, *toy_metrics(c.genome))])
    # The survivors' first front is non-dominated among all 16 told so far.
    values = np.array([m.fitness.values for m in s.population])
    front = [m for m, keep in zip(s.population, non_dominated(values), strict=True) if keep]
    assert front and s.summary()["front"] == len(front)


def test_failed_evaluations_rank_last() -> None:
    s = make()
    first = s.ask(8)
    for i, c in enumerate(first):
        fitness, metrics = toy_metrics(c.genome)
        s.tell([Evaluated(i, c.genome, None if i < 4 else fitness, metrics)])
    assert [m.failed for m in s.population] == [False] * 4 + [True] * 4
    children = s.ask(8)
    for j, c in enumerate(children):
        s.tell([Evaluated(8 + j, c.genome, *toy_metrics(c.genome))])
    assert not any(m.failed for m in s.population)  # 12 successes beat 4 failures


def test_objectives_come_from_the_metrics_and_minimise_when_asked() -> None:
    s = make(objectives=[{"metric": "params", "goal": "min"}])
    for i, c in enumerate(s.ask(8)):
        s.tell([Evaluated(i, c.genome, 1.0, {"params": float(i)})])
    assert [m.id for m in s.population][:1] == [0]  # smallest params first
    with pytest.raises(ConfigError, match=r"strategy.objectives\[0\].metric: .*'params'"):
        t = make(objectives=[{"metric": "params", "goal": "min"}])
        c = t.ask(1)[0]
        t.tell([Evaluated(0, c.genome, 1.0, {"fitness": 1.0})])


@pytest.mark.parametrize(("objectives", "message"), [
    ([], r"strategy.objectives: must be a non-empty list"),
    ([{"metric": "fitness", "goal": "up"}], r"strategy.objectives\[0\].goal: must be max or min"),
    ([{"metric": "fitness"}, {"metric": "fitness"}], r"objectives\[1\].metric: .* twice"),
    ([{"metrc": "fitness"}], r"strategy.objectives\[0\].metrc: unknown key"),
    (["fitness"], r"strategy.objectives\[0\]: must be a mapping"),
])
def test_invalid_objectives_name_the_entry(objectives, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check_objectives(objectives, "x.yaml")
    with pytest.raises(ConfigError, match=message):
        make(objectives=objectives)


def test_config_checks() -> None:
    assert check_objectives(None) == OBJECTIVES
    with pytest.raises(ConfigError, match="x.yaml: strategy.population: .* multiple of 4"):
        check_config({"population": 10}, "x.yaml")
    with pytest.raises(ConfigError, match="strategy.mutation_prob: must be at most 1"):
        check_config({"mutation_prob": 1.5})
    config = evonas.config.load_config(tabular_config(Path("/tmp"), strategy={"name": "nsga2"}))
    assert config.section("strategy")["objectives"] is None
    assert config.section("strategy")["crossover_prob"] == 0.5


def test_leaves_global_random_alone() -> None:
    random.seed(3)
    np.random.seed(3)
    expected = (random.random(), np.random.random())
    random.seed(3)
    np.random.seed(3)
    drive(make(), 40)
    assert (random.random(), np.random.random()) == expected


def test_campaign_front_is_non_dominated_and_complete(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, task=COST_TASK,
                                    strategy={"name": "nsga2", "population": 12,
                                              "objectives": OBJECTIVES},
                                    budget__evaluations=60))
    front = pareto_front(run)
    ok = [ind for ind in run.individuals() if ind.status == "ok"]
    assert front and len(ok) == 60

    def point(ind) -> tuple[float, float]:
        return ind.fitness, -ind.metrics["params"]

    def dominates(a, b) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    for ind in front:  # nobody beats a front member...
        assert not any(dominates(point(o), point(ind)) for o in ok)
    ids = {ind.id for ind in front}
    for ind in ok:  # ...and every other individual is beaten by someone on the front
        if ind.id not in ids:
            assert any(dominates(point(f), point(ind)) or point(f) == point(ind) for f in front)
    fitnesses = [ind.fitness for ind in front]
    assert fitnesses == sorted(fitnesses, reverse=True)
    assert front[0].fitness == run.best().fitness

    text = io.StringIO()
    print_pareto(run, file=text)
    lines = text.getvalue().splitlines()
    assert "objectives: fitness (max), params (min)" in lines[0]
    assert len(lines) == 2 + len(front) and lines[2].split()[0] == str(front[0].id)
    text = io.StringIO()
    print_pareto(run, as_json=True, file=text)
    rows = json.loads(text.getvalue())
    assert [r["id"] for r in rows] == [ind.id for ind in front]
    assert set(rows[0]["objectives"]) == {"fitness", "params"}


def test_pareto_of_a_single_objective_run_is_its_best(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, budget__evaluations=20))
    front = pareto_front(run, [{"metric": "fitness", "goal": "max"}])
    assert [ind.id for ind in front] == [run.best().id]
    with pytest.raises(ConfigError, match="do not report 'params'"):
        pareto_front(run)  # the plain table has no params column


def test_resume_after_abrupt_stop_reproduces_the_journal(tmp_path: Path) -> None:
    n = interrupted_equals_uninterrupted(
        tmp_path, kill_at=19, task=COST_TASK, budget__evaluations=40,
        strategy={"name": "nsga2", "population": 8, "objectives": OBJECTIVES})
    assert n >= 40
