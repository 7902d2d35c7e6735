"""``evonas train``, its lines in ``evonas status``, ``evonas best --export`` of kept weights."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import pytest
import torch
import yaml

from evonas.api import run as run_campaign
from evonas.cli import main
from tests.conftest import tabular_config
from tests.evonas.test_retrain import copy_run, searched_digits_run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the searched digits run, nothing trained."""
    return copy_run(searched_digits_run(), tmp_path_factory.mktemp("cli_train"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A copy of the digits run whose best ``evonas train`` trained and exported: the folder,
    the command's stdout and its stderr."""
    run_dir = copy_run(searched_digits_run(), tmp_path_factory.mktemp("trained"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", str(run_dir), "--epochs", "1", "--device", "cpu",
                     "--output", str(run_dir.parent / "exports")])
    assert code == 0, err.getvalue()
    return run_dir, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained_run(trained: tuple[Path, str, str]) -> Path:
    return trained[0]


def test_train_prints_a_line_per_model_and_exports(trained: tuple[Path, str, str]) -> None:
    run_dir, stdout, stderr = trained
    lines = stdout.strip().splitlines()
    assert "on digits, 1 epochs: test accuracy 0." in lines[0] and "(trained; weights" in lines[0]
    assert [line.rsplit(".", 1)[1] for line in lines[1:]] == ["pt", "onnx", "py"]
    assert "training individual" in stderr
    out = run_dir.parent / "exports"
    pt = next(out.glob("*.pt"))
    state = torch.load(pt, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(next(out.glob("*.onnx"))),
                                   providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"x": torch.zeros(3, 1, 8, 8).numpy()})
    assert logits.shape == (3, 10)


def test_a_rerun_skips_and_json_tells_it(trained_run: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["train", str(trained_run), "--epochs", "1", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (model,) = result["models"]
    assert model["reused"] and 0 <= model["metrics"]["test_accuracy"] <= 1
    assert Path(model["weights"]).is_file() and Path(model["sidecar"]).is_file()
    assert result["task"]["epochs"] == 1 and result["failures"] == []


def test_status_shows_the_trained_models(trained_run: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status", str(trained_run)]) == 0
    (line,) = [s for s in capsys.readouterr().out.splitlines() if s.startswith("trained:")]
    assert "on digits, 1 epochs: test accuracy" in line and "damaged" not in line
    assert main(["status", str(trained_run), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["trained"]
    assert entry["intact"] and entry["task"] == "digits"


def test_status_marks_damaged_weights(trained_run: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(trained_run, tmp_path)
    (weights,) = (run_dir / "trained").glob("*.pt")
    weights.write_bytes(b"")
    assert main(["status", str(run_dir)]) == 0
    assert "[weights missing or damaged" in capsys.readouterr().out


def test_best_export_uses_the_kept_weights(digits_run: Path, trained_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["best", str(digits_run), "--export", str(tmp_path / "fresh.pt")]) == 0
    err = capsys.readouterr().err
    assert "(untrained: no kept weights; run `evonas train" in err and "--id" in err
    assert main(["best", str(trained_run), "--export", str(tmp_path / "best.pt")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("exported individual") and "(trained on digits (1 epochs" in err
    (kept,) = (trained_run / "trained").glob("*.pt")
    exported = torch.load(tmp_path / "best.pt", weights_only=True)
    original = torch.load(kept, weights_only=True)
    assert all(torch.equal(exported[k], original[k]) for k in original)


def test_train_on_another_split(trained_run: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(trained_run, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"task": {"name": "digits", "split_seed": 7}}))
    assert main(["train", str(run_dir), "--task", str(other), "--set", "task.epochs=1",
                 "--device", "cpu"]) == 0
    assert "(trained; weights" in capsys.readouterr().out  # a new model, not the kept one
    assert main(["status", str(run_dir)]) == 0
    assert len([s for s in capsys.readouterr().out.splitlines()
                if s.startswith("trained:")]) == 2


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("tabular")
    run_campaign(tabular_config(tmp, budget__evaluations=4)).close()
    return tmp / "runs" / "t"


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--id", "99"], "--id 99: no such individual"),
    (["--set", "seed=3"], "--set seed=3: training changes task options only"),
    (["--set", "task.epochs=many"], "task.epochs: must be an integer"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--task", "missing.yaml"], "missing.yaml: config file not found"),
    (["--output", "no/such/folder"], "does not exist"),
    (["--device", "abacus"], "--device abacus: not a torch device"),
])
def test_bad_input_is_one_line_and_exit_2(digits_run: Path, argv: list[str], fragment: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["train", str(digits_run), *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("evonas: error: ")


def test_a_missing_run_folder_and_a_table_task(tabular_run: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "nowhere")]) == 2
    assert "no run folder here" in capsys.readouterr().err
    assert main(["train", str(tabular_run)]) == 2
    err = capsys.readouterr().err
    assert "cannot train: task 'tabular' looks results up in a table" in err
    assert len(err.strip().splitlines()) == 1


def test_a_malformed_trained_event_is_ignored(trained_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_run(trained_run, tmp_path)
    with sqlite3.connect(run_dir / "journal.sqlite") as conn:
        conn.execute("INSERT INTO events (kind, individual_id, data, at) VALUES "
                     "('trained', 0, '{\"weights\": \"../../etc/passwd\"}', 0)")
    assert main(["status", str(run_dir)]) == 0
    assert len([s for s in capsys.readouterr().out.splitlines()
                if s.startswith("trained:")]) == 1


def test_the_report_lists_the_trained_models(trained_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(trained_run), "-o", str(page)]) == 0
    html = page.read_text()
    assert '<section id="trained">' in html and "Trained models" in html
