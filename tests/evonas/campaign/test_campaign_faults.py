"""A campaign survives evaluations that fault in every way: about 20% of them exit, hang, raise,
report a NaN loss or run out of memory, and every individual still ends with a result."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import evonas
from evonas.seeds import evaluation_seed
from evonas.storage import JOURNAL_FILE, Journal
from evonas.tasks import build_task
from genomes import NB201Space
from tests.conftest import tabular_config

TIMEOUT = 1.5
#: Campaign seed 5 with these rates faults 8 of the first 40 evaluation seeds, every kind at least
#: once (the draws depend only on the evaluation seed; see evonas.tasks.testing).
SEED = 5
RATES = {"exit": 0.04, "hang": 0.04, "raise": 0.05, "nan": 0.05, "memory": 0.05}
EXPECTED_ERROR = {
    "exit": "quarantined after 2 crashes: worker died (exit code 3)",
    "hang": f"quarantined after 2 crashes: timeout after {TIMEOUT:g}s",
    "raise": "RuntimeError: injected fault",
    "nan": "nan loss",
    "memory": "infeasible: out of memory (also at half batch)",
}


def test_a_campaign_with_20_percent_faulty_evaluations_loses_nothing(tmp_path: Path) -> None:
    task = {"name": "faulty", "inner": {"name": "tabular", "table": "nb201_cifar10",
                                        "metric": "cifar10_test_acc"},
            "rates": RATES, "hang_seconds": 60.0}
    config = tabular_config(tmp_path, seed=SEED, task=task, budget__evaluations=40,
                            evaluator={"workers": 2, "timeout": TIMEOUT, "devices": ["cpu"],
                                       "max_crashes": 2})
    start = time.monotonic()
    run = evonas.run(config)
    elapsed = time.monotonic() - start

    faulty = build_task(task, NB201Space())
    individuals = run.individuals()
    by_id = {ind.id: ind for ind in individuals}
    assert [ind.id for ind in individuals] == list(range(len(individuals)))
    evaluated = [ind for ind in individuals if ind.source_id is None]
    assert len(evaluated) == 40, "failed evaluations count against the budget like any other"
    kinds = Counter()
    for ind in individuals:
        assert ind.status in ("ok", "cached", "failed"), f"{ind.id} has no result: {ind.status}"
        if ind.source_id is not None:  # a copy of an earlier result for the same architecture
            source = by_id[ind.source_id]
            assert ind.hash == source.hash and ind.error == source.error
            assert ind.status == ("cached" if source.status == "ok" else source.status)
            continue
        kind = faulty.fault_for(ind.genome, evaluation_seed(SEED, ind.id))
        kinds[kind] += 1
        if kind is None:
            assert ind.status == "ok" and ind.fitness is not None and ind.error is None
        else:
            assert ind.status == "failed" and ind.fitness is None
            assert ind.error == EXPECTED_ERROR[kind], (ind.id, kind, ind.error)
    faults = sum(n for kind, n in kinds.items() if kind is not None)
    assert set(kinds) == {None, *EXPECTED_ERROR}, f"pick another SEED: not every kind hit {kinds}"
    assert 0.15 <= faults / 40 <= 0.3, kinds
    assert sum(ind.status == "ok" for ind in individuals) == kinds[None]

    # Nothing lost: the journal holds exactly one evaluation per individual, and the run's
    # counters agree with it.
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        rows = journal.evaluations()
        assert sorted(e.individual_id for e in rows) == sorted(by_id)
    status = run.status()
    assert status["state"] == "completed" and status["pending"] == 0, status
    assert status["ok"] == kinds[None]
    # a failed duplicate is a cached copy of a failure, not an evaluation of its own
    assert status["failed"] == sum(ind.status == "failed" and ind.source_id is None
                                   for ind in individuals) == faults
    assert run.best() is not None and run.best().status == "ok"
    print(f"faulty campaign: {dict(kinds)} in {elapsed:.1f}s")
