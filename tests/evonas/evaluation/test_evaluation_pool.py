"""The local process pool: one result per job, and a dead, hung or raising job costs one result.

One pool (two spawned workers, a fault-injecting table task) serves most tests of this module, so
the spawn start-up is paid once.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evonas.evaluation import EvalJob, LocalPoolEvaluator, WorkerStartupError, make_evaluator
from evonas.tasks import TaskError
from genomes import DAGGenome
from tests.evonas.evaluation.evaluator_jobs import run_all

TABLE = Path(__file__).resolve().parents[3] / "evonas" / "data" / "nb201_cifar10.csv"
SPACE = {"name": "nb201"}
TIMEOUT = 2.0


def _archs(n: int) -> list[str]:
    with TABLE.open(newline="") as handle:
        return [row["arch"] for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


ARCHS = _archs(40)
EXIT, HANG, RAISE, NAN, MEMORY = ARCHS[30:35]
FAULTY = {
    "name": "faulty",
    "inner": {"name": "tabular", "table": "nb201_cifar10"},
    "faults": {"exit": [EXIT], "hang": [HANG], "raise": [RAISE], "nan": [NAN],
               "memory": [MEMORY]},
    "exit_code": 7,
}
WORKERS = {"worker-0 (cpu)", "worker-1 (cpu)"}


def job(i: int, arch: str) -> EvalJob:
    return EvalJob(i, DAGGenome.from_nb201(arch).to_dict(), seed=i)


@pytest.fixture(scope="module")
def pool():
    with make_evaluator(FAULTY, SPACE, workers=2, timeout=TIMEOUT, devices=["cpu"]) as ev:
        ev.wait_until_ready(120)
        yield ev


def test_make_evaluator_builds_a_pool_of_the_asked_size(pool):
    assert isinstance(pool, LocalPoolEvaluator)
    assert pool.capacity == 2
    assert set(pool.worker_names) == WORKERS
    assert pool.in_flight == 0 and pool.poll(0) == []


def test_one_result_per_job_equal_to_in_process_evaluation(pool):
    jobs = [job(100 + i, arch) for i, arch in enumerate(ARCHS[:12])]
    results = run_all(pool, jobs)
    assert sorted(results) == [j.individual_id for j in jobs]
    with make_evaluator(FAULTY, SPACE, workers=0) as local:
        expected = run_all(local, jobs)
    for i, r in results.items():
        assert r.ok, r.error
        assert r.metrics == expected[i].metrics
    assert {r.worker for r in results.values()} == WORKERS


def test_jobs_beyond_capacity_wait_in_the_parent(pool):
    for i, arch in enumerate(ARCHS[:6]):
        pool.submit(job(200 + i, arch))
    assert pool.in_flight == 6
    got = []
    while pool.in_flight:
        got += pool.poll(10)
    assert sorted(r.individual_id for r in got) == list(range(200, 206))


def test_faults_cost_one_result_each_and_the_pool_keeps_going(pool):
    """Dead and hung workers are retried once on a fresh worker (max_crashes 2), then the job is
    quarantined; a raise, a NaN loss and out of memory are not retried."""
    pids = set(pool.worker_pids)
    start = time.monotonic()
    faulty = [job(300, EXIT), job(301, HANG), job(302, RAISE), job(303, NAN), job(304, MEMORY)]
    healthy = [job(310 + i, arch) for i, arch in enumerate(ARCHS[:6])]
    results = run_all(pool, faulty + healthy)
    assert time.monotonic() - start < 2 * TIMEOUT + 30
    assert sorted(results) == sorted(j.individual_id for j in faulty + healthy)
    assert results[300].error == "quarantined after 2 crashes: worker died (exit code 7)"
    assert results[301].error == f"quarantined after 2 crashes: timeout after {TIMEOUT:g}s"
    assert results[301].seconds >= 2 * TIMEOUT, "both attempts count"
    assert results[302].error == "RuntimeError: injected fault"
    assert results[303].error == "nan loss"
    assert results[304].error == "infeasible: out of memory (also at half batch)"
    assert all(results[i].status == "failed" for i in range(300, 305))
    assert all(results[j.individual_id].ok for j in healthy)
    assert len(pids - set(pool.worker_pids)) == 2, "the dead and the hung worker were replaced"
    # The replacements work.
    after = run_all(pool, [job(320 + i, arch) for i, arch in enumerate(ARCHS[6:10])])
    assert all(r.ok for r in after.values())


def test_a_genome_that_is_not_json_fails_alone_without_reaching_a_worker(pool):
    pids = set(pool.worker_pids)
    bad = EvalJob(350, {**job(350, ARCHS[0]).genome, "edges": {("not", "json")}}, seed=350)
    results = run_all(pool, [job(351, ARCHS[1]), bad, job(352, ARCHS[2])])
    assert results[350].status == "failed"
    assert results[350].error.startswith("genome is not JSON: ")
    assert results[350].worker == ""
    assert results[351].ok and results[352].ok
    assert set(pool.worker_pids) == pids, "no worker was replaced"


def test_poll_returns_after_its_timeout_while_a_job_runs(pool):
    pool.submit(job(400, HANG))
    start = time.monotonic()
    assert pool.poll(0.3) == []
    assert pool.in_flight == 1  # it returned while the job ran, before its timeout fired
    assert time.monotonic() - start >= 0.3
    (result,) = list(pool.results())
    assert result.error == f"quarantined after 2 crashes: timeout after {TIMEOUT:g}s"


def test_a_worker_killed_mid_job_counts_as_a_crash_and_a_fresh_worker_retries(pool):
    pool.submit(job(450, HANG))
    deadline = time.monotonic() + 60
    while not any(s.started_at for s in pool._slots) and time.monotonic() < deadline:
        assert pool.poll(0.1) == []
    (busy,) = [s for s in pool._slots if s.job is not None]
    first = busy.process.pid
    os.kill(first, signal.SIGKILL)  # crash 1: the kill; crash 2: the retry hangs
    (result,) = list(pool.results())
    assert result.error == f"quarantined after 2 crashes: timeout after {TIMEOUT:g}s"
    assert first not in pool.worker_pids


def test_max_crashes_and_max_tasks_per_worker():
    """max_crashes 1: no retry. max_tasks_per_worker 3: a fresh worker every 3 evaluations."""
    with LocalPoolEvaluator(FAULTY, SPACE, workers=1, timeout=TIMEOUT, devices=["cpu"],
                            max_crashes=1, max_tasks_per_worker=3) as ev:
        ev.wait_until_ready(120)
        pids, results = [], {}
        for i, arch in enumerate([*ARCHS[:4], EXIT, *ARCHS[4:8]]):
            ev.submit(job(500 + i, arch))
            (result,) = list(ev.results())
            results[result.individual_id] = result
            pids.append(ev.worker_pids[0])
        assert sorted(results) == list(range(500, 509))
        assert results[504].error == "quarantined after 1 crash: worker died (exit code 7)"
        assert all(r.ok for i, r in results.items() if i != 504)
        # Recorded after each result; a process is retired as soon as its 3rd result is in.
        # Process 1 runs jobs 1-3; process 2 runs job 4 and dies on job 5 (the exit fault);
        # process 3 runs jobs 6-8; process 4 runs job 9.
        assert [pids.index(p) for p in pids] == [0, 0, 2, 2, 4, 4, 4, 7, 7]
        old = set(pids) - set(ev.worker_pids)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in old) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in old), "retired workers exit"


def test_pool_rejects_bad_crash_and_recycle_limits():
    with pytest.raises(ValueError, match="max_crashes"):
        LocalPoolEvaluator({"name": "tabular"}, SPACE, workers=1, max_crashes=0)
    with pytest.raises(ValueError, match="max_tasks_per_worker"):
        LocalPoolEvaluator({"name": "tabular"}, SPACE, workers=1, max_tasks_per_worker=0)


def test_a_task_config_the_workers_cannot_build_stops_the_caller_with_its_task_error():
    config = {"name": "tabular", "table": "/no/such/table.csv"}
    with LocalPoolEvaluator(config, SPACE, workers=1) as ev:
        ev.submit(job(1, ARCHS[0]))
        with pytest.raises(TaskError, match=r"^task\.table: file not found: /no/such/table\.csv"):
            list(ev.results())


def test_workers_that_die_before_they_are_ready_give_up_without_failing_jobs(monkeypatch):
    monkeypatch.setattr("evonas.evaluation.pool.MAX_STARTUP_FAILURES", 2)  # two spawns suffice
    config = {**FAULTY, "exit_on_build": True}
    with LocalPoolEvaluator(config, SPACE, workers=1) as ev:
        ev.submit(job(1, ARCHS[0]))
        with pytest.raises(WorkerStartupError, match=r"died 2 times before it was ready "
                                                     r"\(last: worker died \(exit code 7\)\)"):
            ev.poll(60)
        assert ev.in_flight == 1, "the job never started, so it is still queued, not failed"


def test_close_stops_every_worker():
    ev = LocalPoolEvaluator({"name": "tabular"}, SPACE, workers=1)
    ev.wait_until_ready(120)
    pids = ev.worker_pids
    assert all(_alive(p) for p in pids)
    ev.close()
    ev.close()
    assert not any(_alive(p) for p in pids)
    with pytest.raises(RuntimeError, match="closed"):
        ev.submit(job(1, ARCHS[0]))


# A test run started in the background by a non-interactive shell inherits SIGINT ignored;
# Python keeps an inherited SIG_IGN, so the parent restores the usual KeyboardInterrupt first.
PARENT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from evonas.evaluation import LocalPoolEvaluator
with LocalPoolEvaluator({"name": "tabular"}, {"name": "nb201"}, workers=1) as pool:
    pool.wait_until_ready(120)
    print(" ".join(map(str, pool.worker_pids)), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_no_worker_outlives_an_interrupted_or_killed_parent(sig):
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[3])
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 1 and all(_alive(p) for p in pids)
        os.kill(parent.pid, sig)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_every_free_worker_takes_a_job_at_once_after_crashes(pool):
    """Replaced workers go back on the free list: right after a crash and a timeout, as many
    jobs as workers are all handed out at submit, none waits in the parent."""
    run_all(pool, [job(360, EXIT), job(361, ARCHS[3])])
    assert pool.in_flight == 0
    pool.submit(job(362, ARCHS[4]))
    pool.submit(job(363, ARCHS[5]))
    assert pool.waiting == 0
    assert sorted(s.job.individual_id for s in pool._slots if s.job is not None) == [362, 363]
    results = run_all(pool, [])
    assert sorted(results) == [362, 363] and all(r.ok for r in results.values())
    assert pool.in_flight == 0 and pool.poll(0) == []


@pytest.mark.parametrize("sizes", [[0, 1, 5, 300], [70_000], [3, 200_000, 7]])
def test_frame_reader_splits_what_send_bytes_wrote_however_it_is_read(sizes):
    """The pool's direct reads see the messages send_bytes framed, in order, whether a read
    takes several at once, part of one, or a message larger than a read (READ_CHUNK)."""
    import multiprocess

    from evonas.evaluation.worker import READ_CHUNK, FrameReader, frame

    messages = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    parent, child = multiprocess.Pipe(duplex=True)
    sender = threading.Thread(target=lambda: [child.send_bytes(m) for m in messages])
    try:
        sender.start()  # a message larger than the pipe's buffer blocks until it is read
        reader, got = FrameReader(), []
        while len(got) < len(messages):
            got += reader.feed(os.read(parent.fileno(), READ_CHUNK))
        assert got == messages and reader.pending == 0
    finally:
        sender.join(timeout=10)
        parent.close()
        child.close()
    # Byte by byte, and all at once, through the framing the pool and the workers write.
    stream = b"".join(frame(m) for m in messages)
    byte_reader = FrameReader()
    assert [m for i in range(len(stream)) for m in byte_reader.feed(stream[i:i + 1])] == messages
    assert FrameReader().feed(stream) == messages
