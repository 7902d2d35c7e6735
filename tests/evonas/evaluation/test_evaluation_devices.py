"""Device planning for pool workers: round-robin GPUs, CPU slots with a share of the cores."""

from __future__ import annotations

import os

import pytest

from evonas.evaluation.devices import patched_environ, plan_devices


def test_cpu_slots_share_the_cores():
    plan = plan_devices(3, ["cpu"], cpu_count=8)
    assert [d.label for d in plan] == ["cpu"] * 3
    assert all(d.local == "cpu" and d.threads == 2 for d in plan)
    assert plan[0].env["OMP_NUM_THREADS"] == "2"
    assert "CUDA_VISIBLE_DEVICES" not in plan[0].env
    assert plan_devices(4, ["cpu"], cpu_count=2)[0].threads == 1
    assert plan_devices(1, ["cpu"], cpu_count=8, threads=3)[0].env["OMP_NUM_THREADS"] == "3"


def test_gpus_are_shared_round_robin_and_each_worker_sees_only_its_own(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    plan = plan_devices(5, ["cuda:0", "cuda:1"], cpu_count=16)
    assert [d.label for d in plan] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert [d.env["CUDA_VISIBLE_DEVICES"] for d in plan] == ["0", "1", "0", "1", "0"]
    assert all(d.local == "cuda:0" for d in plan)


def test_parent_visible_devices_are_respected(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    plan = plan_devices(2, ["cuda:0", "cuda:1"])
    assert [d.env["CUDA_VISIBLE_DEVICES"] for d in plan] == ["4", "6"]


def test_default_devices_without_gpus_are_cpu_slots():
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has GPUs")
    assert {d.label for d in plan_devices(2)} == {"cpu"}


@pytest.mark.parametrize(("workers", "devices", "message"), [
    (0, ["cpu"], "workers"),
    (1, [], "empty"),
    (2, ["cpu", "gpu0"], r"devices\[1\]: unknown device 'gpu0'"),
])
def test_bad_plans_are_rejected(workers, devices, message):
    with pytest.raises(ValueError, match=message):
        plan_devices(workers, devices)
    with pytest.raises(ValueError, match="threads"):
        plan_devices(1, ["cpu"], threads=0)


def test_patched_environ_restores_the_environment(monkeypatch):
    monkeypatch.setenv("EVONAS_A", "old")
    monkeypatch.delenv("EVONAS_B", raising=False)
    with patched_environ({"EVONAS_A": "new", "EVONAS_B": "set"}):
        assert os.environ["EVONAS_A"] == "new" and os.environ["EVONAS_B"] == "set"
    assert os.environ["EVONAS_A"] == "old" and "EVONAS_B" not in os.environ
