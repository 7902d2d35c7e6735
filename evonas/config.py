"""Campaign configuration: YAML -> a validated, typed :class:`Config`.

Every error is a :class:`ConfigError` whose message is one line naming the file and the dotted field
(``examples/digits.yaml: strategy.populaton: unknown key; did you mean 'population'?``).

Top-level keys and their defaults::

    name: null            # run name; the folder is runs_dir/name (default: <config stem>-<time>)
    seed: 0               # the campaign seed; every RNG and evaluation seed derives from it
    runs_dir: runs        # where run folders go
    space: {name: nb201}  # search space (see genomes.space)
    task: {name: ...}     # what fitness means (see evonas.tasks)
    strategy: {name: regularized_evolution}
    evaluator: {workers: 1, timeout: null, devices: null, max_crashes: 2,
                max_tasks_per_worker: null, backend: local, address: null, num_cpus: 1.0,
                num_gpus: 0.0, max_retries: 1,   # address..max_retries: the ray backend only
                workers_per_device: null,        # replaces workers: len(devices) * this many
                device_memory: null,             # "8GiB" or bytes per device: memory-aware
                memory_safety_factor: 1.2}       # dispatch (on by itself with CUDA devices)
    budget: {evaluations: 100, wall_time: null, device_seconds: null, max_individuals: null}
    campaign: {checkpoint_every: 100, grace_period: 30.0, progress: true, stop_at_target: true}
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genomes import GenomeError, SearchSpace, space_from_dict


class ConfigError(Exception):
    """An invalid configuration; the message names the file and the field."""


SECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "evaluator": {"workers": 1, "timeout": None, "devices": None, "max_crashes": 2,
                  "max_tasks_per_worker": None, "backend": "local", "address": None,
                  "num_cpus": 1.0, "num_gpus": 0.0, "max_retries": 1,
                  "workers_per_device": None, "device_memory": None,
                  "memory_safety_factor": 1.2},
    "budget": {"evaluations": 100, "wall_time": None, "device_seconds": None,
               "max_individuals": None},
    "campaign": {"checkpoint_every": 100, "grace_period": 30.0, "progress": True,
                 "stop_at_target": True},
}
TOP_LEVEL: dict[str, Any] = {
    "name": None, "seed": 0, "runs_dir": "runs", "space": {"name": "nb201"}, "task": None,
    "strategy": {"name": "regularized_evolution"}, **SECTION_DEFAULTS,
}

#: (lowest allowed, type) for numeric fields that have a range; None means unbounded.
_RANGES: dict[str, tuple[float, type]] = {
    "seed": (0, int),
    "evaluator.workers": (0, int),
    "evaluator.timeout": (0.001, float),
    "evaluator.max_crashes": (1, int),
    "evaluator.max_tasks_per_worker": (1, int),
    "evaluator.num_cpus": (0, float),
    "evaluator.num_gpus": (0, float),
    "evaluator.max_retries": (0, int),
    "evaluator.workers_per_device": (1, int),
    "evaluator.memory_safety_factor": (1, float),
    "budget.evaluations": (1, int),
    "budget.wall_time": (0.001, float),
    "budget.device_seconds": (0.001, float),
    "budget.max_individuals": (1, int),
    "campaign.checkpoint_every": (1, int),
    "campaign.grace_period": (0, float),
    "strategy.population": (2, int),
    "strategy.offspring": (1, int),
    "strategy.sample": (1, int),
    "strategy.tournament_size": (1, int),
    "strategy.generations": (1, int),
    "strategy.cxpb": (0, float),
    "strategy.mutpb": (0, float),
    "strategy.crossover_rate": (0, float),
    "strategy.mutation_rate": (0, float),
    "strategy.hidden_size": (1, int),
    "strategy.learning_rate": (0, float),
    "strategy.batch_size": (1, int),
    "strategy.baseline_decay": (0, float),
    "strategy.entropy_weight": (0, float),
    "strategy.init_range": (0, float),
    "strategy.failure_reward": (-math.inf, float),
    "strategy.epochs": (1, int),
    "strategy.lr": (0, float),
    "strategy.lr_min": (0, float),
    "strategy.momentum": (0, float),
    "strategy.weight_decay": (0, float),
    "strategy.grad_clip": (0, float),
    "strategy.alpha_lr": (0, float),
    "strategy.alpha_weight_decay": (0, float),
    "strategy.derive_every": (1, int),
    "strategy.collapse_fraction": (0, float),
    "strategy.threads": (1, int),
}
_CHOICES: dict[str, tuple[str, ...]] = {"strategy.selection": ("best", "tournament"),
                                        "evaluator.backend": ("local", "ray")}


@dataclass
class Config:
    """A validated campaign configuration.

    Attributes:
        data: the full mapping with defaults filled in (what the journal freezes).
        source: the file it came from (for messages), or ``<dict>``.
    """

    data: dict[str, Any]
    source: str = "<dict>"

    @property
    def name(self) -> str | None:
        return self.data["name"]

    @property
    def seed(self) -> int:
        return self.data["seed"]

    @property
    def runs_dir(self) -> Path:
        return Path(self.data["runs_dir"])

    def section(self, key: str) -> dict[str, Any]:
        return self.data[key]

    def space(self) -> SearchSpace:
        return space_from_dict(self.data["space"])

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


def load_config(source: str | Path | dict[str, Any],
                overrides: dict[str, Any] | list[str] | None = None) -> Config:
    """Read, override and validate a campaign configuration.

    Args:
        source: a YAML file path, or a mapping.
        overrides: dotted keys to set (``{"strategy.population": 30}``), or ``KEY=VALUE`` strings
            as given to ``--set`` (values parsed as YAML).

    Raises:
        ConfigError: one line naming the file and the field at fault.
    """
    if isinstance(source, dict):
        label, data = "<dict>", copy.deepcopy(source)
    else:
        label = str(source)
        data = _read_yaml(Path(source))
    for key, value in _parse_overrides(overrides, label).items():
        _set_dotted(data, key, value, label)
    return Config(validate(data, label), label)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if data is None:
        raise ConfigError(f"{path}: the config is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys, got "
                          f"{type(data).__name__}")
    return data


def _parse_overrides(overrides: dict[str, Any] | list[str] | None,
                     label: str) -> dict[str, Any]:
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item}: expected dotted.key=value")
        try:
            parsed[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML") from None
    return parsed


def _set_dotted(data: dict[str, Any], key: str, value: Any, label: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{label}: {'.'.join(parts[:i + 1])}: is not a section, cannot set "
                              f"{key}")
        node = child
    node[parts[-1]] = value


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _unknown(label: str, field: str, key: str, allowed: list[str]) -> ConfigError:
    hint = closest(key, allowed) or f"; allowed: {', '.join(sorted(allowed))}"
    return ConfigError(f"{label}: {field}: unknown key{hint}")


def validate(data: dict[str, Any], label: str = "<dict>") -> dict[str, Any]:
    """Check every field and fill in defaults; return the complete mapping.

    Raises:
        ConfigError: naming the file and the first field at fault.
    """
    from evonas.strategies import STRATEGIES, strategy_defaults
    from evonas.tasks import TASK_DEFAULTS

    for key in data:
        if key not in TOP_LEVEL:
            raise _unknown(label, str(key), str(key), list(TOP_LEVEL))
    out: dict[str, Any] = {}
    for key, default in TOP_LEVEL.items():
        if key in SECTION_DEFAULTS:
            continue
        out[key] = copy.deepcopy(data.get(key, default))
    if out["name"] is not None:
        _check_name(out["name"], label)
    _check_value(label, "seed", out["seed"], 0)
    if not isinstance(out["runs_dir"], str) or not out["runs_dir"]:
        raise ConfigError(f"{label}: runs_dir: must be a folder path, got {out['runs_dir']!r}")

    for section, defaults in SECTION_DEFAULTS.items():
        given = data.get(section) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{label}: {section}: must be a mapping, got {given!r}")
        out[section] = _check_section(label, section, given, defaults)
    _check_evaluator(label, out["evaluator"])

    # space
    space_cfg = out["space"]
    if not isinstance(space_cfg, dict):
        raise ConfigError(f"{label}: space: must be a mapping with a name, got {space_cfg!r}")
    try:
        space = space_from_dict(space_cfg)
    except GenomeError as exc:
        raise ConfigError(f"{label}: {_prefixed('space', str(exc))}") from None
    except TypeError as exc:
        raise ConfigError(f"{label}: space: {exc}") from None
    out["space"] = space.to_dict()

    # task
    task_cfg = out["task"]
    if not isinstance(task_cfg, dict) or "name" not in task_cfg:
        raise ConfigError(f"{label}: task: missing; give a mapping with a name "
                          f"(one of {', '.join(sorted(TASK_DEFAULTS))})")
    task_name = task_cfg["name"]
    if task_name not in TASK_DEFAULTS:
        raise ConfigError(f"{label}: task.name: unknown task {task_name!r}"
                          f"{closest(str(task_name), list(TASK_DEFAULTS))}")
    task_defaults = {k: v for k, v in TASK_DEFAULTS[task_name].items() if k != "name"}
    rest = {k: v for k, v in task_cfg.items() if k != "name"}
    out["task"] = {"name": task_name, **_check_section(label, "task", rest, task_defaults)}

    # strategy
    strat_cfg = out["strategy"]
    if not isinstance(strat_cfg, dict) or "name" not in strat_cfg:
        raise ConfigError(f"{label}: strategy: give a mapping with a name "
                          f"(one of {', '.join(sorted(STRATEGIES))})")
    strat_name = strat_cfg["name"]
    if strat_name not in STRATEGIES:
        raise ConfigError(f"{label}: strategy.name: unknown strategy {strat_name!r}"
                          f"{closest(str(strat_name), list(STRATEGIES))}")
    rest = {k: v for k, v in strat_cfg.items() if k != "name"}
    checked = _check_section(label, "strategy", rest, strategy_defaults(strat_name))
    out["strategy"] = {"name": strat_name, **checked}
    _check_strategy(label, out["strategy"], space)
    return out


def _check_name(name: Any, label: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"{label}: name: must be a plain folder name, got {name!r}")


def _check_section(label: str, section: str, given: dict[str, Any],
                   defaults: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in given.items():
        field = f"{section}.{key}"
        if key not in defaults:
            raise _unknown(label, field, str(key), list(defaults))
        _check_value(label, field, value, defaults[key])
        out[key] = value
    return out


def _check_value(label: str, field: str, value: Any, default: Any) -> None:
    kind = _RANGES.get(field, (None, type(default) if default is not None else None))[1]
    if value is None:
        if default is None:
            return
        raise ConfigError(f"{label}: {field}: must not be empty")
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{label}: {field}: must be true or false, got {value!r}")
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{label}: {field}: must be an integer, got {value!r}")
    if kind is float and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ConfigError(f"{label}: {field}: must be a number, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{label}: {field}: must be a string, got {value!r}")
    if field in _RANGES and isinstance(value, int | float):
        low = _RANGES[field][0]
        if value < low:
            raise ConfigError(f"{label}: {field}: must be at least {low}, got {value!r}")
    if field in _CHOICES and value not in _CHOICES[field]:
        raise ConfigError(f"{label}: {field}: must be one of {', '.join(_CHOICES[field])}, "
                          f"got {value!r}{closest(str(value), _CHOICES[field])}")


def _check_evaluator(label: str, ev: dict[str, Any]) -> None:
    """Checks of the evaluator section that involve a parsed value or two fields."""
    from evonas.evaluation.memory import parse_bytes

    if ev["device_memory"] is not None:
        try:
            parse_bytes(ev["device_memory"])
        except ValueError as exc:
            raise ConfigError(f"{label}: evaluator.device_memory: {exc}") from None
    if ev["workers_per_device"] is not None:
        if ev["backend"] == "ray":
            raise ConfigError(f"{label}: evaluator.workers_per_device: the local pool only; with "
                              "backend: ray, set workers (and num_gpus per actor)")
        if ev["workers"] == 0:
            raise ConfigError(f"{label}: evaluator.workers_per_device: needs the worker pool, but "
                              "workers is 0 (in-process evaluation); set workers to 1 or more")


def _check_strategy(label: str, cfg: dict[str, Any], space: SearchSpace) -> None:
    from operators import MUTATIONS

    if cfg.get("cxpb", 0) + cfg.get("mutpb", 0) > 1:
        raise ConfigError(f"{label}: strategy.mutpb: cxpb + mutpb must be at most 1")
    for prob in ("cxpb", "mutpb"):
        if cfg.get(prob, 0) > 1:
            raise ConfigError(f"{label}: strategy.{prob}: must be at most 1, got {cfg[prob]}")
    weights = cfg.get("mutation_weights")
    if weights is not None:
        if not isinstance(weights, dict):
            raise ConfigError(f"{label}: strategy.mutation_weights: must be a mapping "
                              "of operator name to weight")
        for op, w in weights.items():
            if op not in MUTATIONS:
                raise ConfigError(f"{label}: strategy.mutation_weights.{op}: unknown operator"
                                  f"{closest(str(op), list(MUTATIONS))}")
            if not isinstance(w, int | float) or isinstance(w, bool) or w < 0:
                raise ConfigError(f"{label}: strategy.mutation_weights.{op}: must be a "
                                  f"number >= 0, got {w!r}")
    if cfg["name"] == "nsga2":
        from evonas.strategies.nsga2 import check_config as check_nsga2

        check_nsga2(cfg, label)
    if cfg["name"] == "reinforce":
        from evonas.strategies.reinforce import check_config as check_reinforce

        check_reinforce(cfg, label)
    if cfg["name"] == "darts":
        from evonas.strategies.darts import check_config as check_darts

        check_darts(cfg, space, label)
    if cfg["name"] == "regularized_evolution" and cfg["sample"] > cfg["population"]:
        raise ConfigError(f"{label}: strategy.sample: must not exceed strategy.population "
                          f"({cfg['population']}), got {cfg['sample']}")


def _prefixed(section: str, message: str) -> str:
    return message if message.startswith(f"{section}.") else f"{section}.{message}"
