"""Fixtures shared by the engine's tests: small real runs (module-scoped, built once per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evonas.run import Run
from tests.evonas.analysis.lineage_runs import generational_run, regularized_run


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Regularized evolution on the NB201 table, two evaluations failing."""
    run = regularized_run(tmp_path_factory.mktemp("reg"))
    yield run
    run.close()


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """(mu + lambda) evolution with crossover on the NB201 table."""
    run = generational_run(tmp_path_factory.mktemp("gen"))
    yield run
    run.close()
