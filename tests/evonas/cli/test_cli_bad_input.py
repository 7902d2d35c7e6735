"""Bad input, table-driven: one line naming the file and the field, exit code 2, no traceback,
and the run folder left exactly as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from evonas.cli import main
from evonas.storage import SCHEMA_VERSION
from tests.conftest import tabular_config

GOOD_GENOME = {"kind": "dag", "version": 1, "space": "free", "num_nodes": 3,
               "edges": [[0, 1, "conv_3x3"], [1, 2, "conv_3x3"]], "widths": [16, 32, 16]}
FREE_SPACE = {"name": "free", "max_nodes": 4, "max_edges": 4, "widths": [16, 32],
              "mode": "cell"}


def config_file(tmp: Path, text: str | None = None, **changes: object) -> Path:
    path = tmp / "campaign.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(tabular_config(tmp, **changes)))
    return path


def genome_file(tmp: Path, genome: object) -> list[str]:
    config = config_file(tmp, space=FREE_SPACE)
    path = tmp / "genome.json"
    path.write_text(genome if isinstance(genome, str) else json.dumps(genome))
    return ["compile", str(path), "--config", str(config)]


def genome_with(**changes: object) -> dict:
    return {**GOOD_GENOME, **changes}


def make_run(tmp: Path) -> Path:
    assert main(["run", str(config_file(tmp, budget__evaluations=5)), "--quiet"]) == 0
    return tmp / "runs" / "t"


def damaged_run(damage: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        run = make_run(tmp)
        damage(run / "journal.sqlite")
        return ["status", str(run)]
    return setup


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"definitely not!!"
    path.write_bytes(bytes(data))


def newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    conn.close()


def run_with(**changes: object) -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", str(config_file(tmp, **changes)), "--quiet"]


def run_text(text: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", str(config_file(tmp, text)), "--quiet"]


def resume_with(*sets: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        run = make_run(tmp)
        return ["resume", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]]
    return setup


CASES: dict[str, tuple[Callable[[Path], list[str]], str, str]] = {
    # name: (setup returning argv, file named in the message, field fragment)
    "malformed yaml": (run_text("seed: [1, 2\n"), "campaign.yaml", "malformed YAML at line"),
    "empty yaml": (run_text(""), "campaign.yaml", "the config is empty"),
    "yaml list": (run_text("- a\n- b\n"), "campaign.yaml", "must be a mapping"),
    "unknown top key": (run_with(sede=3), "campaign.yaml",
                        "sede: unknown key; did you mean 'seed'"),
    "unknown nested key": (run_with(budget__evals=3), "campaign.yaml", "budget.evals: unknown key"),
    "wrong type": (run_with(strategy__population="ten"), "campaign.yaml",
                   "strategy.population: must be an integer"),
    "out of range": (run_with(budget__evaluations=0), "campaign.yaml",
                     "budget.evaluations: must be at least 1"),
    "negative workers": (run_with(evaluator__workers=-2), "campaign.yaml", "evaluator.workers"),
    "unknown strategy": (run_with(strategy={"name": "annealing"}), "campaign.yaml",
                         "strategy.name: unknown strategy"),
    "unknown task": (run_with(task={"name": "mnist"}), "campaign.yaml", "task.name: unknown task"),
    "unknown space": (run_with(space={"name": "darts"}), "campaign.yaml", "space.name"),
    "unknown op in space": (run_with(space={"name": "free", "ops": ["conv_9x9"]}),
                            "campaign.yaml", "space.ops: unknown op 'conv_9x9'"),
    "bad space mode": (run_with(space={"name": "free", "mode": "tree"}), "campaign.yaml",
                       "space.mode"),
    "missing dataset file": (run_with(task={"name": "tabular", "table": "nowhere.csv"}),
                             "campaign.yaml", "task.table"),
    "missing table column": (run_with(task={"name": "tabular", "table": "nb201_cifar10",
                                            "metric": "imagenet_acc"}),
                             "campaign.yaml", "imagenet_acc"),
    "bad task option": (run_with(task={"name": "digits", "epochs": "many"}), "campaign.yaml",
                        "task.epochs"),
    "probabilities": (run_with(strategy={"name": "generational", "cxpb": 0.6, "mutpb": 0.6}),
                      "campaign.yaml", "strategy.mutation_prob: crossover_prob + mutation_prob"),
    "bad selection": (run_with(strategy={"name": "generational", "selection": "roulete"}),
                      "campaign.yaml", "strategy.selection"),
    "name with slash": (run_with(name="a/b"), "campaign.yaml", "name: must be a plain folder"),
    "missing config": (lambda tmp: ["run", str(tmp / "nope.yaml")], "nope.yaml",
                       "config file not found"),
    "bad --set": (lambda tmp: ["run", str(config_file(tmp)), "--set", "seed"], "--set seed",
                  "expected dotted.key=value"),
    "genome cycle": (lambda tmp: genome_file(tmp, genome_with(
        edges=[[0, 1, "conv_3x3"], [2, 1, "conv_3x3"], [1, 2, "conv_3x3"]])), "genome.json",
        "edges[2->1]"),
    "genome dangling edge": (lambda tmp: genome_file(tmp, genome_with(
        edges=[[0, 1, "conv_3x3"], [1, 7, "conv_3x3"]])), "genome.json", "edges[1->7]: dangling"),
    "genome duplicate edge": (lambda tmp: genome_file(tmp, genome_with(
        edges=[[0, 1, "conv_3x3"], [0, 1, "conv_5x5"], [1, 2, "identity"]])), "genome.json",
        "edges[0->1]: duplicate"),
    "genome too many nodes": (lambda tmp: genome_file(tmp, genome_with(
        num_nodes=6, widths=[16] * 6,
        edges=[[i, i + 1, "conv_3x3"] for i in range(5)])), "genome.json", "num_nodes: 6 nodes"),
    "genome too many edges": (lambda tmp: genome_file(tmp, genome_with(
        num_nodes=4, widths=[16, 16, 16, 16],
        edges=[[0, 1, "conv_3x3"], [0, 2, "conv_3x3"], [0, 3, "conv_3x3"], [1, 2, "conv_3x3"],
               [2, 3, "conv_3x3"]])), "genome.json", "edges: 5 edges is over the limit"),
    "genome unknown op": (lambda tmp: genome_file(tmp, genome_with(
        edges=[[0, 1, "conv_9x9"], [1, 2, "conv_3x3"]])), "genome.json", "edges[0->1].op"),
    "genome bad width": (lambda tmp: genome_file(tmp, genome_with(widths=[16, 24, 16])),
                         "genome.json", "widths[1]: 24 is not one of the allowed widths"),
    "genome not json": (lambda tmp: genome_file(tmp, "{not json"), "genome.json",
                        "not valid JSON"),
    "genome wrong kind": (lambda tmp: genome_file(tmp, genome_with(kind="tree")), "genome.json",
                          "kind: unknown genome kind 'tree'"),
    "genome newer version": (lambda tmp: genome_file(tmp, genome_with(version=9)), "genome.json",
                             "version: this code reads DAG genome version 1"),
    "genome missing field": (lambda tmp: genome_file(tmp, {"kind": "dag", "version": 1,
                                                           "space": "free", "num_nodes": 3}),
                             "genome.json", "edges: missing"),
    "genome no path": (lambda tmp: genome_file(tmp, genome_with(edges=[[0, 1, "conv_3x3"]])),
                       "genome.json", "no path from the input node to the output node"),
    "journal truncated": (damaged_run(truncate), "journal.sqlite", "not a readable"),
    "journal garbage": (damaged_run(garble), "journal.sqlite", "not a readable"),
    "journal newer schema": (damaged_run(newer_schema), "journal.sqlite",
                             "meta.schema_version is 2, newer than"),
    "no run folder": (lambda tmp: ["status", str(tmp / "runs" / "ghost")], "ghost",
                      "no run folder here"),
    "resume unsafe change": (resume_with("strategy.sample=5"), "config.yaml",
                             "strategy.sample: cannot change on resume"),
    "resume bad change": (resume_with("budget.evaluations=-4"), "t",
                          "budget.evaluations: must be at least 1"),
    "run name taken": (lambda tmp: (make_run(tmp), ["run", str(config_file(tmp)), "--quiet"])[1],
                       "runs/t", "exists already"),
}


def folder_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith("-shm")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup, file_name, fragment = CASES[case]
    argv = setup(tmp_path)
    capsys.readouterr()
    runs = tmp_path / "runs"
    before = folder_digest(runs) if runs.exists() else {}
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, captured
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert file_name in err and fragment in err, err
    after = folder_digest(runs) if runs.exists() else {}
    assert {k: v for k, v in after.items() if not k.endswith("-wal")} == \
        {k: v for k, v in before.items() if not k.endswith("-wal")}


def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "run", str(config_file(tmp_path, seed="x"))]) == 2
    assert "Traceback" in capsys.readouterr().err
