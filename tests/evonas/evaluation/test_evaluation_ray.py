"""The Ray evaluator on a local Ray instance: in birth order the same journal as the local pool,
faults cost one result each, and a campaign whose driver is SIGKILLed resumes to the
uninterrupted journal.

One Ray instance (``num_cpus=2``) serves the whole module, so its start-up is paid once; campaigns
run in a subprocess join it through its address.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import evonas
from evonas.config import ConfigError, load_config
from evonas.evaluation import EvalJob, make_evaluator
from evonas.storage import JOURNAL_FILE, Journal
from genomes import DAGGenome
from tests.campaigns import journal_rows
from tests.conftest import NB201_TABLE, tabular_config
from tests.evonas.evaluation.evaluator_jobs import run_all

try:
    import ray
except ImportError:
    ray = None
needs_ray = pytest.mark.skipif(ray is None,
                               reason="needs the ray extra (pip install 'evonas[ray]')")

SPACE = {"name": "nb201"}
TIMEOUT = 3.0
BUDGET = 80
RAY_EVALUATOR = {"backend": "ray", "workers": 2}


def _archs(n: int) -> list[str]:
    with NB201_TABLE.open(newline="") as handle:
        return [row["arch"] for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


ARCHS = _archs(20)
EXIT, HANG, RAISE = ARCHS[10:13]
FAULTY = {
    "name": "faulty",
    "inner": {"name": "tabular", "table": "nb201_cifar10"},
    "faults": {"exit": [EXIT], "hang": [HANG], "raise": [RAISE]},
}


def job(i: int, arch: str) -> EvalJob:
    return EvalJob(i, DAGGenome.from_nb201(arch).to_dict(), seed=i)


def test_ray_backend_without_ray_is_a_one_line_config_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ConfigError, match=r"^evaluator\.backend: .*pip install 'evonas\[ray\]'"):
        make_evaluator(FAULTY, SPACE, 2, backend="ray")
    with pytest.raises(ConfigError, match="evaluator.backend: must be one of local, ray"):
        load_config(tabular_config(tmp_path, evaluator__backend="dask"))
    config = load_config(tabular_config(tmp_path, evaluator=RAY_EVALUATOR))
    assert config.section("evaluator") | {"address": None, "num_cpus": 1.0, "num_gpus": 0.0,
                                          "max_retries": 1} == config.section("evaluator")


@pytest.fixture(scope="module")
def ray_address() -> str:
    """Start the module's local Ray instance; its GCS address lets subprocesses join it."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_run(ray_address: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tabular campaign evaluated by two Ray actors (the reference of several tests)."""
    tmp = tmp_path_factory.mktemp("ray")
    return evonas.run(tabular_config(tmp, name="ray", evaluator=RAY_EVALUATOR,
                                     budget__evaluations=BUDGET, campaign__order="birth")).path


@needs_ray
def test_ray_campaign_journal_equals_the_local_pool_one(ray_run: Path, tmp_path: Path) -> None:
    local = evonas.run(tabular_config(tmp_path, name="local", evaluator__workers=2,
                                      budget__evaluations=BUDGET, campaign__order="birth"))
    expected = journal_rows(local.path)
    assert len(expected) >= BUDGET
    assert journal_rows(ray_run) == expected
    with Journal.open(ray_run / JOURNAL_FILE, readonly=True) as journal:
        workers = {e.worker for e in journal.evaluations() if e.status == "ok"}
    assert workers and all(w.startswith("ray-") for w in workers), workers


@needs_ray
def test_faults_cost_one_result_each_and_actors_are_replaced(ray_address: str) -> None:
    with make_evaluator(FAULTY, SPACE, 2, timeout=TIMEOUT, backend="ray", max_retries=1) as ev:
        ev.wait_until_ready(60)
        assert ev.capacity == 2
        faulty = [job(1, EXIT), job(2, HANG), job(3, RAISE)]
        healthy = [job(10 + i, arch) for i, arch in enumerate(ARCHS[:6])]
        results = run_all(ev, faulty + healthy)
        assert sorted(results) == sorted(j.individual_id for j in faulty + healthy)
        assert results[1].error.startswith("worker died (") and "2 attempts" in results[1].error
        assert results[2].error == f"timeout after {TIMEOUT:g}s"
        assert results[3].error == "RuntimeError: injected fault"
        assert all(results[j.individual_id].ok for j in healthy)

        # ray.kill on a busy actor, no retry left: one failed result naming the kill.
        ev.max_retries = 0
        ev.submit(job(20, HANG))
        ev.poll(0.5)
        busy = next(slot.actor for slot in ev._slots if slot.job is not None)
        ray.kill(busy)
        (killed,) = ev.poll(30)
        assert killed.individual_id == 20 and killed.status == "failed"
        assert "ray.kill" in killed.error, killed.error
        after = run_all(ev, [job(30 + i, arch) for i, arch in enumerate(ARCHS[:4])])
        assert all(r.ok for r in after.values())


@needs_ray
def test_a_dying_actor_costs_one_failed_result_and_the_campaign_goes_on(
        ray_run: Path, tmp_path: Path) -> None:
    victim = journal_rows(ray_run)[3]  # a random individual of the first population
    arch = DAGGenome.from_dict(victim[2]).describe()
    task = {**FAULTY, "inner": tabular_config(tmp_path)["task"], "faults": {"exit": [arch]}}
    run = evonas.run(tabular_config(tmp_path, name="faulty", task=task, evaluator=RAY_EVALUATOR,
                                    budget__evaluations=30))
    failed = [ind for ind in run.individuals() if ind.status == "failed"]
    assert [ind.id for ind in failed] == [3]
    assert run.status()["state"] == "completed"
    assert failed[0].error.startswith("worker died (") and "2 attempts" in failed[0].error


def _evaluations(run_dir: Path) -> int:
    try:
        with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
            return sum(1 for _ in journal.evaluations())
    except Exception:  # noqa: BLE001 (not created yet, or mid-creation)
        return 0


@needs_ray
def test_resume_after_a_killed_driver_gives_the_uninterrupted_journal(
        ray_address: str, ray_run: Path, tmp_path: Path) -> None:
    config = tabular_config(tmp_path, name="killed", budget__evaluations=BUDGET,
                            evaluator={**RAY_EVALUATOR, "address": ray_address},
                            campaign__order="birth")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "runs" / "killed"

    def cli(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "evonas.cli", *args, "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)

    proc = cli("run", str(path))
    deadline = time.monotonic() + 60
    while _evaluations(run_dir) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < _evaluations(run_dir) < BUDGET, "the kill landed mid-campaign"

    final = cli("resume", str(run_dir))
    assert final.wait(timeout=60) == 0, final.stderr.read().decode()
    assert journal_rows(run_dir) == journal_rows(ray_run)


@needs_ray
def test_a_task_named_by_import_path_resolves_in_ray_actors(tmp_path: Path) -> None:
    """A fresh local Ray (in a subprocess, as ``evonas run`` starts one) gets this process's
    import path, so actors import a task module the driver can import (issue 12, item 1)."""
    (tmp_path / "user_tasks.py").write_text(
        "from evonas.tasks import Task\n\n\n"
        "class OpsTask(Task):\n"
        "    name = 'ops'\n"
        "    fitness_metric = 'convs'\n\n"
        "    def evaluate(self, genome, seed, device='cpu'):\n"
        "        convs = sum('conv' in e.op for e in genome.edges)\n"
        "        return {'fitness': float(convs), 'convs': float(convs)}\n\n\n"
        "def make_task(task_config, space):\n"
        "    return OpsTask()\n")
    script = (
        "import sys, evonas\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "run = evonas.run({'name': 'r', 'runs_dir': %r, 'task': {'name': 'user_tasks:make_task'},"
        " 'evaluator': {'backend': 'ray', 'workers': 2, 'num_cpus': 0.5},"
        " 'budget': {'evaluations': 6}, 'campaign': {'progress': False}})\n"
        "print(sorted({str(i.status) for i in run.individuals()}))\n" % str(tmp_path / "runs"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['ok']"
