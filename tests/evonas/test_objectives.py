"""The objectives module: parsing, and dominance as a strict partial order (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evonas.errors import ConfigError
from evonas.objectives import (
    DEFAULT_OBJECTIVES,
    Objective,
    dominates,
    front_indices,
    objectives_from_config,
    pareto_mask,
    parse_objective,
    parse_objectives,
)

K = 3
values = st.integers(-3, 3).map(float)  # small range: ties and equal points are common
points = st.lists(values, min_size=K, max_size=K)
goals = st.lists(st.booleans(), min_size=K, max_size=K)
clouds = st.lists(points, min_size=0, max_size=25)


@given(points, goals)
def test_dominance_is_irreflexive(a, maximize) -> None:
    assert not dominates(a, a, maximize)


@given(points, points, goals)
def test_dominance_is_antisymmetric(a, b, maximize) -> None:
    assert not (dominates(a, b, maximize) and dominates(b, a, maximize))


@given(points, points, points, goals)
def test_dominance_is_transitive(a, b, c, maximize) -> None:
    if dominates(a, b, maximize) and dominates(b, c, maximize):
        assert dominates(a, c, maximize)


@settings(max_examples=200)
@given(clouds, goals)
def test_front_holds_exactly_the_undominated(cloud, maximize) -> None:
    mask = pareto_mask(np.array(cloud, dtype=float).reshape(len(cloud), K), maximize)
    assert len(mask) == len(cloud)
    for i, p in enumerate(cloud):
        beaten = any(dominates(q, p, maximize) for q in cloud)
        assert mask[i] == (not beaten)  # no front member is dominated; everyone else is
    if cloud:
        assert mask.any()  # a finite cloud has a front
    assert front_indices(cloud, maximize) == [i for i, m in enumerate(mask) if m]


def test_nan_rows_are_never_on_the_front_and_dominate_nothing() -> None:
    cloud = np.array([[1.0, np.nan], [0.0, 0.0], [5.0, 5.0]])
    assert pareto_mask(cloud).tolist() == [False, False, True]
    assert not dominates([np.nan, 9.0], [0.0, 0.0])
    assert pareto_mask(np.zeros((0, 2)), [True, True]).tolist() == []


def test_goals_sign_the_columns() -> None:
    assert dominates([1, 1], [2, 1], [Objective("a", "min"), Objective("b")])
    assert not dominates([1, 1], [2, 1])


def test_parse_objectives_config_form() -> None:
    assert parse_objectives(None) == list(DEFAULT_OBJECTIVES)
    assert parse_objectives([{"metric": "acc"}, {"metric": "lat", "goal": "min"}]) == [
        Objective("acc", "max"), Objective("lat", "min")]
    assert parse_objectives([Objective("a", "min")]) == [Objective("a", "min")]
    for bad, message in (([], "must be a non-empty list"),
                         ([{"metric": "a", "goal": "up"}], r"\[0\]\.goal: must be max or min"),
                         ([{"metric": "a"}, {"metric": "a"}], r"\[1\]\.metric: .* twice"),
                         ([{"metric": "a", "weight": 1}], r"\[0\]\.weight: unknown key"),
                         (["a"], r"\[0\]: must be a mapping")):
        with pytest.raises(ConfigError, match=message):
            parse_objectives(bad, "x.yaml")


def test_objectives_from_config_and_command_line() -> None:
    assert objectives_from_config({"strategy": {"name": "random"}}) == []
    assert objectives_from_config({"strategy": {"name": "nsga2"}}) == list(DEFAULT_OBJECTIVES)
    assert parse_objective("-params") == Objective("params", "min")
    assert parse_objective("acc:MAX") == Objective("acc")
    with pytest.raises(ConfigError, match="expected a metric name"):
        parse_objective(":max")
    with pytest.raises(ConfigError, match="goal must be max or min"):
        Objective("a", "up")


def test_objective_value_takes_finite_numbers_only() -> None:
    o, f = Objective("m"), Objective("fitness")
    assert f.value(0.5, {}) == 0.5 and o.value(None, {"m": 3}) == 3.0
    for bad in (None, True, float("nan"), float("inf"), "1"):
        assert o.value(1.0, {"m": bad}) is None
    assert str(Objective("params", "min")) == "params (min)"
    assert Objective("a").to_dict() == {"metric": "a", "goal": "max"}
