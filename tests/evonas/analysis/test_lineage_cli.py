"""``evonas lineage`` and ``evonas report`` through the command line's ``main``."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from evonas.run import Run
from tests.evonas.analysis.lineage_runs import evonas_main


def test_best_ancestry_is_printed_step_by_step(reg: Run,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    best = reg.best()
    path = reg.path_to_root(best.id)
    assert evonas_main(["lineage", str(reg.path), "--best"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"ancestry of #{best.id}: {len(path) - 1} ancestors")
    steps = lines[1:]
    assert [line.split()[0] for line in steps] == [f"#{k}" for k in path]
    assert f"{best.fitness:.4f}" in steps[0]
    parent = reg.individual(path[1])
    assert f"{best.fitness - parent.fitness:+.4f} vs #{parent.id}" in steps[0]
    src, dst = best.operator["edge"]
    assert f"mutate_op: edge {src}->{dst} {best.operator['from']} -> {best.operator['to']}" \
        in steps[0]
    assert steps[-1].split()[2:] == ["root", "random", "genome"]


def test_depth_limits_the_tree(reg: Run, capsys: pytest.CaptureFixture[str]) -> None:
    last = reg.individuals()[-1].id
    assert evonas_main(["lineage", str(reg.path), "--id", str(last), "--depth", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 + 1 and "raise --depth" in lines[-1]


def test_crossover_ancestry_branches(gen: Run, capsys: pytest.CaptureFixture[str]) -> None:
    child = next(ind for ind in reversed(gen.individuals())
                 if ind.operator["op"] == "crossover_dag")
    assert evonas_main(["lineage", str(gen.path), "--id", str(child.id)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"#{child.id}") and "crossover_dag" in lines[1]
    assert lines[2].startswith(f"├─ #{child.parents[0]}")
    assert any(line.lstrip("│ ").startswith(f"└─ #{child.parents[1]}") for line in lines)
    shown = {int(tok[1:]) for line in lines[1:] for tok in line.replace("─", " ").split()
             if tok.startswith("#") and tok[1:].isdigit()}
    assert shown >= set(gen.ancestors(child.id))


def test_ancestry_json(gen: Run, capsys: pytest.CaptureFixture[str]) -> None:
    best = gen.best()
    assert evonas_main(["lineage", str(gen.path), "--best", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == best.id and data["path_to_root"] == gen.path_to_root(best.id)
    assert sorted(i["id"] for i in data["individuals"]) == sorted([*gen.ancestors(best.id),
                                                                   best.id])


def test_operator_table(reg: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert evonas_main(["lineage", str(reg.path), "--operators", "--windows", "3"]) == 0
    out = capsys.readouterr().out
    stats = reg.operator_stats(windows=3)
    header, *rows = out.split("\n\n")[0].splitlines()
    assert header.split()[:4] == ["operator", "children", "compared", "fitter"]
    mutate = next(r for r in rows if r.startswith("mutate_op")).split()
    row = stats.row("mutate_op")
    assert mutate[1:4] == [str(row.children), str(row.compared), str(row.improved)]
    assert f"{row.mean_change:+.4f}" in mutate
    assert "share fitter than the best parent" in out
    assert len(out.split("\n\n")[1].splitlines()) == 1 + 1 + 3  # title, header, 3 windows
    assert evonas_main(["lineage", str(reg.path), "--operators", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"][0]["operator"] == stats.rows[0].operator


@pytest.mark.parametrize("suffix", [".graphml", ".dot", ".json"])
def test_export(gen: Run, tmp_path: Path, suffix: str,
                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"family{suffix}"
    assert evonas_main(["lineage", str(gen.path), "--export", str(path)]) == 0
    edges = gen.lineage().number_of_edges()
    assert f"wrote {path} ({len(gen.individuals())} individuals, {edges} parent links)" \
        in capsys.readouterr().err
    if suffix == ".graphml":
        assert nx.read_graphml(path).number_of_edges() == edges


def test_diff(reg: Run, capsys: pytest.CaptureFixture[str]) -> None:
    assert evonas_main(["lineage", str(reg.path), "--diff", "0", "1"]) == 0
    assert capsys.readouterr().out.strip() == reg.diff(0, 1)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--id", "9999"], "no individual 9999"),
    (["--export", "tree.txt"], "unknown export format '.txt'"),
    (["--operators", "--depth", "2"], "--depth: only with --id or --best"),
    (["--best", "--depth", "-1"], "--depth: must be 0 or more"),
])
def test_user_errors_are_one_line(reg: Run, args: list[str], fragment: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert evonas_main(["lineage", str(reg.path), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_run_and_bad_objective(tmp_path: Path, reg: Run,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert evonas_main(["lineage", str(tmp_path / "nope"), "--best"]) == 2
    assert "no run folder here" in capsys.readouterr().err
    assert evonas_main(["report", str(tmp_path / "nope")]) == 2
    assert "no run folder here" in capsys.readouterr().err
    assert evonas_main(["report", str(reg.path), "--objective", "index:sideways"]) == 2
    assert "--objective: goal must be max or min" in capsys.readouterr().err


def test_report_command(reg: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evonas_main(["report", str(reg.path)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {reg.path / 'report.html'}"
    out = tmp_path / "r.html"
    assert evonas_main(["report", str(reg.path), "-o", str(out), "--objective", "fitness:max",
                        "--objective", "index:min"]) == 0
    assert 'id="fig-pareto"' in out.read_text()
