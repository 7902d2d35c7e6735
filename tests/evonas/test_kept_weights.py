"""``campaign.keep_weights``: the K best individuals' trained weights stay in the run folder,
listed in the journal, pruned as better ones arrive, consistent after a kill and a resume, and
exported by ``evonas best --export``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch

import evonas
from evonas.api import start_campaign
from evonas.cli import main
from evonas.cli.export import export_best
from evonas.config import load_config
from evonas.kept_weights import KEPT_EVENT, PRUNED_EVENT, WEIGHTS_DIR
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, Journal
from tests.campaigns import Kill, with_changes

K = 2


def digits_config(tmp_path: Path, name: str, **changes: object) -> dict[str, Any]:
    config = {
        "name": name, "seed": 1, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "free", "mode": "network", "max_nodes": 4, "max_edges": 5,
                  "widths": [8, 16], "stem_channels": 8,
                  "ops": ["conv_3x3", "max_pool_3x3", "identity"]},
        "task": {"name": "digits", "epochs": 1, "data_fraction": 0.3},
        "strategy": {"name": "regularized_evolution", "population": 4, "sample": 2},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 8},
        "campaign": {"order": "birth", "progress": False, "keep_weights": K,
                     "checkpoint_every": 2},
    }
    return with_changes(config, changes)


def kept_files(run_dir: Path) -> set[int]:
    return {int(p.name.split(".")[0]) for p in (run_dir / WEIGHTS_DIR).iterdir()}


def top_k(run: Run) -> set[int]:
    ranked = sorted((ind for ind in run.individuals() if ind.status == "ok"),
                    key=lambda ind: (-ind.fitness, ind.id))
    return {ind.id for ind in ranked[:K]}


def check_consistent(run_dir: Path) -> None:
    with Run(run_dir) as run:
        kept = run.kept_weights()
        assert set(kept) == top_k(run) == kept_files(run_dir)
        assert all(w.intact() for w in kept.values())


def test_the_k_best_are_kept_and_the_rest_pruned(tmp_path: Path) -> None:
    run = evonas.run(digits_config(tmp_path, "k"))
    run.close()
    check_consistent(run.path)
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        ever_kept = {i for _, _, i, _ in journal.events(KEPT_EVENT)}
        pruned = {i for _, _, i, _ in journal.events(PRUNED_EVENT)}
    assert pruned and ever_kept - pruned == kept_files(run.path)  # better ones displaced some


def test_pool_workers_write_the_weights_in_async_order(tmp_path: Path) -> None:
    pooled = evonas.run(digits_config(tmp_path, "pooled", evaluator__workers=2,
                                      campaign__order="async"))
    pooled.close()
    check_consistent(pooled.path)
    with Journal.open(pooled.path / JOURNAL_FILE, readonly=True) as journal:
        workers = {row.worker for row in journal.evaluations() if row.status == "ok"}
    assert workers and all(w.startswith("worker-") for w in workers)


def killed_run(tmp_path: Path, name: str, at: int = 5) -> Path:
    config = load_config(digits_config(tmp_path, name))

    def kill(counters: dict) -> None:
        if counters["told"] == at:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, kill)
    return Path(config.runs_dir) / name


def test_a_killed_campaign_resumes_with_the_kept_set_of_an_uninterrupted_one(
        tmp_path: Path) -> None:
    full = evonas.run(digits_config(tmp_path, "full"))
    full.close()
    cut = killed_run(tmp_path, "cut")
    evonas.resume(cut).close()
    check_consistent(cut)
    assert kept_files(cut) == kept_files(full.path)


def test_resume_repairs_what_a_kill_left_in_the_weights_folder(tmp_path: Path) -> None:
    cut = killed_run(tmp_path, "cut")
    # a file whose result the journal never got, and a kept file gone
    (cut / WEIGHTS_DIR / "999.safetensors").write_bytes(b"orphan")
    with Run(cut) as run:
        lost = min(run.kept_weights())
    (cut / WEIGHTS_DIR / f"{lost}.safetensors").unlink()
    evonas.resume(cut).close()
    assert not (cut / WEIGHTS_DIR / "999.safetensors").exists()
    with Run(cut) as run:
        kept = run.kept_weights()
    assert set(kept) == kept_files(cut) and lost not in kept
    assert all(w.intact() for w in kept.values()) and 0 < len(kept) <= K
    with Journal.open(cut / JOURNAL_FILE, readonly=True) as journal:
        assert (lost, "missing") in {(i, d["reason"]) for _, _, i, d in
                                     journal.events(PRUNED_EVENT)}


def test_best_export_writes_the_trained_model(tmp_path: Path) -> None:
    run = evonas.run(digits_config(tmp_path, "e"))
    run.close()
    with Run(run.path) as opened:
        best, config = opened.best(), opened.config
    assert best is not None
    note = export_best(best, config, tmp_path / "best.onnx", run_dir=run.path)
    assert note.startswith("trained during the search")
    note_pt = export_best(best, config, tmp_path / "best.pt", run_dir=run.path)
    assert "trained during the search" in note_pt
    # the exported model scores the validation split as the evaluation did
    from evonas.tasks.registry import build_task_and_space

    task, space = build_task_and_space(config["task"], config["space"])
    from evonas.compiler import compile_genome

    module = compile_genome(best.genome, space, task.input_shape, task.num_classes)
    module.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    module.eval()
    x_val = torch.from_numpy(task.splits.x_val)
    with torch.no_grad():
        predicted = module(x_val).argmax(1).numpy()
    accuracy = float(np.mean(predicted == task.splits.y_val))
    assert accuracy == pytest.approx(best.metrics["val_accuracy"], abs=1e-9)
    session = onnxruntime.InferenceSession(str(tmp_path / "best.onnx"))
    batch = task.splits.x_val[:4]
    onnx_out = session.run(None, {session.get_inputs()[0].name: batch})[0]
    with torch.no_grad():
        torch_out = module(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(onnx_out, torch_out, rtol=1e-4, atol=1e-5)


def test_keep_weights_with_a_task_that_trains_nothing_is_refused(tmp_path: Path,
                                                                 capsys: Any) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("task: {name: tabular}\ncampaign: {keep_weights: 3, progress: false}\n"
                      f"runs_dir: {tmp_path / 'runs'}\nevaluator: {{workers: 0}}\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c.yaml: campaign.keep_weights" in err[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_status_lists_the_kept_weights(tmp_path: Path, capsys: Any) -> None:
    import json

    run = evonas.run(digits_config(tmp_path, "s"))
    run.close()
    assert main(["status", str(run.path)]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("kept weights:"))
    assert line.count("#") == K
    assert main(["status", str(run.path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["kept_weights"]
    assert {w["individual"] for w in listed} == kept_files(run.path)
    assert all(w["intact"] for w in listed)
