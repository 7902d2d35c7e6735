"""``evonas compare``: the table, the per-strategy summary and the PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import evonas
from evonas.analysis.compare import compare_runs, format_table, load_curve, summarize
from evonas.cli.compare import add_compare_command
from evonas.storage import JournalError
from tests.conftest import tabular_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("compare")
    out = []
    for strategy in ({"name": "random"}, {"name": "regularized_evolution", "population": 6,
                                          "sample": 3}):
        for seed in (0, 1):
            run = evonas.run(tabular_config(tmp, name=f"{strategy['name']}-{seed}", seed=seed,
                                            strategy=strategy, budget__evaluations=25))
            out.append(run.path)
    return out


def test_curve_counts_real_evaluations_and_tracks_the_best(runs: list[Path]) -> None:
    curve = load_curve(runs[2])
    with evonas.open_run(runs[2]) as run:
        individuals = run.individuals()
        best = run.best()
    real = [ind for ind in individuals if ind.status in ("ok", "failed")]
    assert curve.total_evaluations == len(real) == 25
    assert list(curve.best) == list(np.maximum.accumulate([ind.fitness for ind in real]))
    assert curve.best_fitness == best.fitness
    assert real[curve.evaluations_to_best - 1].id == best.id
    assert curve.seconds_to_best <= curve.total_seconds
    assert curve.test_metric == "cifar10_test_acc" and curve.test_value == best.fitness


def test_table_groups_runs_by_strategy(runs: list[Path]) -> None:
    rows = compare_runs(runs)
    assert [r["strategy"] for r in rows] == ["random"] * 2 + ["regularized_evolution"] * 2
    assert [r["seed"] for r in rows] == [0, 1, 0, 1]
    summary = summarize(rows)
    assert [(s.strategy, s.runs) for s in summary] == [("random", 2),
                                                       ("regularized_evolution", 2)]
    assert summary[0].best_mean == pytest.approx(np.mean([r["best_fitness"] for r in rows[:2]]))
    text = format_table(rows)
    assert "random-1" in text and "regularized_evolution" in text and "best mean" in text


def test_command_prints_the_table_and_writes_the_png(runs: list[Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="evonas")
    add_compare_command(parser.add_subparsers(dest="command"))
    png = tmp_path / "plots" / "cmp.png"
    args = parser.parse_args(["compare", *map(str, runs), "--plot", str(png)])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "regularized_evolution" in out.out and f"wrote {png}" in out.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    args = parser.parse_args(["compare", *map(str, runs[:2]), "--json", "--no-plot"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["runs"]) == 2 and data["plot"] is None
    assert data["strategies"][0]["strategy"] == "random"


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not a run folder"):
        compare_runs([tmp_path])


def test_cheaper_evaluation_variants_are_grouped_apart() -> None:
    from evonas.analysis.compare import cheaper_evaluations_label

    assert cheaper_evaluations_label({}) == ""  # a plain run, or one frozen before the sections
    assert cheaper_evaluations_label({
        "fidelity": {"scheduler": None}, "inherit_weights": {"enabled": False},
        "prescreen": {"proxy": None}, "warm_start": {"proxy": None}}) == ""
    assert cheaper_evaluations_label({
        "fidelity": {"scheduler": "asha"}, "inherit_weights": {"enabled": False},
        "prescreen": {"proxy": "synflow"}}) == "+asha+prescreen:synflow"
    assert cheaper_evaluations_label({"inherit_weights": {"enabled": True},
                                      "warm_start": {"proxy": "naswot"}}) == \
        "+inherit+warm_start:naswot"
