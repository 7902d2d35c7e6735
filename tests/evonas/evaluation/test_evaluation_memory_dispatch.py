"""The GPU-aware pool on a CPU-only machine: workers per device, capacities, memory-aware dispatch.

Planning needs no GPU (fake device lists), and ``device_memory`` gives the CPU a capacity, which is
how the dispatch logic runs here. Pool tests use a fast table task and a stand-in estimator; the
real estimator is checked on the digits task without workers.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from evonas.config import ConfigError, load_config
from evonas.evaluation import EvalJob, LocalPoolEvaluator, make_evaluator
from evonas.evaluation.devices import plan_devices
from evonas.evaluation.dispatch import (
    CUDA_WORKER_RESERVE,
    MemoryDispatcher,
    device_capacities,
    memory_dispatch_wanted,
    task_estimator,
)
from evonas.evaluation.memory import estimate_peak_memory
from genomes import DAGGenome, space_from_dict

REPO = Path(__file__).resolve().parents[3]
TABLE = REPO / "evonas" / "data" / "nb201_cifar10.csv"
SPACE = {"name": "nb201"}
GIB = 2**30
HANG_SECONDS = 0.6


def _archs(n: int) -> list[str]:
    with TABLE.open(newline="") as handle:
        return [row["arch"] for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


ARCHS = _archs(12)
SLOW = ARCHS[:4]  # these evaluations sleep HANG_SECONDS, so they are seen running together
TASK = {"name": "faulty", "inner": {"name": "tabular", "table": "nb201_cifar10"},
        "faults": {"hang": SLOW}, "hang_seconds": HANG_SECONDS}


def job(i: int, arch: str = ARCHS[0]) -> EvalJob:
    return EvalJob(i, DAGGenome.from_nb201(arch).to_dict(), seed=i)


# ---------------------------------------------------------------- planning: workers_per_device
def test_workers_per_device_starts_that_many_workers_on_every_device(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    plan = plan_devices(1, ["cuda:0", "cuda:1"], cpu_count=16, workers_per_device=2)
    assert [d.label for d in plan] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [d.env["CUDA_VISIBLE_DEVICES"] for d in plan] == ["0", "1", "0", "1"]
    assert all(d.threads == 4 for d in plan)  # the cores are split across all four workers
    cpu = plan_devices(7, ["cpu"], cpu_count=6, workers_per_device=3)  # workers is ignored
    assert [d.label for d in cpu] == ["cpu"] * 3 and cpu[0].threads == 2
    with pytest.raises(ValueError, match="workers_per_device: need at least 1"):
        plan_devices(1, ["cpu"], workers_per_device=0)


def test_workers_per_device_on_a_cpu_only_machine_counts_the_cpu_as_one_device():
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has GPUs")
    assert [d.label for d in plan_devices(1, None, workers_per_device=2)] == ["cpu", "cpu"]


# ---------------------------------------------------------------- capacities
def test_dispatch_is_memory_aware_only_with_a_capacity():
    assert not memory_dispatch_wanted(["cpu", "cpu"], None)
    assert not memory_dispatch_wanted(["mps"], None)
    assert memory_dispatch_wanted(["cpu"], GIB)
    assert memory_dispatch_wanted(["cpu", "cuda:1"], None)


def test_capacities_from_the_override_or_the_cuda_devices(monkeypatch):
    assert device_capacities(["cpu", "cpu"], 3 * GIB) == {"cpu": 3 * GIB}
    totals = {"cuda:0": 16 * GIB, "cuda:1": 8 * GIB}
    monkeypatch.setattr("evonas.evaluation.dispatch.cuda_total_memory", totals.__getitem__)
    labels = ["cuda:0", "cuda:1", "cuda:0", "cpu"]
    capacities = device_capacities(labels, None, resident_bytes=100)
    assert capacities == {"cuda:0": 16 * GIB - 2 * (CUDA_WORKER_RESERVE + 100),
                          "cuda:1": 8 * GIB - (CUDA_WORKER_RESERVE + 100), "cpu": math.inf}
    assert device_capacities(labels, GIB)["cuda:0"] == GIB  # the override is used as is


# ---------------------------------------------------------------- the dispatch policy
def _dispatcher(needs: dict[int, int], capacities: dict[str, float],
                max_overtakes: int = 2) -> MemoryDispatcher:
    return MemoryDispatcher(capacities, lambda j: needs[j.individual_id], max_overtakes)


def test_a_job_larger_than_every_device_is_infeasible():
    d = _dispatcher({1: 3 * GIB, 2: GIB}, {"cuda:0": 2 * GIB, "cuda:1": GIB})
    assert d.admit(job(1)) == "infeasible: needs 3.00 GiB, the largest device has 2.00 GiB"
    assert d.admit(job(2)) is None


def test_jobs_start_only_where_they_fit_and_small_ones_overtake():
    d = _dispatcher({1: 6, 2: 6, 3: 3}, {"cpu": 10})
    pending = deque(job(i) for i in (1, 2, 3))
    for j in pending:
        assert d.admit(j) is None
    assert d.take(pending, "cpu", []).individual_id == 1
    running = [job(1)]
    assert d.take(pending, "cpu", running).individual_id == 3  # 2 does not fit next to 1
    running.append(job(3))
    assert d.take(pending, "cpu", running) is None
    assert [j.individual_id for j in pending] == [2]
    assert d.take(pending, "cpu", [job(3)]).individual_id == 2  # 1 finished: 6 + 3 fits
    assert not pending


def test_a_job_overtaken_too_often_makes_its_devices_wait_for_it():
    needs = {1: 8, 2: 8, 3: 1, 4: 1, 5: 1}
    d = _dispatcher(needs, {"big": 10, "small": 2}, max_overtakes=1)
    pending = deque(job(i) for i in needs)
    for j in pending:
        d.admit(j)
    running = [d.take(pending, "big", [])]  # job 1
    assert d.take(pending, "big", running).individual_id == 3  # overtakes 2 once
    running.append(job(3))
    assert d.take(pending, "big", running) is None  # 2 has waited enough: "big" drains for it
    assert d.take(pending, "small", []).individual_id == 4  # 2 never fits "small": no wait there
    assert d.take(pending, "big", [job(3)]).individual_id == 2  # 1 finished: 2 starts first
    assert d.take(pending, "big", [job(3), job(2)]).individual_id == 5


def test_a_crashed_jobs_retry_waits_for_room_on_its_device():
    d = _dispatcher({1: 6, 2: 6}, {"cpu": 10})
    d.admit(job(1))
    d.admit(job(2))
    assert not d.fits(job(1), "cpu", [job(2)])
    assert d.fits(job(1), "cpu", [])
    d.forget(1)
    assert d.need(job(1)) == 0


# ---------------------------------------------------------------- the pool
NEEDS = {1: 2 * GIB, 2: int(0.6 * GIB), 3: int(0.6 * GIB), 4: int(0.3 * GIB),
         5: int(0.3 * GIB), 6: 0}


@pytest.fixture(scope="module")
def pool():
    estimator = lambda j: NEEDS.get(j.individual_id, 0)  # noqa: E731
    with LocalPoolEvaluator(TASK, SPACE, workers=5, devices=["cpu"], workers_per_device=2,
                            device_memory="1GiB", memory_estimator=estimator) as ev:
        ev.wait_until_ready(120)
        yield ev


def _collect(ev: LocalPoolEvaluator) -> dict[int, tuple[object, float]]:
    out = {}
    for result in ev.results():
        out[result.individual_id] = (result, time.monotonic())
    return out


def test_workers_per_device_sets_the_pool_size(pool):
    assert pool.capacity == 2 and pool.memory_aware
    assert pool.worker_names == ["worker-0 (cpu)", "worker-1 (cpu)"]


def test_a_job_too_big_for_every_device_fails_without_running(pool):
    pool.submit(job(1))
    assert pool.waiting == 0 and pool.in_flight == 1
    [result] = pool.poll(0)
    assert not result.ok and result.worker == "" and result.seconds == 0
    assert result.error == "infeasible: needs 2.00 GiB, the largest device has 1.00 GiB"


def test_jobs_that_together_exceed_the_device_run_one_at_a_time(pool):
    pool.submit(job(2, SLOW[0]))
    pool.submit(job(3, SLOW[1]))
    assert pool.waiting == 1  # a worker is idle, but 0.6 + 0.6 GiB > 1 GiB
    results = _collect(pool)
    assert all(r.ok for r, _ in results.values())
    assert results[3][1] - results[2][1] >= HANG_SECONDS * 0.9  # 3 started when 2 finished


def test_small_jobs_run_side_by_side(pool):
    pool.submit(job(4, SLOW[2]))
    pool.submit(job(5, SLOW[3]))
    assert pool.waiting == 0  # both fit: each went to its own worker at once
    assert sorted(s.job.individual_id for s in pool._slots if s.job is not None) == [4, 5]
    results = _collect(pool)
    assert all(r.ok for r, _ in results.values())
    assert results[4][0].worker != results[5][0].worker


def test_without_a_capacity_the_parent_never_imports_torch():
    code = f"""
import sys
from evonas.evaluation import EvalJob, make_evaluator
from genomes import DAGGenome
with make_evaluator({TASK!r}, {SPACE!r}, workers=1, devices=["cpu"]) as ev:
    assert not ev.memory_aware
    ev.submit(EvalJob(0, DAGGenome.from_nb201({ARCHS[5]!r}).to_dict(), 0))
    [result] = list(ev.results())
    assert result.ok, result
assert "torch" not in sys.modules, "torch imported in the parent"
"""
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


# ---------------------------------------------------------------- the estimator from the task
def test_the_task_estimator_uses_the_tasks_shapes_and_recipe():
    digits = {"name": "digits", "batch_size": 32, "optimizer": "sgd"}
    estimate, resident = task_estimator(digits, SPACE, safety_factor=1.1)
    genome = DAGGenome.from_nb201(ARCHS[0])
    expected = estimate_peak_memory(genome, space_from_dict(SPACE), (1, 8, 8), 10, 32, "sgd",
                                    eval_batch_size=1024, safety_factor=1.1).total
    assert estimate(job(0)) == expected
    assert estimate(job(1)) == expected  # the same architecture: cached
    assert resident == 1797 * 64 * 4 + 1797 * 8  # the digits arrays, float32 images, int64 labels
    table_estimate, table_resident = task_estimator(TASK, SPACE)
    assert table_estimate(job(0)) == 0 and table_resident == 0  # no network to estimate


# ---------------------------------------------------------------- config
def _config(tmp_path: Path, **evaluator: object) -> dict:
    return {"runs_dir": str(tmp_path), "space": SPACE,
            "task": {"name": "tabular", "table": "nb201_cifar10"}, "evaluator": evaluator}


@pytest.mark.parametrize(("evaluator", "message"), [
    ({"workers_per_device": 0}, "evaluator.workers_per_device: must be at least 1, got 0"),
    ({"workers_per_device": 1.5}, "evaluator.workers_per_device: must be an integer, got 1.5"),
    ({"device_memory": "lots"}, "evaluator.device_memory: expected a size such as 8GiB"),
    ({"device_memory": 0}, "evaluator.device_memory: must be at least one byte, got 0"),
    ({"memory_safety_factor": 0.5}, "evaluator.memory_safety_factor: must be at least 1, got 0.5"),
    ({"workers": 0, "workers_per_device": 2},
     "evaluator.workers_per_device: needs the worker pool"),
    ({"backend": "ray", "workers_per_device": 2}, "evaluator.workers_per_device: the local pool"),
])
def test_config_errors_name_the_field(tmp_path, evaluator, message):
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, **evaluator))
    assert str(info.value).startswith(f"<dict>: {message}")
    assert "\n" not in str(info.value)


def test_config_accepts_the_new_keys(tmp_path):
    config = load_config(_config(tmp_path, workers_per_device=2, device_memory="8GiB",
                                 memory_safety_factor=1.5))
    ev = config.section("evaluator")
    assert (ev["workers_per_device"], ev["device_memory"], ev["memory_safety_factor"]) == (
        2, "8GiB", 1.5)
    defaults = load_config(_config(tmp_path)).section("evaluator")
    assert defaults["workers_per_device"] is None and defaults["device_memory"] is None


def test_make_evaluator_refuses_workers_per_device_in_process():
    with pytest.raises(ValueError, match="workers_per_device: needs the worker pool"):
        make_evaluator(TASK, SPACE, 0, workers_per_device=1)
