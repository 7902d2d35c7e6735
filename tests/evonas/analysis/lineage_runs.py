"""Small real runs for the lineage and report tests (NB201 table, in-process, about a second)."""

from __future__ import annotations

import argparse
from pathlib import Path

import evonas
from evonas.cli import commands as cli
from evonas.cli.lineage import add_commands
from evonas.run import Run
from evonas.seeds import evaluation_seed
from tests.conftest import tabular_config

#: Individuals whose evaluation the faulty task makes fail in :func:`regularized_run`.
FAILING = (12, 31)


def regularized_run(root: Path) -> Run:
    """Regularized evolution, 60 evaluations, two of them failing (single-parent lineages)."""
    config = tabular_config(root, budget__evaluations=60)
    config["name"] = "regularized"
    config["task"] = {"name": "faulty",
                      "inner": {"name": "tabular", "table": "nb201_cifar10",
                                "metric": "cifar10_test_acc"},
                      "faults": {"raise": [evaluation_seed(0, i) for i in FAILING]}}
    return evonas.run(config)


def generational_run(root: Path) -> Run:
    """(mu + lambda) evolution with crossover: individuals with two parents, generations."""
    config = tabular_config(root, budget__evaluations=60)
    config["name"] = "generational"
    config["strategy"] = {"name": "generational", "population": 10, "offspring": 10,
                          "crossover_prob": 0.6, "mutation_prob": 0.4}
    return evonas.run(config)


def evonas_main(argv: list[str]) -> int:
    """``evonas.cli.commands`` with the lineage and report commands added where the lead's parser
    does not have them yet."""
    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) and "lineage" not in action.choices:
                add_commands(action)
        return parser

    cli.build_parser = build
    try:
        return cli.main(argv)
    finally:
        cli.build_parser = original
