"""Hostile and faulty input through the CLI (issue 11, items 3, 4, 5, 8, 9, 10), table-driven:
exit code 2, exactly one line on stderr naming the file and the field, no traceback, and nothing
under the test's folder created or changed. Then the one-writer lock with real processes, which
wait on journal progress, never on the clock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import evonas
from evonas.cli import main
from evonas.config import ConfigError
from evonas.storage import Journal
from evonas.storage.lock import RunLock
from tests.conftest import REPO, tabular_config
from tests.evonas.cli.test_cli_bad_input import (
    FREE_SPACE,
    GOOD_GENOME,
    config_file,
    folder_digest,
    make_run,
)

EXAMPLES = REPO / "examples"
NEAT_FIELDS = {"kind": "cppn", "version": 1}


def run_with(*sets: str, cli_name: str | None = None,
             **changes: object) -> Callable[[Path], list]:
    def setup(tmp: Path) -> list[str]:
        argv = ["run", str(config_file(tmp, **changes)), "--quiet"]
        argv += [a for s in sets for a in ("--set", s)]
        return argv + (["--name", cli_name] if cli_name is not None else [])
    return setup


def run_text(text: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", str(config_file(tmp, text)), "--quiet"]


def with_yaml_tail(tail: str) -> Callable[[Path], list[str]]:
    """The tabular config with extra YAML text appended (anchors, tags...)."""
    def setup(tmp: Path) -> list[str]:
        text = yaml.safe_dump({k: v for k, v in tabular_config(tmp).items()
                               if k != "evaluator"})
        return ["run", str(config_file(tmp, text + tail)), "--quiet"]
    return setup


def example(name: str, *sets: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        argv = ["run", str(EXAMPLES / name), "--quiet", "--set", f"runs_dir={tmp / 'runs'}"]
        return argv + [a for s in sets for a in ("--set", s)]
    return setup


def strategy(name: str, **options: object) -> dict:
    return {"name": name, **options}


def resume_with(*sets: str, damage: Callable[[Path], None] | None = None
                ) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        run = make_run(tmp)
        if damage is not None:
            damage(run / "journal.sqlite")
        return ["resume", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]]
    return setup


def sql(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(statement)
        conn.close()
    return damage


def compile_genome(genome: object, space: dict | None = None,
                   config: str | None = None) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        cfg = EXAMPLES / config if config else config_file(tmp, space=space or FREE_SPACE)
        path = tmp / "genome.json"
        path.write_text(genome if isinstance(genome, str) else json.dumps(genome))
        return ["compile", str(path), "--config", str(cfg)]
    return setup


def symlink_config(journal: Path) -> None:
    """config.yaml replaced by a link to a file outside the run folder."""
    outside = journal.parent.parent.parent / "outside.yaml"
    outside.write_text("precious\n")
    (journal.parent / "config.yaml").unlink()
    (journal.parent / "config.yaml").symlink_to(outside)


def victim(tmp: Path) -> list[str]:
    """``--name ../victimdir`` next to runs_dir, where a config.yaml must stay untouched."""
    (tmp / "victimdir").mkdir()
    (tmp / "victimdir" / "config.yaml").write_text("precious\n")
    return run_with(cli_name="../victimdir")(tmp)


def runs_dir_is_a_file(tmp: Path) -> list[str]:
    (tmp / "afile").write_text("x")
    return run_with(runs_dir=str(tmp / "afile"))(tmp)


def config_is_a_folder(tmp: Path) -> list[str]:
    (tmp / "folder.yaml").mkdir()
    return ["run", str(tmp / "folder.yaml"), "--quiet"]


def locked(argv: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """The run folder held by a writer (this process's own lock: flock locks are per open
    file, so a second one conflicts even here)."""
    def setup(tmp: Path) -> list[str]:
        args = argv(tmp)
        run = tmp / "runs" / "t"
        run.mkdir(parents=True, exist_ok=True)
        LOCKS.append(RunLock(run).acquire())
        return args
    return setup


LOCKS: list[RunLock] = []
BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi", strict=True))
        + "evaluator: {workers: 0, address: *i}\n")
FLOW_BOMB = "[&a [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
) + "]"
DEEP = "[" * 200_000 + "]" * 200_000
CPPN = {"kind": "cppn", "version": 1, "num_inputs": 2, "num_outputs": 1,
        "nodes": [[2, "sigmoid", 0.0]], "connections": [[0, 0, 2, 1.0, True],
                                                        [1, 1, 2, -1.0, True]]}

CASES: dict[str, tuple[Callable[[Path], list[str]], str, str]] = {
    # name: (setup returning argv, file named in the message, field fragment)
    # item 3: one writer per run folder
    "resume a folder in use": (locked(lambda tmp: ["resume", str(make_run(tmp)), "--quiet"]),
                               "runs/t", "in use by another evonas process"),
    "run into a folder in use": (locked(run_with()), "runs/t", "in use"),
    # item 4: names stay inside runs_dir
    "--name ../victimdir": (victim, "campaign.yaml", "name (--name): must be a plain folder"),
    "--name empty": (run_with(cli_name=""), "campaign.yaml", "name (--name)"),
    "--name dot": (run_with(cli_name="."), "campaign.yaml", "name (--name)"),
    "--name dotdot": (run_with(cli_name=".."), "campaign.yaml", "name (--name)"),
    "--name with NUL": (run_with(cli_name="a\0b"), "campaign.yaml", "name (--name)"),
    "--name with backslash": (run_with(cli_name="a\\b"), "campaign.yaml", "name (--name)"),
    "config name with NUL": (run_with(**{"name": "a\0b"}), "campaign.yaml",
                             "name: must not hold a NUL"),
    "config name dotdot": (run_with(**{"name": ".."}), "campaign.yaml", "name: must be"),
    # item 5: finite numbers, sane sizes
    "grace_period inf": (run_with(campaign__grace_period=float("inf")), "campaign.yaml",
                         "campaign.grace_period: must be a finite number"),
    "grace_period .inf text": (run_with("campaign.grace_period=.inf"), "campaign.yaml",
                               "campaign.grace_period: must be a finite number"),
    "wall_time nan": (run_with("budget.wall_time=.nan"), "campaign.yaml", "budget.wall_time"),
    "device_seconds inf": (run_with("budget.device_seconds=.inf"), "campaign.yaml",
                           "budget.device_seconds: must be a finite"),
    "timeout -inf": (run_with("evaluator.timeout=-.inf"), "campaign.yaml", "evaluator.timeout"),
    "num_cpus inf": (run_with("evaluator.num_cpus=.inf"), "campaign.yaml",
                     "evaluator.num_cpus"),
    "memory_safety_factor nan": (run_with("evaluator.memory_safety_factor=.nan"),
                                 "campaign.yaml", "evaluator.memory_safety_factor"),
    "cxpb nan": (run_with(strategy=strategy("generational", cxpb=float("nan"))),
                 "campaign.yaml", "strategy.cxpb: must be a finite"),
    "mutpb inf": (run_with(strategy=strategy("generational", mutpb=float("inf"))),
                  "campaign.yaml", "strategy.mutpb"),
    "mutation_weights inf": (run_with("strategy.mutation_weights={add_edge: .inf}"),
                             "campaign.yaml", "strategy.mutation_weights.add_edge"),
    "mutation_weights all zero": (run_with("strategy.mutation_weights={add_edge: 0}"),
                                  "campaign.yaml", "strategy.mutation_weights"),
    "failure_reward nan": (run_with(strategy=strategy("reinforce", failure_reward=float("nan"))),
                           "campaign.yaml", "strategy.failure_reward"),
    "task option nan": (run_with(task={"name": "digits", "lr": float("nan")}), "campaign.yaml",
                        "task.lr: must be a finite"),
    "max_nodes inf": (run_with(space={**FREE_SPACE, "max_nodes": float("inf")}),
                      "campaign.yaml", "space.max_nodes"),
    "max_nodes huge": (run_with(space={**FREE_SPACE, "max_nodes": 10**12}), "campaign.yaml",
                       "space.max_nodes: must be at most"),
    "free widths nan": (run_with(space={**FREE_SPACE, "widths": [16, float("nan")]}),
                        "campaign.yaml", "space.widths[1]"),
    "stem_channels zero": (run_with("space.stem_channels=0"), "campaign.yaml",
                           "space.stem_channels: must be at least 1"),
    "stem_channels huge": (run_with("space.stem_channels=100000000"), "campaign.yaml",
                           "space.stem_channels: must be at most"),
    "stem_channels text": (run_with("space.stem_channels=wide"), "campaign.yaml",
                           "space.stem_channels: must be an integer"),
    "cells_per_stage float": (run_with("space.cells_per_stage=2.5"), "campaign.yaml",
                              "space.cells_per_stage: must be an integer"),
    "cells_per_stage negative": (run_with("space.cells_per_stage=-1"), "campaign.yaml",
                                 "space.cells_per_stage"),
    "workers huge": (run_with("evaluator.workers=100000000000"), "campaign.yaml",
                     "evaluator.workers: must be at most"),
    "workers_per_device x devices huge": (
        run_with("evaluator.workers_per_device=256",
                 f"evaluator.devices=[{', '.join(['cpu'] * 100)}]"),
        "campaign.yaml", "evaluator.workers_per_device"),
    "reinforce hidden_size huge": (run_with(strategy=strategy("reinforce",
                                                              hidden_size=100000000)),
                                   "campaign.yaml", "strategy.hidden_size: must be at most"),
    "seed huge": (run_with(seed=2**70), "campaign.yaml", "seed: must be at most"),
    "alias bomb in evaluator.address": (with_yaml_tail(BOMB), "campaign.yaml",
                                        "expands to more than"),
    "recursive alias": (with_yaml_tail("evaluator: &e {workers: 0, address: [*e]}\n"),
                        "campaign.yaml", "alias refers to the node that contains it"),
    "yaml nested too deep": (run_text("seed: " + "[" * 100_000 + "]" * 100_000 + "\n"),
                             "campaign.yaml", "nested too deeply"),
    "yaml date value": (with_yaml_tail("evaluator: {workers: 0, address: 2024-01-01}\n"),
                        "campaign.yaml", "evaluator.address"),
    "yaml binary value": (with_yaml_tail("evaluator: {workers: 0, address: !!binary aGk=}\n"),
                          "campaign.yaml", "evaluator.address"),
    "address not a string": (run_with("evaluator.address=[1, 2]"), "campaign.yaml",
                             "evaluator.address: must be a string"),
    "bomb through --set": (run_with("evaluator.address=" + FLOW_BOMB), "--set evaluator.address",
                           "not valid YAML"),
    # item 9: one line naming the file and the field
    "config is a folder": (config_is_a_folder, "folder.yaml", "is not a config file"),
    "task.name a list": (run_with("task.name=[1, 2]"), "campaign.yaml",
                         "task.name: must be a string"),
    "strategy.name a mapping": (run_with("strategy.name={a: 1}"), "campaign.yaml",
                                "strategy.name: must be a string"),
    "devices [gpu]": (run_with("evaluator.devices=[gpu]"), "campaign.yaml",
                      "evaluator.devices[0]: unknown device 'gpu'"),
    "devices empty": (run_with("evaluator.devices=[]"), "campaign.yaml", "evaluator.devices"),
    "devices not a list": (run_with("evaluator.devices=cuda"), "campaign.yaml",
                           "evaluator.devices: must be a list"),
    "NUL in a string": (run_with(task={"name": "tabular", "table": "nb201\0cifar10"}),
                        "campaign.yaml", "task.table: must not hold a NUL"),
    "non-string key": (run_text("seed: 0\n1: 2\n"), "campaign.yaml", "keys must be strings"),
    "runs_dir a file": (runs_dir_is_a_file, "campaign.yaml", "runs_dir"),
    "faulty inner import path": (run_with(task={"name": "faulty",
                                                "inner": {"name": "builtins:print"}}),
                                 "campaign.yaml", "task.inner.name: unknown task"),
    "faulty inner not a task": (run_with(task={"name": "faulty", "inner": {"table": "x"}}),
                                "campaign.yaml", "task.inner: missing"),
    "faulty inner bad option": (run_with(task={"name": "faulty",
                                               "inner": {"name": "tabular", "metrc": "x"}}),
                                "campaign.yaml", "task.inner.metrc: unknown key"),
    "target not a number": (run_with(task={"name": "xor", "target": "high"},
                                     space={"name": "neat"}, strategy={"name": "neat"}),
                            "campaign.yaml", "task.target"),
    "genome nested 200000 deep": (compile_genome(DEEP), "genome.json", "nested too deeply"),
    "genome dict nested deep": (compile_genome('{"kind":' * 100_000 + "1" + "}" * 100_000),
                                "genome.json", "nested too deeply"),
    "cppn genome, dag config": (compile_genome(CPPN), "genome.json",
                                "kind: a CPPN genome does not belong to the free space"),
    "dag genome, neat config": (compile_genome(GOOD_GENOME, config="xor_neat.yaml"),
                                "genome.json", "kind: a DAG genome does not belong"),
    "resume --set task.name=[1]": (resume_with("task.name=[1]"), "runs/t/config.yaml",
                                   "task.name: must be a string"),
    "resume --set grace_period inf": (resume_with("campaign.grace_period=.inf"),
                                      "runs/t/config.yaml", "campaign.grace_period"),
    # item 8: a resume that fails changes nothing
    "resume garbage snapshot state": (
        resume_with("budget.evaluations=50", damage=sql(
            "UPDATE snapshots SET state = '{\"strategy\": {\"rng\": 5}}'")),
        "journal.sqlite", "state.strategy: does not load"),
    "resume snapshot counters wrong": (
        resume_with("budget.evaluations=50", damage=sql(
            "UPDATE snapshots SET state = json_set(state, '$.failed', 'many')")),
        "journal.sqlite", "state.failed"),
    "resume genome of another space": (
        resume_with("budget.evaluations=50", damage=sql(
            "UPDATE individuals SET genome = '" + json.dumps(CPPN) + "' WHERE id = 2")),
        "journal.sqlite", "individuals[2].genome"),
    "resume dropped table": (resume_with("budget.evaluations=50",
                                         damage=sql("DROP TABLE snapshots")),
                             "journal.sqlite", "snapshots"),
    "resume through a symlinked config.yaml": (
        resume_with("budget.evaluations=50", damage=symlink_config), "config.yaml",
        "is a symbolic link"),
    "resume a frozen config gone bad": (
        resume_with(damage=sql("UPDATE meta SET value = json_set(value, '$.campaign.grace_period',"
                               " json('null')) WHERE key = 'config'")),
        "journal.sqlite:meta.config", "campaign.grace_period: must not be empty"),
    # item 10: strategy options checked up front
    "neat survival_threshold 7.0": (example("xor_neat.yaml", "strategy.survival_threshold=7.0"),
                                    "xor_neat.yaml", "strategy.survival_threshold: must be at "
                                    "most 1"),
    "neat survival_threshold 0": (example("xor_neat.yaml", "strategy.survival_threshold=0"),
                                  "xor_neat.yaml", "strategy.survival_threshold: must be more"),
    "neat crossover_prob": (example("xor_neat.yaml", "strategy.crossover_prob=1.5"),
                            "xor_neat.yaml", "strategy.crossover_prob"),
    "neat add_node_prob": (example("xor_neat.yaml", "strategy.add_node_prob=-0.1"),
                           "xor_neat.yaml", "strategy.add_node_prob"),
    "neat parent_selection": (example("xor_neat.yaml", "strategy.parent_selection=best"),
                              "xor_neat.yaml", "strategy.parent_selection: must be one of"),
    "neat stagnation": (example("xor_neat.yaml", "strategy.stagnation=0"), "xor_neat.yaml",
                        "strategy.stagnation"),
    "neat elitism": (example("xor_neat.yaml", "strategy.elitism=-1"), "xor_neat.yaml",
                     "strategy.elitism"),
    "neat c1": (example("xor_neat.yaml", "strategy.c1=-1"), "xor_neat.yaml", "strategy.c1"),
    "neat target_species": (example("xor_neat.yaml", "strategy.target_species=0"),
                            "xor_neat.yaml", "strategy.target_species"),
    "neat space weight_range inf": (example("xor_neat.yaml", "space.weight_range=[-.inf, 1]"),
                                    "xor_neat.yaml", "space.weight_range"),
    "neat space num_inputs huge": (example("xor_neat.yaml", "space.num_inputs=10000000"),
                                   "xor_neat.yaml", "space.num_inputs"),
    "reinforce baseline_decay 1": (run_with(strategy=strategy("reinforce", baseline_decay=1.0)),
                                   "campaign.yaml", "strategy.baseline_decay: must be less"),
    "reinforce lr 0": (run_with(strategy=strategy("reinforce", lr=0)),
                       "campaign.yaml", "strategy.lr: must be more"),
    "reinforce batch_size 0": (run_with(strategy=strategy("reinforce", batch_size=0)),
                               "campaign.yaml", "strategy.batch_size"),
    "darts momentum 2": (example("digits_darts.yaml", "strategy.momentum=2"),
                         "digits_darts.yaml", "strategy.momentum: must be at most 1"),
    "darts collapse_fraction 1": (example("digits_darts.yaml", "strategy.collapse_fraction=1"),
                                  "digits_darts.yaml", "strategy.collapse_fraction"),
    "darts threads huge": (example("digits_darts.yaml", "strategy.threads=100000"),
                           "digits_darts.yaml", "strategy.threads"),
    "nsga2 crossover_prob": (example("nb201_nsga2.yaml", "strategy.crossover_prob=1.5"),
                             "nb201_nsga2.yaml", "strategy.crossover_prob"),
    "generational tournament_size 0": (run_with(strategy=strategy("generational",
                                                                  tournament_size=0)),
                                       "campaign.yaml", "strategy.tournament_size"),
    "generational offspring huge": (run_with(strategy=strategy("generational",
                                                               offspring=10**9)),
                                    "campaign.yaml", "strategy.offspring"),
    "regularized population huge": (run_with("strategy.population=1000000000"),
                                    "campaign.yaml", "strategy.population: must be at most"),
}


@pytest.fixture(autouse=True)
def _release_locks() -> Iterator[None]:
    yield
    while LOCKS:
        LOCKS.pop().release()


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (SQLite's -wal/-shm side files aside)."""
    files = {k: v for k, v in folder_digest(root).items() if not k.endswith("-wal")}
    folders = {str(p.relative_to(root)): "dir" for p in root.rglob("*") if p.is_dir()}
    return {**files, **folders}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup, file_name, fragment = CASES[case]
    argv = setup(tmp_path)
    capsys.readouterr()
    before = tree_digest(tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, captured
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "<dict>" not in err
    assert file_name in err and fragment in err, err
    assert tree_digest(tmp_path) == before


def test_debug_shows_the_traceback_of_a_hardening_case(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", *run_with("campaign.grace_period=.inf")(tmp_path)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_unreadable_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, where chmod 000 does not stop a read: the read itself is made to fail
    with the error a permission problem raises."""
    argv = run_with()(tmp_path)

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "campaign.yaml: cannot read the config" in err
    assert "Permission denied" in err and not (tmp_path / "runs").exists()


def test_unwritable_runs_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As root every folder is writable, so the access check is made to say no."""
    argv = run_with()(tmp_path)
    (tmp_path / "runs").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw:
                        False if Path(path) == tmp_path / "runs" else real(path, mode, **kw))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "runs_dir" in err and "not writable" in err
    assert list((tmp_path / "runs").iterdir()) == []


def test_full_disk_is_one_line_and_loses_nothing(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's ``database or disk is full`` on the 6th evaluation (a mock: no tiny filesystem
    here): one line naming the journal, and the folder still opens and resumes."""
    argv = run_with()(tmp_path)
    real = Journal.add_evaluation
    calls = []

    def add_evaluation(self: Journal, row: object) -> None:
        calls.append(row)
        if len(calls) == 6:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, row)

    monkeypatch.setattr(Journal, "add_evaluation", add_evaluation)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err], err
    assert "runs/t/journal.sqlite: database or disk is full" in err and "Traceback" not in err
    monkeypatch.setattr(Journal, "add_evaluation", real)
    run = tmp_path / "runs" / "t"
    assert main(["status", str(run)]) == 0
    assert main(["resume", str(run), "--quiet"]) == 0
    assert evonas.open_run(run).status()["evaluations"] == 40


def test_a_frozen_value_gone_bad_is_repaired_by_set(tmp_path: Path) -> None:
    """An old run whose journal froze ``grace_period: null`` (what ``.inf`` became) resumes
    once ``--set`` gives a valid value."""
    run = make_run(tmp_path)
    sql("UPDATE meta SET value = json_set(value, '$.campaign.grace_period', json('null')) "
        "WHERE key = 'config'")(run / "journal.sqlite")
    assert main(["resume", str(run), "--quiet", "--set", "campaign.grace_period=5",
                 "--set", "budget.evaluations=8"]) == 0
    assert evonas.open_run(run).status()["evaluations"] == 8


def test_cppn_genome_compiles_with_the_xor_config(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = compile_genome(CPPN, config="xor_neat.yaml")(tmp_path)
    assert main([*argv, "--code"]) == 0
    out = capsys.readouterr().out
    assert "network: CPPN, 2 inputs, 1 outputs" in out and "def forward" in out


def test_python_name_gets_the_same_checks(tmp_path: Path) -> None:
    config = tabular_config(tmp_path)
    for name in ("../victim", "", "a/b", "..", "a\0b"):
        with pytest.raises(ConfigError, match="name"):
            evonas.run(config, name=name)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "victim").exists()


def test_a_run_failing_before_its_first_individual_leaves_no_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evonas.campaign import Campaign

    real = Campaign.run

    def broken(self: Campaign) -> object:
        raise RuntimeError("strategy broke")

    monkeypatch.setattr(Campaign, "run", broken)
    with pytest.raises(RuntimeError):
        evonas.run(tabular_config(tmp_path))
    assert list((tmp_path / "runs").iterdir()) == []
    monkeypatch.setattr(Campaign, "run", real)
    assert evonas.run(tabular_config(tmp_path, budget__evaluations=3)).status()["evaluations"] == 3


def test_a_leftover_creating_journal_does_not_take_the_name(tmp_path: Path) -> None:
    """A start killed while creating its journal left config.yaml and journal.sqlite.creating;
    under the lock nobody else can be creating it, so the next start replaces them."""
    run = tmp_path / "runs" / "t"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("old: 1\n")
    (run / "journal.sqlite.creating").write_bytes(b"half a journal")
    assert main(["run", str(config_file(tmp_path, budget__evaluations=3)), "--quiet"]) == 0
    assert not (run / "journal.sqlite.creating").exists()
    assert evonas.open_run(run).status()["evaluations"] == 3


# --------------------------------------------------------------------------- real processes
#: Every evaluation sleeps 0.2 s, so 2000 of them outlast any test; each is killed on progress.
SLOW_TASK = {"name": "faulty", "rates": {"hang": 1.0}, "hang_seconds": 0.2,
             "inner": {"name": "tabular", "table": "nb201_cifar10",
                       "metric": "cifar10_test_acc"}}
PROGRESS_TIMEOUT = 300  # seconds: only a broken run ever waits this long


def slow_config(tmp: Path) -> Path:
    return config_file(tmp, task=SLOW_TASK, budget__evaluations=2000)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evonas.cli", *args]


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(cli(*args), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def journaled(run: Path) -> int:
    """Individuals in the run's journal so far (0 while it does not exist yet)."""
    path = run / "journal.sqlite"
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wait_for_individuals(run: Path, proc: subprocess.Popen, n: int = 1) -> None:
    deadline = time.monotonic() + PROGRESS_TIMEOUT
    while journaled(run) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the campaign made no progress"
        time.sleep(0.05)


def refused(result: subprocess.CompletedProcess, folder: str, fragment: str) -> None:
    err = result.stderr.strip()
    assert result.returncode == 2, result
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert folder in err and fragment in err, err


def test_a_second_writer_is_refused_and_a_killed_writer_does_not_block(tmp_path: Path) -> None:
    config = slow_config(tmp_path)
    run = tmp_path / "runs" / "t"
    first = spawn("run", str(config), "--quiet")
    try:
        wait_for_individuals(run, first)
        refused(subprocess.run(cli("run", str(config), "--quiet"), cwd=REPO,
                               capture_output=True, text=True), "runs/t", "in use")
        refused(subprocess.run(cli("resume", str(run), "--quiet"), cwd=REPO,
                               capture_output=True, text=True), "runs/t", "in use")
        assert first.poll() is None  # the first writer was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    done = subprocess.run(cli("resume", str(run), "--quiet", "--set", "budget.evaluations=1"),
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert evonas.open_run(run).status()["state"] == "completed"


def test_two_simultaneous_starts_leave_a_folder_that_opens(tmp_path: Path) -> None:
    config = slow_config(tmp_path)
    run = tmp_path / "runs" / "t"
    for attempt in range(3):
        procs = [spawn("run", str(config), "--quiet") for _ in range(2)]
        try:
            # The loser is refused: the folder is in use, or its journal exists already.
            deadline = time.monotonic() + PROGRESS_TIMEOUT
            while all(p.poll() is None for p in procs):
                assert time.monotonic() < deadline, "neither start finished"
                time.sleep(0.05)
            loser = next(p for p in procs if p.poll() is not None)
            winner = next(p for p in procs if p is not loser)
            out, err = loser.communicate()
            assert loser.returncode == 2, err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
            assert "in use" in err or "exists already" in err, err
            wait_for_individuals(run, winner)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                p.communicate()
        assert main(["status", str(run)]) == 0
        assert main(["resume", str(run), "--quiet", "--set", "budget.evaluations=1"]) == 0
        assert sorted(p.name for p in run.iterdir() if not p.name.startswith("journal.sqlite-")) \
            == ["config.yaml", "journal.sqlite", "lock"]
        if attempt < 2:
            for p in run.iterdir():
                p.unlink()
            run.rmdir()


def test_faulty_inner_import_path_is_never_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even past the config checks (a task built from a raw mapping), the faulty task's
    ``inner`` must name a registered task: ``builtins:print`` is refused, not called."""
    import builtins

    from evonas.tasks import TaskError, build_task
    from genomes import NB201Space

    called = []
    monkeypatch.setattr(builtins, "print", lambda *a, **k: called.append(a))
    with pytest.raises(TaskError, match="task.inner.name: must name a registered task"):
        build_task({"name": "faulty", "inner": {"name": "builtins:print"}}, NB201Space())
    with pytest.raises(TaskError, match="task.inner.metric"):
        build_task({"name": "faulty", "inner": {"name": "tabular", "metric": "nope"}},
                   NB201Space())
    assert called == []
