"""The NEAT strategy: generations, speciation, sharing, stagnation, elitism, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import evonas
from evonas.config import ConfigError, load_config
from evonas.strategies import Evaluated, build_strategy, strategy_class
from evonas.strategies.neat import NEAT, _apportion
from evonas.tasks.control import XORTask
from genomes import CPPNGenome, GenomeError, NB201Space, NEATSpace
from tests.campaigns import interrupted_equals_uninterrupted, with_changes


def xor_config(tmp_path: Path, **changes: object) -> dict:
    """A small in-process NEAT campaign on XOR."""
    config: dict = {
        "name": "x", "seed": 0, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "neat"},
        "task": {"name": "xor"},
        "strategy": {"name": "neat", "population": 20},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 100},
        "campaign": {"progress": False, "checkpoint_every": 7},
    }
    return with_changes(config, changes)


def drive(strategy: NEAT, tells: int, start_id: int = 0) -> list[tuple]:
    """Ask one, tell one (XOR fitness), ``tells`` times; return what was asked."""
    task = XORTask()
    asked, next_id = [], start_id
    for _ in range(tells):
        for c in strategy.ask(1):
            asked.append((next_id, c.genome.to_json(), c.parents, json.dumps(c.operator),
                          c.generation))
            strategy.tell([Evaluated(next_id, c.genome, task.evaluate(c.genome, 0)["fitness"])])
            next_id += 1
    return asked


def make(**options: object) -> NEAT:
    return NEAT(NEATSpace(), np.random.default_rng(3), **{"population": 12, **options})


def test_registered_and_configurable() -> None:
    assert strategy_class("neat") is NEAT
    strategy = build_strategy({"name": "neat", "population": 8, "target_species": 2},
                              NEATSpace(), np.random.default_rng(0))
    assert isinstance(strategy, NEAT) and strategy.target_species == 2
    with pytest.raises(GenomeError, match="needs space.name: neat"):
        NEAT(NB201Space(), np.random.default_rng(0))


def test_a_generation_is_asked_whole_and_waits_for_its_results() -> None:
    s = make()
    first = s.ask(100)
    assert len(first) == 12 and s.ask(5) == []
    assert all(c.generation == 0 and c.operator == {"op": "random"} for c in first)
    # every initial genome shares the same innovation numbers (one tracker)
    assert len({tuple(c.genome.connection_map) for c in first}) == 1
    task = XORTask()
    for i, c in enumerate(first[:-1]):
        s.tell([Evaluated(i, c.genome, task.evaluate(c.genome, 0)["fitness"])])
        assert s.ask(3) == []
    s.tell([Evaluated(11, first[-1].genome, None)])  # a failed evaluation
    assert s.generation == 1 and s.species
    members = sorted(i for sp in s.species for i in sp.members)
    assert members == list(range(12))  # every genome in exactly one species
    second = s.ask(100)
    assert len(second) == 12 and all(c.generation == 1 for c in second)
    assert all(set(c.parents) <= set(range(11)) for c in second)  # the failed one never breeds
    assert s.summary()["species"] == len(s.species)


def test_state_round_trip_continues_identically() -> None:
    a = make(add_node_prob=0.3, add_connection_prob=0.3)
    drive(a, 41)  # mid-generation
    state = json.loads(json.dumps(a.state_dict()))  # JSON-safe
    b = make(add_node_prob=0.3, add_connection_prob=0.3)
    b.load_state_dict(state)
    assert b.tracker == a.tracker
    assert drive(a, 40, 1000) == drive(b, 40, 1000)


def test_state_saves_genomes_as_json_text_and_loads_the_older_dict_form() -> None:
    a = make(add_node_prob=0.3, add_connection_prob=0.3)
    drive(a, 41)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["members"] and all(isinstance(m["genome"], str) for m in state["members"])
    assert all(CPPNGenome.from_json(m["genome"]) == m_obj.genome
               for m, m_obj in zip(state["members"], a.members, strict=True))
    assert all(isinstance(s["representative"], str) for s in state["species"])
    # States saved before held each genome as its dict: they load and continue the same.
    old = json.loads(json.dumps(state))
    for m in old["members"]:
        m["genome"] = json.loads(m["genome"])
    for s in old["species"]:
        s["representative"] = json.loads(s["representative"])
    b = make(add_node_prob=0.3, add_connection_prob=0.3)
    b.load_state_dict(old)
    assert [m.genome for m in b.members] == [m.genome for m in a.members]
    assert drive(a, 40, 1000) == drive(b, 40, 1000)


def test_threshold_moves_toward_the_target_species_count() -> None:
    s = make(target_species=50, compatibility_threshold=3.0, threshold_step=0.5)
    drive(s, 24)
    assert s.threshold == pytest.approx(2.0)  # far fewer than 50 species: it shrinks
    s = make(target_species=1, compatibility_threshold=0.01, threshold_step=0.5,
             min_threshold=0.01)
    drive(s, 12)
    assert len(s.species) > 1 and s.threshold == pytest.approx(0.51)


def test_stagnant_species_stop_reproducing_unless_protected() -> None:
    s = make(stagnation=2, species_elitism=1, compatibility_threshold=0.5)
    drive(s, 12)
    assert len(s.species) >= 3
    for sp in s.species:
        sp.last_improved = -10
    keep = s._reproducing_species()
    best = max(s.species, key=lambda sp: sp.best)
    assert [sp.id for sp in keep] == [best.id]
    children = s.ask(100)
    assert {c.operator["species"] for c in children} == {best.id}


def test_elites_pass_on_unchanged_and_sharing_apportions_exactly() -> None:
    s = make(elitism=1, elitism_min_size=1)
    drive(s, 12)
    by_id = {m.id: m for m in s.members}
    children = s.ask(100)
    elites = [c for c in children if c.operator["op"] == "elite"]
    counts = dict(zip([sp.id for sp in s._reproducing_species()],
                      _apportion(s._shared_fitness(s._reproducing_species(), by_id), 12),
                      strict=True))
    assert len(children) == 12
    for c in elites:
        assert c.genome == by_id[c.parents[0]].genome
        species = next(sp for sp in s.species if sp.id == c.operator["species"])
        assert by_id[c.parents[0]].fitness_value == max(by_id[i].fitness_value
                                                        for i in species.members)
    assert len(elites) == sum(1 for n in counts.values() if n > 0)
    assert _apportion([1.0, 1.0, 2.0], 10) == [3, 2, 5]
    assert _apportion([0.0, 0.0], 5) == [3, 2]
    assert sum(_apportion([0.3, 0.3, 0.4], 7)) == 7


def test_neat_solves_xor() -> None:
    s = NEAT(NEATSpace(), np.random.default_rng(0))
    task = XORTask()
    best, next_id = 0.0, 0
    while best < 3.9 and s.generation < 100:
        candidates = s.ask(1000)
        metrics = task.evaluate_batch([c.genome for c in candidates], [0] * len(candidates))
        results = []
        for c, m in zip(candidates, metrics, strict=True):
            results.append(Evaluated(next_id, c.genome, m["fitness"]))
            best = max(best, m["fitness"])
            next_id += 1
        s.tell(results)
    assert best >= 3.9


# --------------------------------------------------------------------------- campaigns
def test_campaign_on_xor_records_generations_lineage_and_target(tmp_path: Path) -> None:
    run = evonas.run(xor_config(tmp_path, task={"name": "xor", "target": 2.5}),
                     **{"campaign.stop_at_target": False})
    individuals = run.individuals()
    assert all(isinstance(ind.genome, CPPNGenome) for ind in individuals)
    assert [ind.generation for ind in individuals[:20]] == [0] * 20
    assert max(ind.generation for ind in individuals) >= 4
    assert sum(ind.status == "ok" for ind in individuals) == 100
    elites = [ind for ind in individuals if ind.operator["op"] == "elite"]
    assert elites and all(ind.status == "cached" for ind in elites)  # no evaluation spent
    assert all(all(p < ind.id for p in ind.parents) for ind in individuals)
    reached = run.evaluations_to_target()
    first = next(ind for ind in individuals if ind.fitness is not None and ind.fitness >= 2.5)
    spent = sum(1 for ind in individuals[:first.id + 1] if ind.status in ("ok", "failed"))
    assert reached == spent
    assert run.evaluations_to_target(99.0) is None
    assert run.status()["best"]["genome"].startswith("cppn")


def test_campaign_stops_when_the_target_is_reached(tmp_path: Path) -> None:
    run = evonas.run(xor_config(tmp_path, task={"name": "xor", "target": 2.5}))
    status = run.status()
    assert status["state"] == "completed"
    assert status["evaluations_to_target"] is not None
    assert status["evaluations"] < 100  # stopped early, budget left
    assert status["best"]["fitness"] >= 2.5


def test_interrupted_neat_campaign_resumes_to_the_same_journal(tmp_path: Path) -> None:
    interrupted_equals_uninterrupted(tmp_path, 47, xor_config)  # mid-generation, between snapshots


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="strategy.populaton: unknown key"):
        load_config(xor_config(tmp_path, strategy={"name": "neat", "populaton": 3}))
    with pytest.raises(ConfigError, match="task.target"):
        load_config(xor_config(tmp_path, task={"name": "xor", "target": "high"}))
    config = load_config(xor_config(tmp_path))
    assert config.section("task")["target"] == 3.9
