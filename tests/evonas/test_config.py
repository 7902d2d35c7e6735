"""Configuration validation: every bad input gets one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evonas.config import ConfigError, load_config
from genomes import space_from_dict
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
    # finite numbers, sane sizes, types of fields without a default (issue 11)
    ("campaign.grace_period", float("inf"), "campaign.grace_period: must be a finite number"),
    ("budget.wall_time", float("nan"), "budget.wall_time: must be a finite number"),
    ("evaluator.timeout", float("-inf"), "evaluator.timeout: must be a finite number"),
    ("evaluator.workers", 10**11, "evaluator.workers: must be at most 4096"),
    ("evaluator.address", {"host": 1}, "evaluator.address: must be a string"),
    ("evaluator.devices", ["gpu"], "evaluator.devices[0]: unknown device 'gpu'"),
    ("space.stem_channels", 0, "space.stem_channels: must be at least 1"),
    ("space.cells_per_stage", 10**6, "space.cells_per_stage: must be at most 64"),
    ("task.name", [1, 2], "task.name: must be a string naming a task"),
    ("strategy.name", {"a": 1}, "strategy.name: must be a string naming a strategy"),
    ("strategy.mutation_weights", {"add_edge": float("inf")}, "mutation_weights.add_edge"),
    ("name", "", "name: must be a plain folder name"),
    ("name", "..", "name: must be a plain folder name"),
    ("name", "a\\b", "name: must be a plain folder name"),
    ("name", "a\0b", "name: must not hold a NUL"),
    ("runs_dir", "ru\0ns", "runs_dir: must not hold a NUL"),
    ("task.inner", {"name": "tabular"}, "task.inner: unknown key"),
    ("strategy.hidden_size", 64, "strategy.hidden_size: unknown key"),
]

#: Every strategy option that has a range, one value out of it (issue 11, item 10).
OUT_OF_RANGE = [
    ("generational", "crossover_prob", 1.5), ("generational", "mutation_prob", -0.1),
    ("generational", "offspring", 0), ("generational", "tournament_size", 0),
    ("generational", "generations", 0), ("generational", "selection", "roulette"),
    ("generational", "population", 1),
    ("regularized_evolution", "sample", 0), ("regularized_evolution", "population", 10**7),
    ("nsga2", "crossover_prob", 1.1), ("nsga2", "mutation_prob", -1),
    ("nsga2", "population", 22), ("nsga2", "generations", 0),
    ("reinforce", "hidden_size", 10**8), ("reinforce", "lr", 0.0),
    ("reinforce", "batch_size", 0), ("reinforce", "baseline_decay", 1.0),
    ("reinforce", "entropy_weight", -0.1), ("reinforce", "init_range", -1),
    ("reinforce", "failure_reward", float("nan")), ("reinforce", "normalize", "yes"),
    ("darts", "epochs", 0), ("darts", "order", 3), ("darts", "batch_size", 1),
    ("darts", "lr", 0), ("darts", "lr_min", -1), ("darts", "momentum", 1.5),
    ("darts", "weight_decay", -1), ("darts", "grad_clip", -1), ("darts", "alpha_lr", 0),
    ("darts", "alpha_weight_decay", -1), ("darts", "derive_every", 0),
    ("darts", "collapse_fraction", 1.0), ("darts", "threads", 0), ("darts", "device", "gpu"),
    ("neat", "population", 1), ("neat", "c1", -1), ("neat", "c2", -1), ("neat", "c3", -1),
    ("neat", "compatibility_threshold", -1), ("neat", "target_species", 0),
    ("neat", "threshold_step", -1), ("neat", "min_threshold", -1), ("neat", "stagnation", 0),
    ("neat", "species_elitism", -1), ("neat", "elitism", -1), ("neat", "elitism_min_size", -1),
    ("neat", "survival_threshold", 7.0), ("neat", "survival_threshold", 0.0),
    ("neat", "crossover_prob", 2), ("neat", "interspecies_prob", -1),
    ("neat", "parent_selection", "best"), ("neat", "tournament_size", 0),
    ("neat", "add_node_prob", 1.5), ("neat", "add_connection_prob", 1.5),
    ("neat", "weight_prob", 1.5), ("neat", "weight_rate", 1.5), ("neat", "bias_prob", 1.5),
    ("neat", "bias_rate", 1.5), ("neat", "activation_prob", 1.5), ("neat", "toggle_prob", 1.5),
    ("neat", "generations", 0),
]
SPACES = {"neat": {"name": "neat"}, "darts": {"name": "nb201"}}


def _assert_refused(tmp_path: Path, name: str, option: str, value: object) -> None:
    """A config giving strategy ``name`` the ``option: value`` fails, naming the field."""
    config = tabular_config(tmp_path, strategy={"name": name, option: value})
    if name in SPACES:
        config["space"] = SPACES[name]
    if name == "neat":
        config["task"] = {"name": "xor"}
    with pytest.raises(ConfigError, match=f"<dict>: strategy.{option}: "):
        load_config(config)


@pytest.mark.parametrize(("name", "option", "value"), OUT_OF_RANGE)
def test_strategy_options_are_range_checked(tmp_path: Path, name: str, option: str,
                                            value: object) -> None:
    _assert_refused(tmp_path, name, option, value)


def _bad_values(option: Any) -> list[object]:
    """Values each declared option must refuse: past its bounds, outside its choices, of the
    wrong type."""
    bad: list[object] = []
    if option.low is not None:
        bad.append(option.low if option.low_open else option.low - 1)
    if option.high is not None:
        bad.append(option.high if option.high_open else option.high + 1)
    if option.choices is not None:
        bad.append("no-such-choice")
    if option.type in (int, float):
        bad.append("text")
    if option.type is bool:
        bad.append("yes")
    return bad


def _declared_cases() -> list[tuple[str, str, object]]:
    from evonas.strategies import STRATEGIES, strategy_class

    return [(name, option.name, value) for name in STRATEGIES
            for option in strategy_class(name).options.options for value in _bad_values(option)]


@pytest.mark.parametrize(("name", "option", "value"), _declared_cases())
def test_every_declared_strategy_option_refuses_what_it_declares(
        tmp_path: Path, name: str, option: str, value: object) -> None:
    """Derived from each strategy's own schema: a new strategy's options are tested by
    declaring them."""
    _assert_refused(tmp_path, name, option, value)


@pytest.mark.parametrize(("name", "old", "new", "value"), [
    ("generational", "cxpb", "crossover_prob", 0.2),
    ("generational", "mutpb", "mutation_prob", 0.5),
    ("nsga2", "crossover_rate", "crossover_prob", 0.4),
    ("nsga2", "mutation_rate", "mutation_prob", 0.6), ("reinforce", "learning_rate", "lr", 0.02),
])
def test_older_option_names_are_read_as_the_shared_name(tmp_path: Path, name: str, old: str,
                                                        new: str, value: float) -> None:
    strategy = load_config(tabular_config(tmp_path, strategy={"name": name, old: value}))
    assert strategy.section("strategy")[new] == value
    assert old not in strategy.section("strategy")
    with pytest.raises(ConfigError, match=f"strategy.{new}: given twice, also as '{old}'"):
        load_config(tabular_config(tmp_path, strategy={"name": name, old: value, new: value}))


def test_every_strategy_option_has_a_doc_and_matches_the_constructor() -> None:
    import inspect

    from evonas.strategies import STRATEGIES, strategy_class

    def keywords(cls: type) -> dict:
        """Keyword-only parameters of ``cls.__init__``, and of the base class's where it passes
        ``**kwargs`` on (SPOS and ENAS hand the supernet's options to their base)."""
        params = inspect.signature(cls.__init__).parameters
        own = {p.name: p.default for p in params.values() if p.kind is p.KEYWORD_ONLY}
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            base = next(b for b in cls.__mro__[1:] if "__init__" in vars(b))
            own = {**keywords(base), **own}
        return own

    for name in STRATEGIES:
        cls = strategy_class(name)
        assert cls.options.defaults() == keywords(cls), name
        assert all(o.doc for o in cls.options.options), name


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                     for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    path = tmp_path / "bomb.yaml"
    path.write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + levels)
    with pytest.raises(ConfigError, match="bomb.yaml: malformed YAML: the document expands"):
        load_config(path)
    shared = tmp_path / "shared.yaml"  # a few aliases are fine
    shared.write_text("seed: &s 3\nruns_dir: runs\ntask: {name: tabular}\n"
                      "strategy: {name: regularized_evolution, population: *s, sample: *s}\n")
    assert load_config(shared).section("strategy")["population"] == 3


def test_a_mapping_source_can_be_labelled(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^runs/t/config.yaml: budget.evaluations"):
        load_config(tabular_config(tmp_path), {"budget.evaluations": 0},
                    label="runs/t/config.yaml")


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
    with pytest.raises(ConfigError, match="space.mode: must be one of network, cell"):
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


def test_every_space_option_default_is_the_space_default() -> None:
    from genomes import space_names, space_options

    for name in space_names():
        schema = space_options(name)
        assert schema is not None, name
        assert all(o.doc for o in schema.options), name
        assert space_from_dict({"name": name, **schema.defaults()}) == \
            space_from_dict({"name": name}), name
