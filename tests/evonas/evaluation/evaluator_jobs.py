"""Driving an evaluator in the evaluation tests."""

from __future__ import annotations

from evonas.evaluation import EvalJob, Evaluator


def run_all(ev: Evaluator, jobs: list[EvalJob]) -> dict[int, object]:
    """Submit ``jobs``, collect every result, and check there is exactly one per job."""
    for j in jobs:
        ev.submit(j)
    results = {}
    for r in ev.results():
        assert r.individual_id not in results, "one result per job"
        results[r.individual_id] = r
    return results
