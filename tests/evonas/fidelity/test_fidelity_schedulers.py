"""The fidelity schedulers' rules: ASHA's top 1/eta, Hyperband's brackets, the median rule,
successive halving's whole rungs (and synchronous Hyperband's brackets of them), and Pareto
ranking with several objectives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evonas.config import ConfigError, load_config
from evonas.fidelity import build_scheduler, geometric_fractions, geometric_rungs, rungs_of
from evonas.fidelity.schedulers import (
    ASHA,
    Hyperband,
    MedianStopping,
    SuccessiveHalving,
    SynchronousHyperband,
    preference_order,
)
from evonas.objectives import Objective, pareto_mask
from tests.conftest import tabular_config

FITNESS = [Objective("fitness", "max")]


def test_geometric_rungs() -> None:
    assert geometric_rungs(1, 27, 3) == [1, 3, 9, 27]
    assert geometric_rungs(1, 20, 3) == [1, 3, 9, 20]
    assert geometric_rungs(2, 8, 1.5) == [2, 3, 4, 7, 8]


def test_asha_continues_the_top_third_of_each_rung_so_far() -> None:
    asha = ASHA([1, 3, 9], FITNESS, eta=3)
    assert asha.decide(0, 0, 0.5, {}) is True    # the first at a rung: the best so far
    assert asha.decide(1, 0, 0.4, {}) is False   # 2nd of two: the top one continues
    assert asha.decide(2, 0, 0.95, {}) is True   # best of three
    assert asha.decide(3, 0, 0.1, {}) is False
    assert asha.decide(4, 0, 0.92, {}) is False  # 2nd of five: the top one continues
    assert asha.decide(5, 0, 0.99, {}) is True   # best of six: the top two
    assert asha.decide(6, 0, 0.97, {}) is True   # 2nd of seven: the top two
    assert asha.decide(2, 1, 0.96, {}) is True   # alone on rung 1: the best there
    assert asha.decide(5, 2, 0.99, {}) is False  # the top rung never continues
    assert asha.decide(6, 0, None, {}) is False  # a failure never continues


def test_median_stopping_stops_below_the_median_once_a_rung_has_enough() -> None:
    median = MedianStopping([1, 2, 3, 4], FITNESS, min_results=3)
    assert median.decide(0, 0, 0.1, {}) and median.decide(1, 0, 0.2, {})  # too few to judge
    assert median.decide(2, 0, 0.05, {}) is False  # worst of three
    assert median.decide(3, 0, 0.3, {}) is True
    assert median.decide(4, 0, 0.15, {}) is True   # 3rd of five: the median continues
    assert median.decide(5, 0, 0.12, {}) is False  # 4th of six


def test_hyperband_draws_the_same_bracket_for_an_id_and_weights_low_brackets() -> None:
    band = Hyperband([1, 3, 9, 27], FITNESS, eta=3, seed=7)
    again = Hyperband([1, 3, 9, 27], FITNESS, eta=3, seed=7)
    brackets = [band.bracket(i) for i in range(3000)]
    assert brackets == [again.bracket(i) for i in range(3000)]
    counts = np.bincount(brackets, minlength=3)
    assert counts[0] > counts[1] > counts[2] > 0  # more start low, some start high
    assert np.allclose(counts / 3000, band.weights, atol=0.03)
    assert band.first_rung(brackets.index(2)) == 2


def test_hyperband_brackets_are_judged_apart() -> None:
    band = Hyperband([1, 3, 9], FITNESS, eta=3, seed=0)
    ids = {b: [i for i in range(200) if band.bracket(i) == b][:3] for b in (0, 1)}
    for i, fitness in zip(ids[0], (0.1, 0.2, 0.3), strict=True):
        band.decide(i, 0, fitness, {})
    # bracket 1 starts at rung 1 and its rung-1 results are its own
    assert band.decide(ids[1][0], 1, 0.05, {}) is True  # the first of its own rung-1 results
    assert band._seen[(1, 1)] == [(0.05,)] and (0, 1) not in band._seen


def test_successive_halving_decides_a_rung_once_it_is_full() -> None:
    halving = SuccessiveHalving([1, 2, 4], FITNESS, eta=2)
    assert halving.cohort == 4  # eta ** (rungs - 1): one reaches the top
    for i in range(5):
        halving.join(i)
    halving.join(0)  # a second start (a job dispatched again on resume) changes nothing
    assert halving.report(0, 0, 0.3, {}) == {}  # waits for the rest of its cohort
    assert halving.report(1, 0, 0.9, {}) == {} and halving.waiting() == 2
    assert halving.report(2, 0, None, {}) == {2: False}  # a failure stops at once
    assert halving.report(3, 0, 0.5, {}) == {0: False, 1: True, 3: True}  # top 4 / 2
    assert halving.waiting() == 0
    assert halving.report(3, 1, 0.2, {}) == {}  # rung 1 expects the two promoted
    assert halving.report(1, 1, 0.8, {}) == {1: True, 3: False}
    assert halving.report(1, 2, 0.85, {}) == {1: False}  # the top rung stops at once
    assert halving.report(4, 0, 0.1, {}) == {}  # the next cohort
    with pytest.raises(ValueError, match="without starting"):
        halving.report(99, 0, 0.1, {})


def test_closing_decides_rungs_that_cannot_fill_and_seals_the_cohort() -> None:
    halving = SuccessiveHalving([1, 3, 9], FITNESS, eta=3, cohort=6)
    for i in range(4):
        halving.join(i)
    for i, fitness in enumerate((0.1, 0.4, 0.2, 0.3)):
        assert halving.report(i, 0, fitness, {}) == {}
    assert halving.is_waiting(1) and halving.waiting() == 4
    assert halving.close() == {0: False, 1: True, 2: False, 3: False}  # max(1, 4 // 3)
    assert halving.close() == {}
    halving.join(4)  # after the seal: a new cohort, alone at its rung 0 for now
    assert halving.report(4, 0, 0.05, {}) == {}
    assert halving.report(1, 1, 0.5, {}) == {1: True}  # rung 1 expects only the one promoted
    assert halving.close() == {4: True}
    failing = SuccessiveHalving([1, 3], FITNESS, eta=3, cohort=2)
    failing.join(0)
    failing.join(1)
    assert failing.report(0, 0, None, {}) == {0: False}
    assert failing.report(1, 0, None, {}) == {1: False}  # a rung of failures promotes nobody


def test_synchronous_hyperband_gives_cohorts_to_brackets_in_turn_with_hyperbands_sizes(
        tmp_path) -> None:
    # rungs 1, 3, 9, 27 (S = 3), eta 3: n_s = ceil(4 / (4 - s) * 3 ** (3 - s)) for s = 0, 1, 2
    hyperband = SynchronousHyperband([1, 3, 9, 27], FITNESS, eta=3)
    assert hyperband.sizes == [27, 12, 6]
    assert SynchronousHyperband([1, 3, 9, 27], FITNESS, eta=3, brackets=4).sizes[-1] == 4
    small = SynchronousHyperband([1, 2, 4], FITNESS, eta=2)  # cohorts of 4 at rung 0, 3 at 1
    for i in range(9):
        small.join(i)
    assert [small.first_rung(i) for i in range(9)] == [0] * 4 + [1] * 3 + [0] * 2
    for i, fitness in zip(range(4, 7), (0.2, 0.6, 0.4), strict=True):  # bracket 1's cohort
        decided = small.report(i, 1, fitness, {})
    assert decided == {4: False, 5: True, 6: False}  # max(1, 3 // 2) of its rung 1
    assert small.report(5, 2, 0.7, {}) == {5: False}
    for i, fitness in enumerate((0.1, 0.9, 0.5)):
        assert small.report(i, 0, fitness, {}) == {}  # bracket 0 waits for its fourth
    assert small.report(3, 0, 0.3, {}) == {0: False, 1: True, 2: True, 3: False}
    with pytest.raises(ValueError, match="has not started"):
        small.first_rung(99)
    built = build_scheduler(load_config(tabular_config(
        tmp_path, fidelity={"scheduler": "synchronous_hyperband", "max": 27, "brackets": 2},
        task={"name": "digits"})).data)
    assert isinstance(built, SynchronousHyperband) and built.sizes == [27, 12]
    assert built.describe() == ("synchronous_hyperband: rungs 1, 3, 9, 27 epochs, eta 3, "
                                "brackets starting at rungs 0-1 with cohorts of 27, 12")
    with pytest.raises(ConfigError, match="campaign.order: synchronous_hyperband holds"):
        load_config(tabular_config(tmp_path, fidelity={"scheduler": "synchronous_hyperband",
                                                       "max": 9}, task={"name": "digits"},
                                   campaign__order="birth"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=12, unique=True), st.randoms())
def test_successive_halving_promotes_the_top_of_a_rung_whatever_the_arrival_order(
        fitness: list, random: Any) -> None:
    halving = SuccessiveHalving([1, 3], FITNESS, eta=3, cohort=len(fitness))
    order = list(range(len(fitness)))
    random.shuffle(order)
    decisions: dict[int, bool] = {}
    for i in order:
        halving.join(i)
    for i in order:
        decisions.update(halving.report(i, 0, fitness[i], {}))
    keep = max(1, len(fitness) // 3)
    top = sorted(range(len(fitness)), key=lambda i: -fitness[i])[:keep]
    assert decisions == {i: i in top for i in range(len(fitness))}


points = st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(points)
def test_pareto_preference_is_a_permutation_led_by_the_front(values: list) -> None:
    order = preference_order(values)
    assert sorted(order) == list(range(len(values)))
    front = set(np.flatnonzero(pareto_mask(np.asarray(values))).tolist())
    assert set(order[:len(front)]) == front  # the whole first front comes first


def test_two_objective_asha_promotes_by_front_and_crowding() -> None:
    asha = ASHA([1, 3], [Objective("fitness", "max"), Objective("params", "min")], eta=2)
    assert asha.decide(0, 0, 0.5, {"params": 100}) is True   # the first: on the front alone
    assert asha.decide(1, 0, 0.4, {"params": 200}) is False  # dominated by 0: not in the top 1
    assert asha.decide(2, 0, 0.6, {"params": 50}) is True    # dominates both
    assert asha.decide(3, 0, 0.7, {}) is False  # an objective missing: treated as failed


def test_a_config_builds_its_scheduler_and_refuses_bad_ladders(tmp_path) -> None:
    config = load_config(tabular_config(tmp_path, fidelity__scheduler="asha",
                                        fidelity__max=27, task={"name": "digits"}))
    scheduler = build_scheduler(config.data)
    assert isinstance(scheduler, ASHA) and scheduler.rungs == [1, 3, 9, 27]
    assert build_scheduler(load_config(tabular_config(tmp_path)).data) is None
    with pytest.raises(ConfigError, match=r"fidelity.max: 1 is below fidelity.min \(2\)"):
        rungs_of({"min": 2, "max": 1, "eta": 3.0}, None)
    with pytest.raises(ConfigError, match="fidelity.rungs"):
        load_config(tabular_config(tmp_path, fidelity__scheduler="asha",
                                   fidelity__rungs=[3, 2]))
    with pytest.raises(ConfigError, match="at least two rungs"):
        load_config(tabular_config(tmp_path, fidelity__scheduler="median",
                                   fidelity__rungs=[3]))
    halving = build_scheduler(load_config(tabular_config(
        tmp_path, fidelity={"scheduler": "successive_halving", "max": 9, "cohort": 12},
        task={"name": "digits"})).data)
    assert isinstance(halving, SuccessiveHalving) and halving.cohort == 12
    assert halving.describe() == "successive_halving: rungs 1, 3, 9 epochs, eta 3, cohorts of 12"
    with pytest.raises(ConfigError, match="campaign.order: successive_halving holds results"):
        load_config(tabular_config(tmp_path, fidelity={"scheduler": "successive_halving",
                                                       "max": 9}, task={"name": "digits"},
                                   campaign__order="birth"))


def test_data_fraction_ladders_are_fractions_spaced_from_the_top(tmp_path) -> None:
    assert geometric_fractions(0.1, 1.0, 3.0) == [0.1111, 0.3333, 1.0]
    assert geometric_fractions(0.25, 1.0, 2.0) == [0.25, 0.5, 1.0]
    config = load_config(tabular_config(tmp_path, fidelity={
        "scheduler": "hyperband", "resource": "data_fraction", "min": 0.1},
        task={"name": "digits"}))
    scheduler = build_scheduler(config.data)
    assert scheduler is not None and scheduler.rungs == [0.1111, 0.3333, 1.0]
    assert scheduler.describe().startswith(
        "hyperband: rungs 0.1111, 0.3333, 1 of the training data, eta 3")
    section = {"resource": "data_fraction", "eta": 3.0}
    with pytest.raises(ConfigError, match=r"fidelity.min: the first rung's fraction .* got 1$"):
        rungs_of({**section, "min": 1}, 9)
    with pytest.raises(ConfigError, match=r"fidelity.rungs: fractions .* \(0, 1\]"):
        rungs_of({**section, "min": 1, "rungs": [0.5, 2]}, 9)
    with pytest.raises(ConfigError, match="fidelity.rungs: epochs are whole numbers"):
        rungs_of({"resource": "epochs", "min": 1, "eta": 3.0, "rungs": [1, 2.5]}, 9)
    with pytest.raises(ConfigError, match="fidelity.min: epochs are whole numbers, got 1.5"):
        rungs_of({"resource": "epochs", "min": 1.5, "eta": 3.0}, 9)
    assert rungs_of({"resource": "epochs", "min": 1, "eta": 3.0, "rungs": [1.0, 3.0]}, 9) \
        == [1, 3]
