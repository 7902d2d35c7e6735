"""Retraining found architectures: weights kept tensors-only, journaled, resumable, exportable."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import evonas.retrain as retrain_module
from evonas.api import run as run_campaign
from evonas.cli.export import export_best
from evonas.errors import ConfigError, JournalError, UsageError
from evonas.retrain import (
    TRAINED_EVENT,
    latest_models,
    latest_trained,
    load_state,
    resolve_task,
    retrain,
    trained_models,
    trained_module,
)
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, Journal
from evonas.tasks import build_task, training
from genomes import space_from_dict
from tests.conftest import tabular_config


def digits_config(runs_dir: Path, name: str = "digits") -> dict[str, Any]:
    """A tiny digits campaign: three random free-space networks, one epoch each."""
    return {
        "name": name, "seed": 0, "runs_dir": str(runs_dir),
        "space": {"name": "free", "mode": "network", "max_nodes": 4, "max_edges": 5,
                  "widths": [8, 16], "stem_channels": 8,
                  "ops": ["conv_3x3", "conv_5x5", "max_pool_3x3", "identity"]},  # quick on CPUs
        "task": {"name": "digits", "epochs": 1},
        "strategy": {"name": "random"},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 3},
        "campaign": {"order": "birth", "progress": False},
    }


@functools.cache
def searched_digits_run() -> Path:
    """The :func:`digits_config` campaign, run once per test session (never changed: tests train
    in copies of it, :func:`copy_run`)."""
    runs_dir = Path(tempfile.mkdtemp(prefix="evonas-retrain-")) / "runs"
    atexit.register(shutil.rmtree, runs_dir.parent, ignore_errors=True)
    run_campaign(digits_config(runs_dir)).close()
    return runs_dir / "digits"


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a run folder that a test may change (without SQLite's side files)."""
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("*-wal", "*-shm", "lock"))
    return copy


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_run(searched_digits_run(), tmp_path_factory.mktemp("retrain"))


@pytest.fixture(scope="module")
def trained(digits_run: Path) -> retrain_module.RetrainResult:
    """The best individual of the digits run retrained for one epoch (the folder keeps it)."""
    return retrain(digits_run, best=True, epochs=1, device="cpu")


def test_retrain_reports_test_accuracy_and_keeps_the_weights(
        digits_run: Path, trained: retrain_module.RetrainResult) -> None:
    (model,) = trained.models
    with Run(digits_run) as run:
        best = run.best()
    assert best is not None and model.individual_id == best.id and not model.reused
    assert 0 <= model.metrics["test_accuracy"] <= 1
    assert model.metrics["params"] > 0 and model.metrics["train_seconds"] >= 0
    assert model.metrics["epochs"] == 1 and model.recipe["epochs"] == 1
    # train + validation: 80% of the 1,797 digits; the test split is the other 20%
    assert model.metrics["train_samples"] + model.metrics["test_samples"] == 1797
    assert model.weights == digits_run / "trained" / f"{best.id}-{model.key}.pt"
    assert model.intact()
    sidecar = json.loads(model.sidecar.read_text())
    assert sidecar["sha256"] == model.sha256 and sidecar["genome"] == best.genome.to_dict()
    assert sidecar["metrics"] == model.metrics and sidecar["recipe"] == model.recipe
    assert sidecar["input_shape"] == [1, 8, 8] and sidecar["num_classes"] == 10
    assert not [p for p in model.weights.parent.iterdir() if p.name.startswith(".")]  # no temp
    with Journal.open(digits_run / JOURNAL_FILE, readonly=True) as journal:
        ((seq, _, ind_id, data),) = journal.events(TRAINED_EVENT)
    assert (seq, ind_id) == (model.seq, best.id)
    assert data["weights"] == f"trained/{model.weights.name}" and data["sha256"] == model.sha256
    assert data["task"]["name"] == "digits" and data["metrics"] == model.metrics


def test_the_weights_load_tensors_only_and_give_the_reported_accuracy(
        digits_run: Path, trained: retrain_module.RetrainResult) -> None:
    (model,) = trained.models
    state = torch.load(model.weights, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    with Run(digits_run) as run:
        individual = run.individual(model.individual_id)
        space = space_from_dict(run.config["space"])
    module = trained_module(model, individual.genome, space)
    for key, value in load_state(model).items():
        assert torch.equal(module.state_dict()[key], value) and torch.equal(state[key], value)
    task = build_task(model.task, space)
    x_test = torch.from_numpy(task.splits.x_test)
    y_test = torch.from_numpy(task.splits.y_test)
    accuracy, loss = training.score(module, x_test, y_test, model.recipe["eval_batch_size"])
    assert accuracy == model.metrics["test_accuracy"]
    assert loss == pytest.approx(model.metrics["test_loss"], rel=1e-6)


def test_a_rerun_skips_what_is_trained(digits_run: Path,
                                       trained: retrain_module.RetrainResult) -> None:
    again = retrain(digits_run, best=True, epochs=1, device="cpu")
    (model,) = again.models
    assert model.reused and model.key == trained.models[0].key
    assert len(trained_models(digits_run)) == 1  # nothing new journaled


def test_a_damaged_weight_file_is_trained_again(digits_run: Path,
                                                trained: retrain_module.RetrainResult,
                                                tmp_path: Path) -> None:
    run_dir = copy_run(digits_run, tmp_path)
    (old,) = trained_models(run_dir)
    weights = run_dir / "trained" / old.weights.name
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as by a full disk
    assert not old.intact()
    with pytest.raises(JournalError, match="damaged"):
        load_state(old)
    assert latest_trained(run_dir, old.individual_id) == (None, 1)
    (redone,) = retrain(run_dir, best=True, epochs=1, device="cpu").models
    assert not redone.reused and redone.intact() and redone.weights == weights
    # the same seed on the CPU: the same training (only the time it took differs)
    assert {**redone.metrics, "train_seconds": 0} == {**old.metrics, "train_seconds": 0}
    assert [m.seq for m in trained_models(run_dir)] == [old.seq, redone.seq]
    assert latest_trained(run_dir, old.individual_id) == (redone, 0)


def test_a_training_killed_before_its_event_is_redone(digits_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = copy_run(digits_run, tmp_path)
    with Run(run_dir) as run:
        best = run.best()
        others = [i for i in run.individuals() if best is None or i.id != best.id]
    quickest = min(others, key=lambda i: i.metrics["train_seconds"]).id
    real_write = retrain_module._write_file

    def killed_at_the_sidecar(folder: Path, name: str, data: bytes) -> None:
        if name.endswith(".json"):
            raise KeyboardInterrupt
        real_write(folder, name, data)

    monkeypatch.setattr(retrain_module, "_write_file", killed_at_the_sidecar)
    with pytest.raises(KeyboardInterrupt):
        retrain(run_dir, ids=[quickest], epochs=1, device="cpu")
    monkeypatch.undo()
    assert trained_models(run_dir, quickest) == []  # its weights were written, not journaled
    assert len(list((run_dir / "trained").glob(f"{quickest}-*.pt"))) == 1
    (model,) = retrain(run_dir, ids=[quickest], epochs=1, device="cpu").models
    assert not model.reused and model.intact() and model.individual_id == quickest
    assert trained_models(run_dir, quickest) == [model]
    assert not [p for p in model.weights.parent.iterdir() if p.name.startswith(".")]


def test_another_task_config_trains_separately(digits_run: Path, tmp_path: Path,
                                               trained: retrain_module.RetrainResult) -> None:
    run_dir = copy_run(digits_run, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"task": {"name": "digits", "split_seed": 1, "epochs": 1}}))
    result = retrain(run_dir, best=True, task_file=other, device="cpu")
    (model,) = result.models
    assert result.task["split_seed"] == 1 and model.task["split_seed"] == 1
    assert not model.reused and model.key != trained.models[0].key
    assert 0 <= model.metrics["test_accuracy"] <= 1
    assert [m.key for m in latest_models(run_dir)] == [trained.models[0].key, model.key]
    assert latest_trained(run_dir, model.individual_id)[0] == model


def test_export_writes_the_trained_weights(digits_run: Path, tmp_path: Path,
                                           trained: retrain_module.RetrainResult) -> None:
    (model,) = trained.models
    with Run(digits_run) as run:
        best, config = run.best(), run.config
    assert best is not None
    note = export_best(best, config, tmp_path / "best.pt", run_dir=digits_run)
    assert note.startswith("trained on digits (1 epochs, test accuracy")
    exported = torch.load(tmp_path / "best.pt", weights_only=True)
    kept = load_state(model)
    assert list(exported) == list(kept)
    assert all(torch.equal(exported[k], kept[k]) for k in kept)
    untrained = export_best(best, config, tmp_path / "fresh.pt")  # no run folder: untrained
    assert untrained.startswith("untrained: no kept weights; run `evonas train RUN --id")


def test_output_exports_every_format(digits_run: Path, tmp_path: Path,
                                     trained: retrain_module.RetrainResult) -> None:
    result = retrain(digits_run, best=True, epochs=1, device="cpu", output=tmp_path / "out")
    (model,) = result.models
    assert model.reused  # trained already: exported from the kept weights
    assert sorted(p.name for p in result.exports) == sorted(
        model.weights.with_suffix(s).name for s in (".pt", ".onnx", ".py"))
    exported = torch.load(tmp_path / "out" / model.weights.name, weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in load_state(model).items())


# ------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("tabular")
    run_campaign(tabular_config(tmp, budget__evaluations=4)).close()
    yield tmp / "runs" / "t"


def test_a_table_lookup_task_cannot_train(tabular_run: Path) -> None:
    with pytest.raises(UsageError, match="cannot train: task 'tabular' looks results up in a "
                                         "table"):
        retrain(tabular_run, best=True)
    assert not (tabular_run / "trained").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ids": [99]}, "--id 99: no such individual"),
    ({"ids": [0], "best": True}, "give one of them"),
    ({"top": 0}, "--top 0: must be at least 1"),
    ({"epochs": 0}, "--epochs 0: must be at least 1"),
    ({"overrides": ["budget.evaluations=3"]}, "training changes task options only"),
    ({"device": "abacus"}, "not a torch device"),
])
def test_bad_choices_are_usage_errors(digits_run: Path, kwargs: dict[str, Any],
                                      message: str) -> None:
    with pytest.raises(UsageError, match=message):
        retrain(digits_run, **kwargs)


def test_a_bad_task_option_names_the_field(digits_run: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.yaml: task\.epochs: must be an integer"):
        retrain(digits_run, overrides=["task.epochs=many"])


def test_a_task_named_by_import_path_in_a_run_folder_is_never_built(tmp_path: Path) -> None:
    config = digits_config(tmp_path)
    config["task"] = {"name": "os:system"}
    with pytest.raises(UsageError, match="is named by import path"):
        resolve_task(config, tmp_path)


def test_a_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no run folder here"):
        retrain(tmp_path / "nowhere")
