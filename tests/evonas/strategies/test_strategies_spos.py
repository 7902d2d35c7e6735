"""SPOS: single paths through the supernet, the search on inherited weights, state, campaigns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import evonas
from evonas.api import start_campaign
from evonas.compiler.compile import compile_genome
from evonas.compiler.supernet import Supernet, genome_path, path_genome
from evonas.config import ConfigError, load_config, validate
from evonas.evaluation.threads import torch_threads
from evonas.storage import JOURNAL_FILE, Journal
from evonas.strategies import Evaluated, strategy_class
from evonas.strategies.spos import SPOS
from genomes import DAGGenome, FreeSpace, NB201Space
from tests.campaigns import Kill
from tests.conftest import tabular_config

SPACE = NB201Space(stem_channels=4, cells_per_stage=1)
TASK = {"name": "digits", "epochs": 1, "batch_size": 128}
CELL = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: the in-process evaluations of the campaigns run several times faster
    on a loaded machine than with a thread per core (results are the same)."""
    with torch_threads(1):
        yield


def bound_spos(seed: int = 0, **options: object) -> SPOS:
    settings: dict = {"epochs": 2, "batch_size": 128, "evaluations": 20, "population": 6,
                      "sample": 2, "top_k": 3, "bn_images": 128, **options}
    strategy = SPOS(SPACE, np.random.default_rng(seed), **settings)
    strategy.bind_task(TASK)
    return strategy


def spos_config(tmp_path: Path, **changes: object) -> dict:
    """A tiny SPOS campaign on digits (4-channel supernet, one cell per stage)."""
    base = {"space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
            "task": dict(TASK),
            "strategy": {"name": "spos", "epochs": 2, "batch_size": 128, "evaluations": 20,
                         "population": 6, "sample": 2, "top_k": 3, "bn_images": 128},
            "budget__evaluations": 10}
    return tabular_config(tmp_path, **{**base, **changes})


# --------------------------------------------------------------------------- single paths
@pytest.mark.parametrize("arch", [CELL, "|skip_connect~0|+|none~0|none~1|+|none~0|"
                                  "skip_connect~1|avg_pool_3x3~2|"])
def test_a_path_is_the_compiled_cell_with_inherited_weights(arch: str) -> None:
    """The path's weights load into the cell's compiled network (strict: the same parameters,
    no more, no fewer) and both compute the same logits."""
    space = NB201Space(stem_channels=4, cells_per_stage=2)
    torch.manual_seed(0)
    net = Supernet(space, 1, 10).eval()
    genome = DAGGenome.from_nb201(arch)
    path = genome_path(genome, net.ops)
    assert path_genome(path, net.ops) == genome
    compiled = compile_genome(genome, space, (1, 8, 8), 10)
    compiled.load_state_dict(net.path_state_dict(path), strict=True)
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(compiled.eval()(x), net.forward_path(x, path))


def test_a_path_trains_only_its_own_ops() -> None:
    net = Supernet(SPACE, 1, 10)
    path = genome_path(DAGGenome.from_nb201(CELL), net.ops)
    net.forward_path(torch.randn(4, 1, 8, 8), path).sum().backward()
    cell = net.layers[0]
    for i, edge in enumerate(cell.edges.values()):
        for j, op in enumerate(edge.ops):
            grads = [p.grad for p in op.parameters()]
            if j == path[i]:
                assert all(g is not None for g in grads)
            else:
                assert all(g is None for g in grads)
    with pytest.raises(ValueError, match="expected 6 op indices"):
        net.forward_path(torch.randn(2, 1, 8, 8), path[:5])


# --------------------------------------------------------------------------- search
def test_search_trains_the_supernet_then_proposes_its_best_cells_in_order() -> None:
    strategy = bound_spos(epochs=3)
    first = strategy.ask(2)
    record = first[0].operator
    assert record["op"] == "spos" and record["rank"] == 0 and record["epoch"] == 3
    assert record["search_seconds"] >= record["supernet_seconds"] > 0
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    assert record["history"][-1]["train_loss"] < record["history"][0]["train_loss"]
    assert record["history"][-1]["lr"] < record["history"][0]["lr"] == 0.05  # cosine
    assert "search_seconds" not in first[1].operator and first[1].operator["rank"] == 1
    assert 1 <= record["distinct"] == record["scored"] <= 20
    rest = strategy.ask(5)
    assert [c.operator["rank"] for c in rest] == [2] and strategy.done
    assert strategy.ask(1) == []
    proposed = first + rest
    scores = [c.operator["supernet_accuracy"] for c in proposed]
    assert scores == sorted(scores, reverse=True)
    assert len({c.genome.canonical_hash() for c in proposed}) == 3
    # the record's score is the supernet accuracy, recomputed the same way
    assert strategy.supernet_accuracy(proposed[0].genome) == pytest.approx(scores[0], abs=1e-6)


def test_the_search_beats_random_cells_on_the_supernet() -> None:
    """Evolution on supernet accuracy proposes cells the supernet scores above random ones."""
    strategy = bound_spos(seed=1, epochs=3, evaluations=40, top_k=1)
    best = strategy.ask(1)[0].operator["supernet_accuracy"]
    rng = np.random.default_rng(5)
    random_cells = [SPACE.sample(rng) for _ in range(10)]
    with strategy._torch():  # noqa: SLF001
        randoms = [strategy.supernet_accuracy(g) for g in random_cells]
    assert best > float(np.mean(randoms)) and best >= float(np.median(randoms)), (best, randoms)


def test_supernet_accuracy_is_repeatable_in_both_batch_norm_modes() -> None:
    strategy = bound_spos(epochs=2)
    strategy.ask(1)
    genome = DAGGenome.from_nb201(CELL)
    assert strategy.supernet_accuracy(genome) == strategy.supernet_accuracy(genome)
    strategy.bn_images = 0  # each validation batch's own statistics: running ones untouched
    before = [t.clone() for t in strategy.net.state_dict().values()]
    value = strategy.supernet_accuracy(genome)
    after = list(strategy.net.state_dict().values())
    assert 0 <= value <= 1 and value == strategy.supernet_accuracy(genome)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True)
               if a.dtype != torch.int64)  # num_batches_tracked counts, nothing else moves


def test_state_round_trips_through_json() -> None:
    original = bound_spos(seed=3)
    before = json.loads(json.dumps(original.state_dict()))
    assert before["queue"] is None
    original.ask(1)
    state = json.loads(json.dumps(original.state_dict()))
    restored = bound_spos(seed=99)  # a different seed: everything must come from the state
    restored.load_state_dict(state)
    a, b = original.ask(5), restored.ask(5)
    assert [(c.genome, c.operator) for c in a] == [(c.genome, c.operator) for c in b]
    assert restored.done and restored.summary() == original.summary()
    # before the search, the state is the generator: the same seed repeats the same search
    again = bound_spos(seed=3)
    again.load_state_dict(before)
    assert [c.genome for c in again.ask(3)] == [c.genome for c in bound_spos(seed=3).ask(3)]


def test_tell_learns_nothing_and_ask_needs_bind_task() -> None:
    strategy = bound_spos()
    candidate = strategy.ask(1)[0]
    strategy.tell([Evaluated(0, candidate.genome, 0.5)])
    with pytest.raises(RuntimeError, match="bind_task"):
        SPOS(SPACE, np.random.default_rng(0)).ask(1)


# --------------------------------------------------------------------------- config and task
def test_config_errors_name_the_field(tmp_path: Path) -> None:
    def check(match: str, **changes: object) -> None:
        with pytest.raises(ConfigError, match=match):
            validate(spos_config(tmp_path, **changes), "x.yaml")

    check(r"x.yaml: strategy.name: spos trains a weight-sharing supernet over the nb201 cell "
          r"space \(space.name: nb201\), not 'free'", space=FreeSpace().to_dict())
    check(r"x.yaml: strategy.sample: must not exceed strategy.population \(4\), got 5",
          strategy={"name": "spos", "population": 4, "sample": 5})
    check(r"strategy.lr_min: must not exceed strategy.lr",
          strategy={"name": "spos", "lr": 0.01, "lr_min": 0.1})
    check(r"strategy.device: unknown torch device 'gpu7'",
          strategy={"name": "spos", "device": "gpu7"})
    check(r"strategy.top_k: must be at least 1", strategy={"name": "spos", "top_k": 0})
    assert strategy_class("spos") is SPOS
    with pytest.raises(ConfigError, match="not 'free'"):
        SPOS(FreeSpace(), np.random.default_rng(0))


def test_a_task_without_data_is_rejected_before_any_run_folder(tmp_path: Path) -> None:
    config = tabular_config(tmp_path, strategy={"name": "spos"})
    with pytest.raises(ConfigError, match="spos trains a supernet on the task's train and "
                                          "validation splits; task 'tabular' has none"):
        evonas.run(config)
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- campaigns
def _proposals(run_dir: Path) -> list[tuple]:
    """Genome, rank and supernet accuracy of every individual, and its evaluation's outcome."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        evals = {e.individual_id: e for e in journal.evaluations()}
        return [(i.hash, i.operator["rank"], i.operator["supernet_accuracy"],
                 evals[i.id].status, evals[i.id].fitness) for i in journal.individuals()]


def test_campaign_trains_the_top_cells_from_scratch_and_counts_the_search(
        tmp_path: Path) -> None:
    run = evonas.run(spos_config(tmp_path))
    individuals = run.individuals()
    assert [ind.operator["rank"] for ind in individuals] == [0, 1, 2]
    assert all(0 <= ind.metrics["test_accuracy"] <= 1 for ind in individuals)
    search = individuals[0].operator["search_seconds"]
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        evaluation = sum(ev.seconds or 0.0 for ev in journal.evaluations() if ev.status == "ok")
    status = run.status()
    assert status["device_seconds"] == pytest.approx(search + evaluation, abs=2e-3)
    assert status["search"]["seconds"] == pytest.approx(search, abs=2e-3)
    assert status["search"]["epoch"] == 2
    assert status["state"] == "completed"
    assert [h["epoch"] for h in run.search_history()] == [1, 2]


@pytest.mark.parametrize("checkpoint_every", [1, 100])
def test_a_killed_campaign_resumes_to_the_same_proposals(tmp_path: Path,
                                                         checkpoint_every: int) -> None:
    """Killed after one tell and resumed, the campaign proposes and scores what an
    uninterrupted one does: from the snapshot's ranking (checkpoint every tell) or by
    repeating the search from the seed (no snapshot yet)."""
    changes = {"campaign__checkpoint_every": checkpoint_every}
    full = evonas.run(spos_config(tmp_path, name="full", **changes))
    config = load_config(spos_config(tmp_path, name="cut", **changes))

    def stop(counters: dict) -> None:
        if counters["told"] == 1:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, stop)
    cut = Path(config.runs_dir) / "cut"
    assert len(_proposals(cut)) < 3
    evonas.resume(cut)
    assert _proposals(cut) == _proposals(full.path)
    assert [r[1] for r in _proposals(cut)] == [0, 1, 2]
