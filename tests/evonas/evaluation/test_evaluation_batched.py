"""The batched in-process evaluator: one task call per generation, failures stay per genome."""

from __future__ import annotations

import numpy as np
import pytest

from evonas.evaluation import EvalJob, InProcessEvaluator
from evonas.evaluation.batched import BatchedInProcessEvaluator
from evonas.tasks.control import XORTask
from genomes import InnovationTracker, NEATSpace
from operators.neat import MutationRates, initial_genome, mutate_neat


def jobs(n: int) -> list[EvalJob]:
    space = NEATSpace()
    rng = np.random.default_rng(0)
    tracker = InnovationTracker()
    out = []
    for i in range(n):
        g = initial_genome(space, rng, tracker)
        g, _ = mutate_neat(g, rng, space, tracker, MutationRates(add_node=0.5))
        out.append(EvalJob(i, g.to_dict(), i))
    return out


class CountingXOR(XORTask):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def evaluate_batch(self, genomes, seeds, device="cpu"):  # noqa: ANN001, ANN201
        self.batches.append(len(genomes))
        return super().evaluate_batch(genomes, seeds, device)


def test_one_call_per_poll_and_same_results_as_one_by_one() -> None:
    task = CountingXOR()
    batched = BatchedInProcessEvaluator(task, NEATSpace(), batch_size=8)
    single = InProcessEvaluator(XORTask(), NEATSpace())
    assert batched.capacity == 8
    for job in jobs(10):
        batched.submit(job)
        single.submit(job)
    first = batched.poll()
    assert [r.individual_id for r in first] == list(range(8)) and task.batches == [8]
    rest = batched.poll()
    assert [r.individual_id for r in rest] == [8, 9] and batched.in_flight == 0
    expected = [single.poll()[0] for _ in range(10)]
    for got, want in zip(first + rest, expected, strict=True):
        assert got.ok and got.metrics["fitness"] == pytest.approx(want.metrics["fitness"])
    assert batched.poll() == []


def test_a_bad_genome_fails_alone() -> None:
    task = CountingXOR()
    evaluator = BatchedInProcessEvaluator(task, NEATSpace())
    good = jobs(3)
    bad = EvalJob(99, {"kind": "cppn", "version": 1}, 0)
    for job in (good[0], bad, good[1], good[2]):
        evaluator.submit(job)
    results = evaluator.poll()
    assert [r.individual_id for r in results] == [0, 99, 1, 2]
    assert [r.ok for r in results] == [True, False, True, True]
    assert "num_inputs: missing" in results[1].error and task.batches == [3]


def test_a_failing_batch_falls_back_to_one_by_one() -> None:
    class Fragile(XORTask):
        def evaluate_batch(self, genomes, seeds, device="cpu"):  # noqa: ANN001, ANN201
            raise RuntimeError("kernel exploded")

        def evaluate(self, genome, seed, device="cpu"):  # noqa: ANN001, ANN201
            if seed == 1:
                raise RuntimeError("this one is broken")
            return super().evaluate(genome, seed, device)

    evaluator = BatchedInProcessEvaluator(Fragile(), NEATSpace())
    for job in jobs(3):
        evaluator.submit(job)
    results = evaluator.poll()
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "RuntimeError: this one is broken"
    with pytest.raises(ValueError, match="batch_size"):
        BatchedInProcessEvaluator(XORTask(), NEATSpace(), batch_size=0)
