"""Configuration validation: every bad input gets one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from evonas.config import ConfigError, load_config
from tests.conftest import tabular_config

BAD_VALUES = [
    # (dotted override, value, expected fragment of the message)
    ("strategy.populaton", 5, "strategy.populaton: unknown key; did you mean 'population'"),
    ("strategy.population", "ten", "strategy.population: must be an integer"),
    ("strategy.population", 1, "strategy.population: must be at least 2"),
    ("strategy.population", True, "strategy.population: must be an integer"),
    ("strategy.sample", 50, "strategy.sample: must not exceed strategy.population"),
    ("strategy.name", "regularised_evolution", "did you mean 'regularized_evolution'"),
    ("strategy.mutation_weights", {"mutate_opp": 1.0}, "mutation_weights.mutate_opp: unknown"),
    ("strategy.mutation_weights", {"mutate_op": -1}, "mutation_weights.mutate_op: must be"),
    ("budget.evaluations", 0, "budget.evaluations: must be at least 1"),
    ("budget.evaluations", 2.5, "budget.evaluations: must be an integer"),
    ("budget.evaluatons", 10, "budget.evaluatons: unknown key; did you mean 'evaluations'"),
    ("budget.wall_time", -1, "budget.wall_time: must be at least"),
    ("evaluator.workers", -1, "evaluator.workers: must be at least 0"),
    ("evaluator.worker", 2, "did you mean 'workers'"),
    ("evaluator.timeout", "soon", "evaluator.timeout: must be a number"),
    ("campaign.progress", "yes", "campaign.progress: must be true or false"),
    ("campaign.checkpoint_every", 0, "campaign.checkpoint_every: must be at least 1"),
    ("seed", -3, "seed: must be at least 0"),
    ("seed", "abc", "seed: must be an integer"),
    ("nmae", "x", "nmae: unknown key; did you mean 'name'"),
    ("name", "a/b", "name: must be a plain folder name"),
    ("space.name", "nb301", "space.name: unknown search space"),
    ("space.max_nodes", 8, "space.max_nodes: unknown key for the nb201 space"),
    ("task.name", "digitz", "task.name: unknown task 'digitz'; did you mean 'digits'"),
    ("task.metirc", "x", "task.metirc: unknown key; did you mean 'metric'"),
    ("evaluator", 3, "evaluator: must be a mapping"),
]


@pytest.mark.parametrize(("key", "value", "fragment"), BAD_VALUES)
def test_bad_value_names_the_field(tmp_path: Path, key: str, value: object,
                                   fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tabular_config(tmp_path), {key: value})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and message.startswith("<dict>: ")


def test_free_space_errors(tmp_path: Path) -> None:
    base = tabular_config(tmp_path)
    base["space"] = {"name": "free", "ops": ["conv_3x3", "conv_7x7"]}
    with pytest.raises(ConfigError, match="space.ops: unknown op 'conv_7x7'"):
        load_config(base)
    base["space"] = {"name": "free", "mode": "graph"}
    with pytest.raises(ConfigError, match="space.mode: must be 'cell' or 'network'"):
        load_config(base)


@pytest.mark.parametrize(("text", "fragment"), [
    ("seed: [1, 2\n", "malformed YAML at line"),
    ("- just\n- a list\n", "the config must be a mapping"),
    ("", "the config is empty"),
    ("task: {name: tabular}\nspace: {name: nb201}\nstrategy: {name: random}\nseed: 1\n"
     "budget: {evaluations: 'many'}\n", "budget.evaluations: must be an integer"),
])
def test_bad_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_defaults_filled_and_overrides_parsed(tmp_path: Path) -> None:
    config = load_config(tabular_config(tmp_path),
                         ["budget.evaluations=12", "strategy.population=20", "seed=4"])
    assert config.section("budget")["evaluations"] == 12
    assert config.section("strategy") == {"name": "regularized_evolution", "population": 20,
                                          "sample": 3, "mutation_weights": None}
    assert config.seed == 4
    assert config.section("evaluator")["timeout"] is None
    with pytest.raises(ConfigError, match="--set budget: expected dotted.key=value"):
        load_config(tabular_config(tmp_path), ["budget"])


def test_examples_are_valid() -> None:
    for path in sorted(Path("examples").glob("*.yaml")):
        load_config(path)
