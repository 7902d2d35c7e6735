"""Campaigns on a fidelity ladder: rungs journaled and continued from their saved state, the
strategy told each individual's last rung, and resume exact in the middle of a ladder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import evonas
from evonas.api import start_campaign
from evonas.cli import main
from evonas.config import load_config
from evonas.evaluation.inprocess import InProcessEvaluator
from evonas.fidelity.ladder import RUNG_EVENT, RUNGS_DIR, decided_rungs
from evonas.kept_weights import WEIGHTS_DIR
from evonas.storage import JOURNAL_FILE, Journal
from evonas.weights import load_state
from tests.campaigns import (
    Kill,
    assert_rows_match,
    dispatches_beyond_evaluations,
    replay_from_scratch,
    untimed_journal_rows,
    with_changes,
)

RUNGS = [1, 2, 4]


def ladder_config(tmp_path: Path, name: str, **changes: object) -> dict[str, Any]:
    config = {
        "name": name, "seed": 3, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "free", "mode": "network", "max_nodes": 4, "max_edges": 5,
                  "widths": [8, 16], "stem_channels": 8,
                  "ops": ["conv_3x3", "max_pool_3x3", "identity"]},
        "task": {"name": "digits", "epochs": 4, "data_fraction": 0.5},
        "strategy": {"name": "regularized_evolution", "population": 4, "sample": 2},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 10},
        "fidelity": {"scheduler": "asha", "rungs": RUNGS, "eta": 2},
        "campaign": {"progress": False, "checkpoint_every": 3},
    }
    return with_changes(config, changes)


def rung_events(run_dir: Path) -> dict[int, list[dict]]:
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        ladders: dict[int, list[dict]] = {}
        for _, _, ind_id, data in journal.events(RUNG_EVENT):
            ladders.setdefault(ind_id, []).append(data)
        return ladders


def check_ladders(run_dir: Path) -> dict[int, list[dict]]:
    """Every evaluated individual climbed consecutive rungs, each promotion continued from the
    rung below, and its evaluation is its last rung's result with the seconds of all."""
    ladders = rung_events(run_dir)
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        evaluations = {row.individual_id: row for row in journal.evaluations()
                       if row.source_id is None}
    assert set(ladders) == set(evaluations)
    for ind_id, ladder in ladders.items():
        assert [step["rung"] for step in ladder] == list(range(len(ladder)))
        assert all(step["promoted"] for step in ladder[:-1]) and not ladder[-1]["promoted"]
        for below, step in zip(ladder, ladder[1:], strict=False):
            assert step["metrics"]["resumed_from_epoch"] == below["epochs"]
        row, last = evaluations[ind_id], ladder[-1]
        assert row.fitness == last["fitness"]
        assert row.metrics["epochs"] == RUNGS[last["rung"]]
        assert row.metrics["rung"] == last["rung"]
        assert row.seconds == pytest.approx(sum(step["seconds"] for step in ladder), abs=1e-3)
    assert list((run_dir / RUNGS_DIR).iterdir()) == []  # nothing left to continue from
    return ladders


def test_asha_trains_the_promising_longer_and_tells_their_last_rung(tmp_path: Path) -> None:
    run = evonas.run(ladder_config(tmp_path, "asha"))
    run.close()
    ladders = check_ladders(run.path)
    heights = [len(ladder) for ladder in ladders.values()]
    assert 1 in heights and max(heights) >= 2  # some stopped at once, some promoted
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        snapshot = journal.last_snapshot()
    assert snapshot is not None and snapshot.told == snapshot.next_id  # each told once, at the end


def _resumes(plan: dict[str, Any]) -> bool:
    return "resume_from" in plan


class _KillingEvaluator(InProcessEvaluator):
    """Runs jobs in this process and dies at the ``at``-th promotion it is handed (a job whose
    plan ``is_promotion`` says so)."""

    def __init__(self, config: dict[str, Any], at: int,
                 is_promotion: Callable[[dict[str, Any]], bool] = _resumes) -> None:
        super().__init__(config["task"], config["space"])
        self.promotions_left = at
        self.is_promotion = is_promotion

    def submit(self, job: Any) -> None:
        if job.plan and self.is_promotion(job.plan):
            self.promotions_left -= 1
            if self.promotions_left == 0:
                raise Kill
        super().submit(job)


def full_and_killed(tmp_path: Path, make_config: Callable[..., dict[str, Any]], at: int
                    ) -> tuple[Path, Path]:
    """Run ``make_config(tmp_path, name)`` uninterrupted as ``full``, and as ``cut`` killed at
    its ``at``-th promotion; returns both run folders."""
    full = evonas.run(make_config(tmp_path, "full"))
    full.close()
    config = load_config(make_config(tmp_path, "cut"))
    with pytest.raises(Kill):
        start_campaign(config, evaluator=_KillingEvaluator(config.data, at=at))
    return full.path, Path(config.runs_dir) / "cut"


def test_a_kill_in_the_middle_of_a_ladder_resumes_exactly(tmp_path: Path) -> None:
    full_path, cut = full_and_killed(tmp_path, ladder_config, at=2)
    cut_ladders = rung_events(cut)
    assert any(ladder[-1]["promoted"] for ladder in cut_ladders.values())  # killed mid-ladder
    assert list((cut / RUNGS_DIR).iterdir())  # the state it continues from is kept
    evonas.resume(cut).close()
    assert untimed_journal_rows(cut) == untimed_journal_rows(full_path)

    def steps(run_dir: Path) -> dict:
        return {i: [(s["rung"], s["fitness"], s["promoted"]) for s in ladder]
                for i, ladder in rung_events(run_dir).items()}

    assert steps(cut) == steps(full_path)
    check_ladders(cut)


def killed_and_resumed_on_a_pool(tmp_path: Path, config: dict[str, Any]) -> Path:
    """Run ``config`` on two pool workers, kill it at its fifth tell and resume it; returns
    the run folder after checking its journal replays from scratch."""
    loaded = load_config(with_changes(config, {"evaluator__workers": 2,
                                               "budget__evaluations": 12}))

    def kill(counters: dict) -> None:
        if counters["told"] == 5:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(loaded, None, kill)
    run_dir = Path(loaded.runs_dir) / loaded.data["name"]
    evonas.resume(run_dir).close()
    assert replay_from_scratch(run_dir, tmp_path) >= 12
    return run_dir


def test_an_async_pool_campaign_killed_and_resumed_replays_from_scratch(tmp_path: Path) -> None:
    run_dir = killed_and_resumed_on_a_pool(tmp_path, ladder_config(tmp_path, "pool"))
    check_ladders(run_dir)
    assert dispatches_beyond_evaluations(run_dir) <= 2  # at most what was in flight


def test_nsga2_promotes_by_pareto_rank_with_hyperband(tmp_path: Path) -> None:
    run = evonas.run(ladder_config(
        tmp_path, "mo", strategy={"name": "nsga2", "population": 4},
        fidelity={"scheduler": "hyperband", "rungs": RUNGS, "eta": 2},
        budget__evaluations=12))
    run.close()
    ladders = rung_events(run.path)
    assert {ladder[0]["rung"] for ladder in ladders.values()} <= {0, 1}  # two brackets
    assert all(ladder[-1]["promoted"] is False for ladder in ladders.values())


def test_kept_weights_of_a_ladder_are_its_last_rung(tmp_path: Path) -> None:
    run = evonas.run(ladder_config(tmp_path, "kept", campaign__keep_weights=2))
    run.close()
    ladders = check_ladders(run.path)
    files = list((run.path / WEIGHTS_DIR).iterdir())
    assert len(files) == 2
    for path in files:
        ind_id = int(path.name.split(".")[0])
        assert load_state(path)["epoch"] == ladders[ind_id][-1]["epochs"]


def test_a_task_that_does_not_train_refuses_a_scheduler(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("task: {name: tabular}\nfidelity: {scheduler: asha, max: 9}\n"
                      f"runs_dir: {tmp_path / 'runs'}\nevaluator: {{workers: 0}}\n"
                      "campaign: {progress: false}\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c.yaml: fidelity.scheduler: the tabular task" in err[0]


def test_lineage_and_the_report_show_the_rungs(tmp_path: Path, capsys: Any) -> None:
    from evonas.report import write_report

    run = evonas.run(ladder_config(tmp_path, "shown", campaign__keep_weights=1))
    run.close()
    ladders = rung_events(run.path)
    climbed = max(ladders, key=lambda i: (len(ladders[i]), -i))
    assert main(["lineage", str(run.path), "--id", str(climbed)]) == 0
    out = capsys.readouterr().out
    line = next(text for text in out.splitlines() if text.startswith(f"rungs of #{climbed}:"))
    assert line.count("->") == len(ladders[climbed]) - 1 and "promoted" in line
    html = Path(write_report(run.path)).read_text()
    assert 'id="fidelity-table"' in html and 'id="kept-table"' in html
    assert 'id="best-ladder"' in html


FRACTIONS = [0.25, 0.5, 1.0]


def fraction_config(tmp_path: Path, name: str, **changes: object) -> dict[str, Any]:
    return ladder_config(tmp_path, name, fidelity={
        "scheduler": "asha", "resource": "data_fraction", "rungs": FRACTIONS, "eta": 2},
        **changes)


def test_a_data_fraction_ladder_trains_each_rung_from_scratch_on_more_data(tmp_path: Path
                                                                           ) -> None:
    run = evonas.run(fraction_config(tmp_path, "fractions"))
    run.close()
    ladders = rung_events(run.path)
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        evaluations = {row.individual_id: row for row in journal.evaluations()
                       if row.source_id is None}
    assert set(ladders) == set(evaluations)
    assert max(len(ladder) for ladder in ladders.values()) >= 2
    for ind_id, ladder in ladders.items():
        assert [step["data_fraction"] for step in ladder] == FRACTIONS[:len(ladder)]
        for step in ladder:
            assert step["epochs"] == 4 and "resumed_from_epoch" not in step["metrics"]
            # the task's own data_fraction (0.5) times the rung's
            assert step["metrics"]["data_fraction"] == 0.5 * step["data_fraction"]
        row = evaluations[ind_id]
        assert row.fitness == ladder[-1]["fitness"]
        assert row.seconds == pytest.approx(sum(step["seconds"] for step in ladder), abs=1e-3)
    assert list((run.path / RUNGS_DIR).iterdir()) == []
    climbed = next(i for i, ladder in ladders.items() if len(ladder) >= 2)
    assert [step["data_fraction"] for step in evonas.open_run(run.path).ladder(climbed)] \
        == FRACTIONS[:len(ladders[climbed])]

    config = load_config(fraction_config(tmp_path, "cut"))
    with pytest.raises(Kill):
        start_campaign(config, evaluator=_KillingEvaluator(
            config.data, at=2, is_promotion=lambda plan: plan["data_fraction"] > FRACTIONS[0]))
    cut = Path(config.runs_dir) / "cut"
    assert any(ladder[-1]["promoted"] for ladder in rung_events(cut).values())
    evonas.resume(cut).close()
    assert untimed_journal_rows(cut) == untimed_journal_rows(run.path)


def halving_config(tmp_path: Path, name: str, **changes: object) -> dict[str, Any]:
    return ladder_config(tmp_path, name, fidelity={
        "scheduler": "successive_halving", "rungs": RUNGS, "eta": 2}, **changes)


def check_halving(run_dir: Path, sizes: tuple[int, ...] = (4,), eta: int = 2
                  ) -> dict[int, list[dict]]:
    """Cohorts in the order of first dispatch, of ``sizes[k % len(sizes)]`` members for the
    ``k``-th, which starts at rung ``k % len(sizes)`` (its bracket; a ``rung_close`` seals one
    early): at each rung of each cohort the top ``max(1, n // eta)`` by fitness were promoted,
    and nobody climbed from a rung that was not decided; every ladder ended, with its
    evaluation its last rung's."""
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        events = journal.events()
        steps = decided_rungs(journal)
        evaluations = {row.individual_id: row for row in journal.evaluations()
                       if row.source_id is None}
    cohort_of: dict[int, int] = {}
    filling = filled = 0
    for _, kind, ind_id, _ in events:
        if kind == "dispatched" and ind_id not in cohort_of:
            cohort_of[ind_id] = filling
            filled += 1
        if (kind == "dispatched" and filled == sizes[filling % len(sizes)]) \
                or (kind == "rung_close" and filled):
            filling, filled = filling + 1, 0
    rungs: dict[tuple[int, int], list[dict]] = {}
    ladders: dict[int, list[dict]] = {}
    for ind_id, step in steps:
        rungs.setdefault((cohort_of[ind_id], step["rung"]), []).append(step)
        ladders.setdefault(ind_id, []).append(step)
    for (_, rung), group in rungs.items():
        promoted = [s["fitness"] for s in group if s["promoted"]]
        stopped = [s["fitness"] for s in group if s["promoted"] is False and s["fitness"]]
        if rung == len(RUNGS) - 1:
            assert promoted == []
            continue
        assert len(promoted) == min(max(1, len(group) // eta),
                                    sum(s["fitness"] is not None for s in group))
        assert min(promoted) >= max(stopped, default=0.0)
    assert set(ladders) == set(evaluations)
    for ind_id, ladder in ladders.items():
        first = cohort_of[ind_id] % len(sizes)
        assert [s["rung"] for s in ladder] == list(range(first, first + len(ladder)))
        assert all(s["promoted"] for s in ladder[:-1]) and ladder[-1]["promoted"] is False
        assert evaluations[ind_id].fitness == ladder[-1]["fitness"]
        assert evaluations[ind_id].metrics["rung"] == ladder[-1]["rung"]
    assert list((run_dir / RUNGS_DIR).iterdir()) == []
    return ladders


def test_successive_halving_decides_each_rung_of_a_cohort_together(tmp_path: Path) -> None:
    run = evonas.run(halving_config(tmp_path, "halving", budget__evaluations=12))
    run.close()
    ladders = check_halving(run.path)
    assert max(len(ladder) for ladder in ladders.values()) == len(RUNGS)
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        waited = [d for _, _, _, d in journal.events(RUNG_EVENT) if d["promoted"] is None]
        refills = journal.events("refill")
    assert waited and refills  # results waited, and their workers were given new individuals
    climbed = max(ladders, key=lambda i: len(ladders[i]))
    assert [s["promoted"] for s in evonas.open_run(run.path).ladder(climbed)] \
        == [True, True, False]


def synchronous_hyperband_config(tmp_path: Path, name: str, **changes: object
                                 ) -> dict[str, Any]:
    return ladder_config(tmp_path, name, fidelity={
        "scheduler": "synchronous_hyperband", "rungs": RUNGS, "eta": 2}, **changes)


#: Hyperband's cohorts for RUNGS and eta 2: ceil(3/3 * 2**2) from rung 0, ceil(3/2 * 2) from 1.
HYPERBAND_COHORTS = (4, 3)


def test_synchronous_hyperband_halves_cohorts_that_start_at_successive_rungs(
        tmp_path: Path) -> None:
    run = evonas.run(synchronous_hyperband_config(tmp_path, "hyperband",
                                                  budget__evaluations=14))
    run.close()
    ladders = check_halving(run.path, HYPERBAND_COHORTS)
    firsts = {ladder[0]["rung"] for ladder in ladders.values()}
    assert firsts == {0, 1}
    assert any(len(ladder) == len(RUNGS) for ladder in ladders.values())  # bracket 0's top
    assert any(ladder[0]["rung"] == 1 and len(ladder) == 2 for ladder in ladders.values())
    starts = [ladder[0] for ladder in ladders.values() if ladder[0]["rung"] == 1]
    assert all(s["epochs"] == RUNGS[1] and "resumed_from_epoch" not in s["metrics"]
               for s in starts)  # bracket 1 trains its first rung's epochs from scratch


def test_a_halving_journal_without_its_starts_is_refused_on_resume(tmp_path: Path,
                                                                   capsys: Any) -> None:
    import sqlite3

    run = evonas.run(halving_config(tmp_path, "starts", budget__evaluations=4))
    run.close()
    conn = sqlite3.connect(run.path / JOURNAL_FILE)
    conn.execute("DELETE FROM events WHERE kind = 'dispatched'")  # the cohorts' order
    conn.commit()
    conn.close()
    assert main(["resume", str(run.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rung 0 of individual 0: the scheduler now decides otherwise" \
        in err[0] and str(run.path / JOURNAL_FILE) in err[0]


@pytest.mark.parametrize("make_config, sizes", [
    (halving_config, (4,)), (synchronous_hyperband_config, HYPERBAND_COHORTS)],
    ids=["successive_halving", "synchronous_hyperband"])
def test_a_synchronous_ladder_killed_while_results_wait_resumes_exactly(
        tmp_path: Path, make_config: Callable[..., dict[str, Any]], sizes: tuple[int, ...]
) -> None:
    full_path, cut = full_and_killed(tmp_path, make_config, at=3)
    assert any(s["promoted"] is None for s in rung_events(cut)[0])  # it waited
    evonas.resume(cut).close()
    assert untimed_journal_rows(cut) == untimed_journal_rows(full_path)
    check_halving(cut, sizes)
    assert replay_from_scratch(cut, tmp_path) == 10


def test_an_async_pool_halving_campaign_killed_and_resumed_replays_from_scratch(
        tmp_path: Path) -> None:
    run_dir = killed_and_resumed_on_a_pool(tmp_path, halving_config(tmp_path, "pool"))
    check_halving(run_dir)
    # at most what was in flight: the two workers' jobs and a rung's two promotions queued
    assert dispatches_beyond_evaluations(run_dir) <= 4


#: An ASHA campaign (``ladder_config``, ``keep_weights: 2``) killed at its second promotion by
#: the code of e252fff (session 7), before successive halving changed how ladders replay.
LADDER_FIXTURE = Path(__file__).resolve().parents[2] / "data" / "runs" / "v2-asha-killed"


def test_a_ladder_killed_by_older_code_resumes_exactly(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / LADDER_FIXTURE.name
    shutil.copytree(LADDER_FIXTURE, folder)
    assert [p.name for p in (folder / RUNGS_DIR).iterdir()] == ["0.r1.safetensors"]
    evonas.resume(folder).close()
    full = evonas.run(ladder_config(tmp_path, "full", campaign__keep_weights=2))
    full.close()
    # The fixture's kept rung state was trained on another machine: training that continues
    # from it gives losses that differ from this machine's in the last digits (another CPU's
    # kernels round differently), so losses are compared to a relative 1e-4; everything else
    # (genomes, lineage, statuses, the other metrics) exactly.
    assert_rows_match(untimed_journal_rows(folder), untimed_journal_rows(full.path),
                      loose=lambda key: key.endswith("_loss"))
    check_ladders(folder)
    assert len(list((folder / WEIGHTS_DIR).iterdir())) == 2
