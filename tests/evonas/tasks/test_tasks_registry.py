"""Building tasks by name: the registry, import-path factories and the fault-injecting task."""

from __future__ import annotations

import pytest

from evonas.tasks import (
    TASK_DEFAULTS,
    EvaluationFailure,
    FaultyTask,
    TaskError,
    build_task,
    register_task,
    registry,
    task_names,
)
from evonas.tasks.tabular import TabularTask
from genomes import DAGGenome, NB201Space

NB201 = NB201Space()
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")


def test_builtin_tasks_are_registered_with_their_defaults():
    assert {"digits", "tabular", "faulty"} <= set(task_names())
    assert set(TASK_DEFAULTS) >= {"digits", "tabular", "faulty"}


def test_unknown_name_suggests_the_closest():
    with pytest.raises(TaskError,
                       match=r"task\.name: unknown task 'tabluar'; did you mean 'tabular'"):
        build_task({"name": "tabluar"}, NB201)


def test_missing_name_lists_the_choices():
    with pytest.raises(TaskError, match=r"task\.name: missing; choose one of"):
        build_task({"table": "nb201_cifar10"}, NB201)


def test_space_may_be_given_as_its_config_mapping():
    assert isinstance(build_task({"name": "tabular"}, {"name": "nb201"}), TabularTask)
    with pytest.raises(TaskError, match=r"space\.name"):
        build_task({"name": "tabular"}, {"name": "nb301"})


def test_register_task_adds_a_name():
    register_task("test_constant", lambda config, space: TabularTask(), {"value": 1})
    try:
        assert isinstance(build_task({"name": "test_constant"}, NB201), TabularTask)
        assert TASK_DEFAULTS["test_constant"] == {"value": 1}
    finally:
        registry._FACTORIES.pop("test_constant")
        TASK_DEFAULTS.pop("test_constant")


def test_import_path_names_a_factory():
    task = build_task({"name": "evonas.tasks.tabular:make_tabular_task"}, NB201)
    assert isinstance(task, TabularTask)
    with pytest.raises(TaskError, match=r"task\.name: cannot import"):
        build_task({"name": "evonas.tasks.tabular:no_such_factory"}, NB201)


def test_faulty_task_injects_faults_by_genome_string_or_seed():
    genome = DAGGenome.from_nb201(CELL)
    task = build_task({"name": "faulty", "faults": {"raise": [CELL], "nan": [7],
                                                    "memory": [genome.canonical_hash()]}}, NB201)
    assert isinstance(task, FaultyTask)
    assert task.fault_for(genome, 0) == "raise"
    with pytest.raises(RuntimeError, match="injected fault"):
        task.evaluate(genome, seed=0)
    other = DAGGenome.from_nb201(CELL.replace("skip_connect~0", "none~0"))
    with pytest.raises(EvaluationFailure, match="nan loss"):
        task.evaluate(other, seed=7)
    assert task.evaluate(other, seed=8)["fitness"] > 0


def test_faulty_task_rejects_unknown_fault_kinds():
    with pytest.raises(TaskError, match=r"task\.faults\.crash: unknown fault kind"):
        build_task({"name": "faulty", "faults": {"crash": [1]}}, NB201)
    with pytest.raises(TaskError, match=r"task\.faults\.exit: must be a list"):
        build_task({"name": "faulty", "faults": {"exit": 3}}, NB201)


def test_in_process_campaign_builds_its_task_once(tmp_path):
    """``evonas run`` with ``workers: 0`` checks the task config by building the task, then
    evaluates with that same task (a dataset is loaded once, not twice)."""
    from evonas.api import start_campaign
    from evonas.config import load_config

    built = []

    def factory(config, space):
        built.append(config)
        return TabularTask()

    register_task("test_counted", factory, {})
    try:
        start_campaign(load_config({
            "name": "once", "seed": 0, "runs_dir": str(tmp_path), "space": {"name": "nb201"},
            "task": {"name": "test_counted"}, "strategy": {"name": "random"},
            "evaluator": {"workers": 0}, "budget": {"evaluations": 3},
            "campaign": {"progress": False}}))
    finally:
        registry._FACTORIES.pop("test_counted")
        TASK_DEFAULTS.pop("test_counted")
    assert len(built) == 1
