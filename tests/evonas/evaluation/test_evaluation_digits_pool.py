"""Digits training in spawned workers gives the metrics in-process training gives."""

from __future__ import annotations

import pytest
import torch

from evonas.evaluation import EvalJob, make_evaluator
from evonas.evaluation.devices import plan_devices
from genomes import DAGGenome, Edge

SPACE = {"name": "free"}
TASK = {"name": "digits", "epochs": 1}
GENOMES = [
    DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_3x3")), (16, 32, 32)),
    DAGGenome("free", 4, (Edge(0, 1, "sep_conv_3x3"), Edge(0, 2, "max_pool_3x3"),
                          Edge(1, 3, "conv_3x3"), Edge(2, 3, "identity")), (16, 16, 16, 32)),
]


@pytest.fixture
def worker_threads():
    """Float results depend on the thread count: use the count each of 2 workers gets."""
    threads = torch.get_num_threads()
    torch.set_num_threads(plan_devices(2, ["cpu"])[0].threads)
    yield
    torch.set_num_threads(threads)


def test_pool_and_in_process_agree_on_digits(worker_threads):
    jobs = [EvalJob(i, g.to_dict(), seed=40 + i) for i, g in enumerate(GENOMES)]
    with make_evaluator(TASK, SPACE, workers=2, devices=["cpu"]) as pool:
        for j in jobs:
            pool.submit(j)
        remote = {r.individual_id: r for r in pool.results()}
    with make_evaluator(TASK, SPACE, workers=0) as local:
        for j in jobs:
            local.submit(j)
        here = {r.individual_id: r for r in local.results()}
    assert sorted(remote) == [0, 1]
    for i in remote:
        assert remote[i].ok, remote[i].error
        drop = {"train_seconds"}
        assert {k: v for k, v in remote[i].metrics.items() if k not in drop} == \
            {k: v for k, v in here[i].metrics.items() if k not in drop}
        assert remote[i].worker.startswith("worker-") and remote[i].worker.endswith("(cpu)")
