"""The evonas command line, driven in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evonas.cli import main
from tests.conftest import tabular_config


def write_config(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(tabular_config(tmp_path, **changes)))
    return path


def test_run_status_best(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["run", str(config), "--name", "cli", "--set", "budget.evaluations=20",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best: individual" in out and "genome: |" in out
    run_dir = tmp_path / "runs" / "cli"

    assert main(["status", str(run_dir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["evaluations"] == 20 and status["state"] == "completed"

    assert main(["best", str(run_dir), "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["fitness"] == status["best"]["fitness"]
    assert best["genome"]["kind"] == "dag"


def test_run_refuses_existing_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, budget__evaluations=5)
    assert main(["run", str(config), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "evonas resume" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "fragment"), [
    (["run", "missing.yaml"], "missing.yaml: config file not found"),
    (["status", "no/such/run"], "no/such/run: no run folder here"),
    (["resume", "no/such/run"], "not a run folder"),
])
def test_user_errors_exit_2_with_one_line(args: list[str], fragment: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_set_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["run", str(config), "--set", "strategy.population=abc"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: strategy.population: must be an integer" in err
    assert not (tmp_path / "runs" / "t").exists()  # nothing was created


def test_export_python(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, budget__evaluations=5)
    assert main(["run", str(config), "--quiet"]) == 0
    target = tmp_path / "best.py"
    assert main(["best", str(tmp_path / "runs" / "t"), "--export", str(target)]) == 0
    namespace: dict = {}
    exec(compile(target.read_text(), str(target), "exec"), namespace)  # noqa: S102
    classes = [v for v in namespace.values() if isinstance(v, type) and v.__module__ is None
               or (isinstance(v, type) and "Network" in v.__name__)]
    assert classes
    assert main(["best", str(tmp_path / "runs" / "t"), "--export", str(tmp_path / "x.bin")]) == 2
