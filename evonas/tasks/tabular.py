"""Tabular benchmarks: fitness is a lookup in a table of precomputed results (zero training cost).

The table is a CSV with one row per architecture, the architecture in NAS-Bench-201 notation in
``arch_column`` and any number of result columns. The special table name ``nb201_cifar10`` is the
packaged NAS-Bench-201 CIFAR-10 table (all 15,625 cells, test accuracy after 200 epochs). Config::

    task:
      name: tabular
      table: nb201_cifar10        # or a CSV path (relative to the current directory)
      metric: cifar10_test_acc    # the column fitness copies
      arch_column: arch
"""

from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path
from typing import Any

from evonas.tasks.base import Task
from evonas.tasks.errors import EvaluationFailure, TaskError
from evonas.tasks.options import read_options, require
from genomes import DAGGenome, SearchSpace

#: Table names that mean a CSV shipped with evonas (file name under ``evonas/data``).
PACKAGED_TABLES: dict[str, str] = {
    "nb201_cifar10": "nb201_cifar10.csv",
    "nb201_cifar10_cost": "nb201_cifar10_cost.csv",  # + params, for multi-objective search
}

TABULAR_DEFAULTS: dict[str, Any] = {
    "table": "nb201_cifar10",
    "metric": "cifar10_test_acc",
    "arch_column": "arch",
}


def resolve_table(table: str) -> Path:
    """The CSV file a ``task.table`` value names (a packaged name or a path).

    Raises:
        TaskError: ``task.table: file not found: PATH`` when there is no such file.
    """
    if table in PACKAGED_TABLES:
        path = Path(str(resources.files("evonas").joinpath("data", PACKAGED_TABLES[table])))
    else:
        path = Path(table).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
    if not path.is_file():
        raise TaskError(f"task.table: file not found: {path}")
    return path


class TabularTask(Task[DAGGenome]):
    """Fitness = one column of a results table, looked up by the genome's NB201 string.

    Every other numeric column of the row is returned as a metric as well, and
    ``train_seconds`` is 0.

    Args:
        table: a packaged table name (:data:`PACKAGED_TABLES`) or a CSV path.
        metric: the column fitness copies.
        arch_column: the column holding the architecture string.

    Raises:
        TaskError: when the file is missing, unreadable, or lacks a named column.
    """

    name = "tabular"

    def __init__(self, table: str = "nb201_cifar10", metric: str = "cifar10_test_acc",
                 arch_column: str = "arch") -> None:
        self.path = resolve_table(table)
        self.fitness_metric = metric
        self.arch_column = arch_column
        self.rows = _load_rows(self.path, arch_column, metric)

    def __len__(self) -> int:
        return len(self.rows)

    def evaluate(self, genome: DAGGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Look the genome up; ``seed`` and ``device`` are unused (the table is the truth).

        Raises:
            EvaluationFailure: when the architecture is not in the table or has no value.
        """
        arch = genome.to_nb201()
        row = self.rows.get(arch)
        if row is None:
            raise EvaluationFailure(f"arch not in table {self.path.name}: {arch}")
        value = row.get(self.fitness_metric, math.nan)
        if not math.isfinite(value):
            raise EvaluationFailure(f"no {self.fitness_metric} value in the table for {arch}")
        metrics: dict[str, float] = {"fitness": float(value)}
        metrics.update(row)
        metrics["train_seconds"] = 0.0
        return metrics


def _load_rows(path: Path, arch_column: str, metric: str) -> dict[str, dict[str, float]]:
    """Read the CSV into ``{arch: {numeric column: value}}``."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TaskError(f"task.table: cannot read {path}: {exc}") from None
    if not header:
        raise TaskError(f"task.table: {path} is empty (no header row)")
    for field, column in (("arch_column", arch_column), ("metric", metric)):
        if column not in header:
            raise TaskError(f"task.{field}: no column {column!r} in {path.name}; "
                            f"available: {header}")
    width = len(header)
    for line, record in enumerate(records, start=2):
        if len(record) != width:
            raise TaskError(f"task.table: {path.name} line {line} has {len(record)} fields, "
                            f"the header has {width}")
    columns = list(zip(*records, strict=True)) if records else [() for _ in header]
    numeric: dict[str, list[float]] = {}
    for name, values in zip(header, columns, strict=True):
        if name == arch_column:
            continue
        parsed = _parse_numeric(values)
        if parsed is not None:
            numeric[name] = parsed
    if metric not in numeric:
        raise TaskError(f"task.metric: column {metric!r} of {path.name} is not numeric; "
                        f"numeric columns: {sorted(numeric)}")
    archs = columns[header.index(arch_column)]
    names = list(numeric)
    return {arch: dict(zip(names, values, strict=True))
            for arch, *values in zip(archs, *numeric.values(), strict=True)}


def _parse_numeric(values: tuple[str, ...]) -> list[float] | None:
    """The column as numbers (ints where every value is an int, empty -> NaN), or None."""
    try:
        return [int(v) for v in values]
    except ValueError:
        pass
    try:
        return [float(v) if v.strip() else math.nan for v in values]
    except ValueError:
        return None


def make_tabular_task(task_config: dict[str, Any], space: SearchSpace) -> TabularTask:
    """The registry factory for ``name: tabular``."""
    options = read_options("tabular", task_config, TABULAR_DEFAULTS)
    require(space.name == "nb201", "name",
            f"the tabular task looks up NAS-Bench-201 cells; it needs space.name: nb201, "
            f"got {space.name!r}")
    for key in TABULAR_DEFAULTS:
        require(bool(options[key]), key, "must be a non-empty string")
    return TabularTask(options["table"], options["metric"], options["arch_column"])
