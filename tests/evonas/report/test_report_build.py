"""The HTML report, its charts, genome drawings and the Pareto front, on small real runs."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from evonas.api import start_campaign
from evonas.config import ConfigError, load_config
from evonas.report import (
    REPORT_FILE,
    Objective,
    build_report,
    draw_genome,
    genome_layout,
    objectives_from_config,
    pareto_mask,
    parse_objective,
    write_report,
)
from evonas.report.drawing import dot_program, to_dot
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, Journal
from genomes import DAGGenome
from tests.conftest import tabular_config
from tests.evonas.analysis.lineage_runs import FAILING
from tests.evonas.report.report_page import FIGURES, ReportPage, png_of


def test_report_is_one_self_contained_page(reg: Run) -> None:
    path = write_report(reg)
    assert path == reg.path / REPORT_FILE
    text = path.read_text()
    page = ReportPage(text)
    assert page.title == f"evonas report: {reg.name}"
    assert set(FIGURES) <= set(page.figures)
    for src in page.figures.values():
        width, height = png_of(src).size
        assert width > 200 and height > 100
    assert page.external == []  # nothing loaded from anywhere: opens offline
    assert {"best-metrics", "ancestry-table", "operator-table", "failures-table"} \
        <= set(page.tables)
    assert "Single objective (fitness): there is no Pareto front" in text
    best = reg.best()
    assert best.genome.describe().replace("|", "|") in text
    for k in FAILING:
        assert f"<td>#{k}</td><td>mutate_op</td><td>RuntimeError: injected fault</td>" in text \
            or f"<td>#{k}</td><td>random</td><td>RuntimeError: injected fault</td>" in text
    for k in reg.path_to_root(best.id):
        assert f"<td>#{k}</td>" in text


def test_pareto_front_with_two_objectives(reg: Run, tmp_path: Path) -> None:
    objectives = [Objective("fitness", True), Objective("index", False)]
    text = build_report(reg, objectives)
    page = ReportPage(text)
    assert "fig-pareto" in page.figures and "pareto-table" in page.tables
    ok = [ind for ind in reg.individuals() if ind.status == "ok"]
    points = np.array([[ind.fitness, ind.metrics["index"]] for ind in ok])
    front = [ind.id for ind, m in zip(ok, pareto_mask(points, [True, False]), strict=True) if m]
    table = text.split('id="pareto-table"')[1].split("</table>")[0]
    assert [int(k) for k in re.findall(r"<td>#(\d+)</td>", table)] == sorted(front)


def test_objectives_from_config_forms() -> None:
    assert objectives_from_config({"strategy": {"name": "regularized_evolution"}}) == []
    want = [Objective("fitness"), Objective("params", False)]
    config = [{"metric": "fitness", "goal": "max"}, {"metric": "params", "goal": "min"}]
    assert objectives_from_config({"strategy": {"objectives": config}}) == want
    assert objectives_from_config({"strategy": {"name": "nsga2"}}) == want  # NSGA-II defaults
    with pytest.raises(ConfigError, match=r"strategy.objectives\[1\].goal: must be max or min"):
        objectives_from_config({"strategy": {"objectives": [{"metric": "a"},
                                                            {"metric": "b", "goal": "up"}]}})
    # the command-line form (evonas report --objective)
    for text, objective in (("+latency", Objective("latency", True)),
                            ("-params", Objective("params", "min")),
                            ("acc", Objective("acc")),
                            ("params:minimize", Objective("params", "min")),
                            ("acc:max", Objective("acc"))):
        assert parse_objective(text) == objective
    with pytest.raises(ConfigError, match="--objective: goal must be max or min"):
        parse_objective("b:up", "--objective")


def test_pareto_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    for k in (2, 3):
        values = rng.integers(0, 12, size=(300, k)).astype(float)
        values[5, 0] = np.nan
        maximize = [True, False, True][:k]
        signed = values * np.where(maximize, 1, -1)
        want = [not np.isnan(signed[i]).any() and not any(
            (signed[j] >= signed[i]).all() and (signed[j] > signed[i]).any()
            for j in range(len(values)) if not np.isnan(signed[j]).any())
            for i in range(len(values))]
        assert pareto_mask(values, maximize).tolist() == want
    assert pareto_mask(np.zeros((0, 2)), [True, True]).tolist() == []


CPPN = {"kind": "cppn", "version": 1, "num_inputs": 2, "num_outputs": 1,
        "nodes": [[2, "sigmoid", 0.1], [3, "sin", 0.0]],
        "connections": [[0, 0, 2, 0.5, True], [1, 1, 3, -0.5, True], [2, 3, 2, 1.0, True],
                        [3, 0, 3, 1.0, False], [4, 2, 2, 0.3, True]]}
FREE = {"kind": "dag", "version": 1, "space": "free", "num_nodes": 4,
        "edges": [[0, 1, "conv_3x3"], [1, 3, "sep_conv_3x3"], [0, 2, "identity"],
                  [2, 3, "max_pool_3x3"], [0, 3, "identity"]], "widths": [16, 32, 64, 16]}
NB201 = DAGGenome.from_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|"
                             "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|").to_dict()


@pytest.mark.parametrize("genome", [NB201, FREE, CPPN], ids=["nb201", "free", "cppn"])
def test_draw_genome_with_matplotlib(genome: dict[str, Any]) -> None:
    png, engine = draw_genome(genome, engine="matplotlib")
    assert engine == "matplotlib" and png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size[0] > 200 and min(image.getextrema()) < 100  # something dark is drawn
    layout = genome_layout(genome)
    assert len(layout.edges) == len(genome.get("edges") or genome.get("connections"))
    dot = to_dot(layout)
    assert dot.count(" -> ") == len(layout.edges)


def test_cppn_layout_columns_and_recurrence() -> None:
    layout = genome_layout(CPPN)
    assert layout.layers == {0: 0, 1: 0, 3: 1, 2: 2}
    labels = {(s, d): label for s, d, label, _ in layout.edges}
    assert labels[(2, 2)].endswith("rec")
    assert [dashed for _, _, _, dashed in layout.edges] == [False, False, False, True, False]
    with pytest.raises(ValueError, match="cannot draw genome kind 'tree'"):
        genome_layout({"kind": "tree"})


def test_draw_genome_with_graphviz_when_installed() -> None:
    if dot_program() is None:
        with pytest.raises(ValueError, match="not installed"):
            draw_genome(NB201, engine="graphviz")
        assert draw_genome(NB201)[1] == "matplotlib"
    else:
        png, engine = draw_genome(NB201, engine="graphviz")
        assert engine == "graphviz" and png.startswith(b"\x89PNG")


def test_report_of_a_run_in_progress(tmp_path: Path) -> None:
    """Written from the campaign's progress observer through a second connection, once the
    journal holds committed results and the campaign is still running (evaluations sleep 20 ms,
    so the campaign's periodic commits come before its end on any machine)."""
    config = tabular_config(tmp_path, budget__evaluations=40, evaluator__workers=0)
    config["task"] = {"name": "faulty", "inner": config["task"], "rates": {"hang": 1.0},
                      "hang_seconds": 0.02}
    config = load_config(config)
    run_dir = tmp_path / "runs" / "t"
    seen: list[str] = []

    def observe(counters: dict[str, Any]) -> None:
        if not seen and counters["evaluations"] < 40 and _committed_results(run_dir) >= 5:
            seen.append(write_report(run_dir).read_text())

    start_campaign(config, "t", observe)
    page = ReportPage(seen[0])
    assert "running (or killed)" in seen[0]
    assert set(FIGURES) <= set(page.figures)
    with Run(run_dir) as run:
        assert run.status()["state"] == "completed"


def _committed_results(run_dir: Path) -> int:
    """Evaluations another connection sees in the run's journal (0 before it exists)."""
    path = run_dir / JOURNAL_FILE
    if not path.exists():
        return 0
    with Journal.open(path, readonly=True) as journal:
        return sum(1 for _ in journal.evaluations())


def test_report_of_a_run_without_results(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    Journal.create(folder / JOURNAL_FILE, {"strategy": {"name": "random"}}).close()
    text = write_report(folder).read_text()
    page = ReportPage(text)
    assert text.count("No successful evaluation yet.") == 2
    assert {"fig-progress", "fig-operators", "fig-diversity"} <= set(page.figures)
    assert "No evaluation failed." in text
