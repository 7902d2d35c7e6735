"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.campaigns import with_changes

REPO = Path(__file__).resolve().parent.parent
NB201_TABLE = REPO / "evonas" / "data" / "nb201_cifar10.csv"


def tabular_config(tmp_path: Path, **changes: object) -> dict:
    """A small NB201 tabular campaign config writing under ``tmp_path``."""
    config: dict = {
        "name": "t",
        "seed": 0,
        "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "nb201"},
        "task": {"name": "tabular", "table": "nb201_cifar10", "metric": "cifar10_test_acc"},
        "strategy": {"name": "regularized_evolution", "population": 10, "sample": 3},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 40},
        "campaign": {"progress": False, "checkpoint_every": 7},
    }
    return with_changes(config, changes)


@pytest.fixture
def nb201_config(tmp_path: Path) -> dict:
    return tabular_config(tmp_path)
