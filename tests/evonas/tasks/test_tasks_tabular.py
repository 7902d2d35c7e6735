"""The tabular task: CSV lookup by NB201 string, clear errors for bad tables and columns."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from evonas.tasks import TASK_DEFAULTS, EvaluationFailure, TabularTask, TaskError, build_task
from evonas.tasks.tabular import resolve_table
from genomes import DAGGenome, FreeSpace, NB201Space

NB201 = NB201Space()
TABLE = Path(__file__).resolve().parents[3] / "evonas" / "data" / "nb201_cifar10.csv"


@pytest.fixture(scope="module")
def table_rows() -> list[dict[str, str]]:
    with TABLE.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def task() -> TabularTask:
    return build_task({"name": "tabular", "table": "nb201_cifar10"}, NB201)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("row", [0, 1, 777, 5000, 12345, 15624])
def test_lookup_equals_the_csv_value(task, table_rows, row):
    record = table_rows[row]
    genome = DAGGenome.from_nb201(record["arch"])
    metrics = task.evaluate(genome, seed=0)
    assert metrics["fitness"] == float(record["cifar10_test_acc"])
    assert metrics["cifar10_test_acc"] == float(record["cifar10_test_acc"])
    assert metrics["index"] == int(record["index"])
    assert metrics["train_seconds"] == 0.0


def test_whole_table_is_loaded_and_the_best_cells_score_best(task, table_rows):
    assert len(task) == 15625
    best = max(float(r["cifar10_test_acc"]) for r in table_rows)
    assert best == pytest.approx(94.3733)
    assert max(row["cifar10_test_acc"] for row in task.rows.values()) == best


def test_packaged_name_resolves_to_the_shipped_csv():
    assert resolve_table("nb201_cifar10").samefile(TABLE)


def test_relative_path_is_resolved_against_the_current_directory(tmp_path, monkeypatch):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|none~2|"
    write_csv(tmp_path / "mini.csv", ["arch", "acc", "note", "latency_ms"],
              [[arch, 91.5, "good", 3.25]])
    monkeypatch.chdir(tmp_path)
    task = build_task({"name": "tabular", "table": "mini.csv", "metric": "acc"}, NB201)
    metrics = task.evaluate(DAGGenome.from_nb201(arch), seed=1)
    assert metrics == {"fitness": 91.5, "acc": 91.5, "latency_ms": 3.25, "train_seconds": 0.0}
    assert task.fitness_metric == "acc"


def test_arch_missing_from_the_table_is_an_evaluation_failure(tmp_path):
    table = write_csv(tmp_path / "one.csv", ["arch", "acc"],
                      [["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10.0]])
    task = TabularTask(str(table), metric="acc")
    other = DAGGenome.from_nb201(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|none~2|")
    with pytest.raises(EvaluationFailure, match="arch not in table"):
        task.evaluate(other, seed=0)


def test_missing_file_names_the_field_and_the_path(tmp_path):
    with pytest.raises(TaskError, match=r"^task\.table: file not found: .*nope\.csv"):
        build_task({"name": "tabular", "table": str(tmp_path / "nope.csv")}, NB201)


def test_missing_metric_column_lists_the_available_columns():
    with pytest.raises(TaskError, match=r"task\.metric: no column 'cifar100_acc'.*"
                                        r"available: \['index', 'arch', 'cifar10_test_acc'\]"):
        build_task({"name": "tabular", "metric": "cifar100_acc"}, NB201)


def test_missing_arch_column_names_its_field():
    with pytest.raises(TaskError, match=r"task\.arch_column: no column 'genotype'"):
        build_task({"name": "tabular", "arch_column": "genotype"}, NB201)


def test_non_numeric_metric_column_is_rejected(tmp_path):
    table = write_csv(tmp_path / "t.csv", ["arch", "label"], [["|none~0|", "good"]])
    with pytest.raises(TaskError, match=r"task\.metric: column 'label' .* not numeric"):
        TabularTask(str(table), metric="label")


def test_ragged_row_is_rejected(tmp_path):
    (tmp_path / "bad.csv").write_text("arch,acc\n|none~0|,1.0,extra\n")
    with pytest.raises(TaskError, match=r"task\.table: bad\.csv line 2 has 3 fields"):
        TabularTask(str(tmp_path / "bad.csv"), metric="acc")


def test_tabular_needs_the_nb201_space():
    with pytest.raises(TaskError, match=r"task\.name: .*space\.name: nb201"):
        build_task({"name": "tabular"}, FreeSpace())


def test_unknown_key_and_defaults():
    with pytest.raises(TaskError, match=r"task\.metirc: unknown key .*did you mean 'metric'"):
        build_task({"name": "tabular", "metirc": "x"}, NB201)
    assert TASK_DEFAULTS["tabular"] == {"table": "nb201_cifar10", "metric": "cifar10_test_acc",
                                        "arch_column": "arch"}
