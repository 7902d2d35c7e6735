"""Fault rates of the faulty task, and the out-of-memory retry at half batch (in-process)."""

from __future__ import annotations

from collections import Counter

import pytest

from evonas.evaluation import EvalJob, InProcessEvaluator
from evonas.evaluation.execute import OOM_HALF_BATCH, OOM_NO_RETRY
from evonas.tasks import Task, TaskError, build_task
from evonas.tasks.testing import FAULT_KINDS, FaultyTask, fault_draw
from genomes import DAGGenome, NB201Space

SPACE = {"name": "nb201"}
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
GENOME = DAGGenome.from_nb201(CELL)


def faulty(**options: object) -> FaultyTask:
    task = build_task({"name": "faulty", **options}, NB201Space())
    assert isinstance(task, FaultyTask)
    return task


def run_one(task: Task | dict, seed: int = 0):
    ev = InProcessEvaluator(task, SPACE)
    ev.submit(EvalJob(1, GENOME.to_dict(), seed))
    (result,) = list(ev.results())
    return result


# ---------------------------------------------------------------- rates
def test_fault_rates_are_deterministic_per_seed_and_kind():
    task = faulty(rates={kind: 0.05 for kind in FAULT_KINDS})
    again = faulty(rates={kind: 0.05 for kind in FAULT_KINDS})
    kinds = [task.fault_for(GENOME, seed) for seed in range(3000)]
    assert kinds == [again.fault_for(GENOME, seed) for seed in range(3000)], "retries hit the same"
    counts = Counter(kinds)
    assert set(counts) == {None, *FAULT_KINDS}
    assert 0.19 < 1 - counts[None] / 3000 < 0.26  # 1 - 0.95**5 = 0.226
    assert fault_draw(12, "exit") == fault_draw(12, "exit") != fault_draw(12, "hang")


def test_a_rate_of_one_always_faults_and_zero_never():
    always = faulty(rates={"nan": 1.0, "exit": 0.0})
    assert {always.fault_for(GENOME, seed) for seed in range(200)} == {"nan"}
    assert run_one(always).error == "nan loss"


def test_explicit_triggers_come_before_rates():
    task = faulty(faults={"raise": [5]}, rates={"nan": 1.0})
    assert task.fault_for(GENOME, 5) == "raise"
    assert task.fault_for(GENOME, 6) == "nan"


@pytest.mark.parametrize(("rates", "message"), [
    ({"rais": 0.1}, r"^task\.rates\.rais: unknown fault kind; did you mean 'raise'\?"),
    ({"exit": 1.5}, r"^task\.rates\.exit: must be a probability between 0 and 1, got 1\.5"),
    ({"hang": -0.1}, r"^task\.rates\.hang: must be a probability"),
    ({"memory": "often"}, r"^task\.rates\.memory: must be a probability"),
    ({"raise": True}, r"^task\.rates\.raise: must be a probability"),
    (0.2, r"^task\.rates: expected dict"),
])
def test_bad_rates_name_the_field(rates: object, message: str):
    with pytest.raises(TaskError, match=message):
        faulty(rates=rates)


# ---------------------------------------------------------------- out of memory
def test_out_of_memory_only_at_full_batch_succeeds_at_half_batch():
    config = {"name": "faulty", "faults": {"memory": [CELL]}, "memory_at_half_batch": False}
    result = run_one(config)
    plain = run_one({"name": "tabular"})
    assert result.ok, result.error
    assert result.metrics == {**plain.metrics, "batch_scale": 0.5}


def test_out_of_memory_also_at_half_batch_is_infeasible():
    result = run_one({"name": "faulty", "faults": {"memory": [CELL]}})
    assert not result.ok and result.error == OOM_HALF_BATCH
    assert OOM_HALF_BATCH == "infeasible: out of memory (also at half batch)"


class _NoScaleOOM(Task):
    name = "no-scale"
    fitness_metric = "fitness"

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, genome, seed, device="cpu"):
        self.calls += 1
        raise MemoryError


def test_a_task_that_cannot_scale_its_batch_is_not_run_again():
    task = _NoScaleOOM()
    result = run_one(task)
    assert result.error == OOM_NO_RETRY and task.calls == 1


def test_a_cuda_style_out_of_memory_error_is_retried_too():
    class OutOfMemoryError(RuntimeError):  # what torch.cuda.OutOfMemoryError is called
        pass

    class CudaOOM(_NoScaleOOM):
        scales_batch = True

        def evaluate(self, genome, seed, device="cpu", *, batch_scale=1.0):
            self.calls += 1
            if batch_scale == 1.0:
                raise OutOfMemoryError("CUDA out of memory")
            return {"fitness": 1.0}

    task = CudaOOM()
    result = run_one(task)
    assert result.ok and result.metrics == {"fitness": 1.0, "batch_scale": 0.5}
    assert task.calls == 2


def test_classification_retries_with_half_the_training_batch(monkeypatch):
    from evonas.tasks import training

    task = build_task({"name": "digits", "epochs": 1, "batch_size": 64}, NB201Space())
    seen = []

    def fake_train(genome, space, data, input_shape, num_classes, recipe, seed, device,
                   plan=None):
        seen.append((recipe.batch_size, recipe.eval_batch_size))
        if recipe.batch_size == 64:
            raise MemoryError
        return {"fitness": 0.5}

    monkeypatch.setattr(training, "train_and_score", fake_train)
    monkeypatch.setattr(type(task), "_data", lambda self, device: ())
    result = run_one(task)
    assert result.ok, result.error
    assert seen == [(64, 1024), (32, 512)]
    assert task.recipe.batch_size == 64, "the task's own recipe is unchanged"

