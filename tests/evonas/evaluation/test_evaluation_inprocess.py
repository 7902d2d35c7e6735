"""The in-process evaluator and the shared job runner: one result per job, failures as results."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evonas.evaluation import EvalJob, EvalResult, InProcessEvaluator, make_evaluator
from evonas.evaluation.execute import describe_exception, json_safe_metrics
from evonas.tasks import EvaluationFailure, TaskError
from genomes import DAGGenome

SPACE = {"name": "nb201"}
CELLS = [
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
]


def job(i: int, arch: str, seed: int = 0) -> EvalJob:
    return EvalJob(i, DAGGenome.from_nb201(arch).to_dict(), seed)


def test_workers_zero_gives_an_in_process_evaluator_with_capacity_one():
    with make_evaluator({"name": "tabular"}, SPACE, workers=0) as ev:
        assert isinstance(ev, InProcessEvaluator)
        assert ev.capacity == 1
        assert ev.poll(0) == []


def test_results_come_back_one_per_job_in_order():
    ev = make_evaluator({"name": "tabular"}, SPACE, workers=0)
    for i, arch in enumerate(CELLS):
        ev.submit(job(10 + i, arch))
    assert ev.in_flight == 3
    results = list(ev.results())
    assert [r.individual_id for r in results] == [10, 11, 12]
    assert all(r.ok and r.worker == "main (cpu)" and r.error is None for r in results)
    assert results[0].metrics["fitness"] == 85.8633
    assert ev.in_flight == 0
    ev.close()


def test_failures_become_failed_results_with_short_reasons():
    faults = {"raise": [CELLS[0]], "nan": [CELLS[1]], "memory": [CELLS[2]]}
    ev = make_evaluator({"name": "faulty", "faults": faults}, SPACE, workers=0)
    for i, arch in enumerate(CELLS):
        ev.submit(job(i, arch))
    ev.submit(EvalJob(3, {"kind": "dag", "version": 1, "space": "nb201", "num_nodes": 4,
                          "edges": [[0, 1, "nor_conv_3x3"]]}, 0))
    errors = {r.individual_id: r.error for r in ev.results()}
    assert errors[0] == "RuntimeError: injected fault"
    assert errors[1] == "nan loss"
    assert errors[2] == "infeasible: out of memory (also at half batch)"
    assert errors[3].startswith("GenomeError: edges: an nb201 cell has all 6 edges")


def test_bad_task_config_fails_at_construction():
    with pytest.raises(TaskError, match=r"task\.table"):
        make_evaluator({"name": "tabular", "table": "/no/such/table.csv"}, SPACE, workers=0)
    with pytest.raises(ValueError, match="workers"):
        make_evaluator({"name": "tabular"}, SPACE, workers=-1)


def test_metrics_are_made_json_safe():
    clean = json_safe_metrics({"fitness": np.float32(0.5), "params": np.int64(7),
                               "val_loss": float("nan")})
    assert clean == {"fitness": 0.5, "params": 7, "val_loss": None}
    assert type(clean["params"]) is int
    with pytest.raises(EvaluationFailure, match="no finite fitness"):
        json_safe_metrics({"fitness": math.inf})
    with pytest.raises(EvaluationFailure, match="no finite fitness"):
        json_safe_metrics({"accuracy": 0.9})
    with pytest.raises(EvaluationFailure, match="not a number"):
        json_safe_metrics({"fitness": 1.0, "name": "x"})


def test_exception_descriptions_are_short():
    assert describe_exception(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert describe_exception(KeyError()) == "KeyError"
    assert len(describe_exception(RuntimeError("x" * 1000))) == 300


def test_result_round_trips_through_its_dict():
    result = EvalResult(4, "failed", {}, "timeout after 3s", "worker-1 (cpu)", 3.0)
    assert EvalResult.from_dict(result.to_dict()) == result
    assert not result.ok
