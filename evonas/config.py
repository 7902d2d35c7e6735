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
    campaign: {checkpoint_every: 100, grace_period: 30.0, progress: true, stop_at_target: true,
               order: null}       # async | birth; null: async when evaluations run in parallel
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evonas.errors import ConfigError  # defined in the leaf; exported here as before
from evonas.evaluation.memory import parse_bytes
from evonas.strategies import STRATEGIES, strategy_defaults
from evonas.strategies.nsga2 import check_config as check_nsga2
from evonas.tasks import TASK_DEFAULTS
from genomes import GenomeError, SearchSpace, space_from_dict
from operators import MUTATIONS

#: What ``evaluator.devices`` may list (as :mod:`evonas.evaluation.devices` reads it).
_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(:(\d+))?$")


SECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "evaluator": {"workers": 1, "timeout": None, "devices": None, "max_crashes": 2,
                  "max_tasks_per_worker": None, "backend": "local", "address": None,
                  "num_cpus": 1.0, "num_gpus": 0.0, "max_retries": 1,
                  "workers_per_device": None, "device_memory": None,
                  "memory_safety_factor": 1.2},
    "budget": {"evaluations": 100, "wall_time": None, "device_seconds": None,
               "max_individuals": None},
    "campaign": {"checkpoint_every": 100, "grace_period": 30.0, "progress": True,
                 "stop_at_target": True, "order": None},
}
TOP_LEVEL: dict[str, Any] = {
    "name": None, "seed": 0, "runs_dir": "runs", "space": {"name": "nb201"}, "task": None,
    "strategy": {"name": "regularized_evolution"}, **SECTION_DEFAULTS,
}

#: Most worker processes a pool may have (more would only exhaust memory and file handles).
MAX_WORKERS = 4096
#: Largest integer a config may hold (what SQLite and numpy's seeds take).
MAX_INT = 2**63 - 1
#: Most members a population (and the like) may have.
MAX_POPULATION = 1_000_000

#: (lowest allowed, type, highest allowed) for numeric fields that have a range; None means
#: unbounded. Every number must also be finite (no NaN or infinity), see :func:`_check_tree`.
#: ``strategy.*`` ranges apply to whichever strategy has the option.
_RANGES: dict[str, tuple[float | None, type, float | None]] = {
    "seed": (0, int, MAX_INT),
    "evaluator.workers": (0, int, MAX_WORKERS),
    "evaluator.timeout": (0.001, float, None),
    "evaluator.max_crashes": (1, int, None),
    "evaluator.max_tasks_per_worker": (1, int, None),
    "evaluator.num_cpus": (0, float, None),
    "evaluator.num_gpus": (0, float, None),
    "evaluator.max_retries": (0, int, 1000),
    "evaluator.workers_per_device": (1, int, 256),
    "evaluator.memory_safety_factor": (1, float, None),
    "budget.evaluations": (1, int, None),
    "budget.wall_time": (0.001, float, None),
    "budget.device_seconds": (0.001, float, None),
    "budget.max_individuals": (1, int, None),
    "campaign.checkpoint_every": (1, int, None),
    "campaign.grace_period": (0, float, None),
    # evolutionary strategies
    "strategy.population": (2, int, MAX_POPULATION),
    "strategy.offspring": (1, int, MAX_POPULATION),
    "strategy.sample": (1, int, MAX_POPULATION),
    "strategy.tournament_size": (1, int, MAX_POPULATION),
    "strategy.generations": (1, int, None),
    "strategy.cxpb": (0, float, 1),
    "strategy.mutpb": (0, float, 1),
    "strategy.crossover_rate": (0, float, 1),
    "strategy.mutation_rate": (0, float, 1),
    # reinforce
    "strategy.hidden_size": (1, int, 4096),
    "strategy.learning_rate": (0, float, None),
    "strategy.batch_size": (1, int, 65536),
    "strategy.baseline_decay": (0, float, 1),
    "strategy.entropy_weight": (0, float, None),
    "strategy.init_range": (0, float, None),
    "strategy.failure_reward": (None, float, None),
    # darts
    "strategy.epochs": (1, int, 100_000),
    "strategy.lr": (0, float, None),
    "strategy.lr_min": (0, float, None),
    "strategy.momentum": (0, float, 1),
    "strategy.weight_decay": (0, float, None),
    "strategy.grad_clip": (0, float, None),
    "strategy.alpha_lr": (0, float, None),
    "strategy.alpha_weight_decay": (0, float, None),
    "strategy.derive_every": (1, int, None),
    "strategy.collapse_fraction": (0, float, 1),
    "strategy.threads": (1, int, 1024),
    # neat
    "strategy.c1": (0, float, None),
    "strategy.c2": (0, float, None),
    "strategy.c3": (0, float, None),
    "strategy.compatibility_threshold": (0, float, None),
    "strategy.target_species": (1, int, MAX_POPULATION),
    "strategy.threshold_step": (0, float, None),
    "strategy.min_threshold": (0, float, None),
    "strategy.stagnation": (1, int, None),
    "strategy.species_elitism": (0, int, MAX_POPULATION),
    "strategy.elitism": (0, int, MAX_POPULATION),
    "strategy.elitism_min_size": (0, int, None),
    "strategy.survival_threshold": (0, float, 1),
    "strategy.crossover_prob": (0, float, 1),
    "strategy.interspecies_prob": (0, float, 1),
    "strategy.add_node_prob": (0, float, 1),
    "strategy.add_connection_prob": (0, float, 1),
    "strategy.weight_prob": (0, float, 1),
    "strategy.weight_rate": (0, float, 1),
    "strategy.bias_prob": (0, float, 1),
    "strategy.bias_rate": (0, float, 1),
    "strategy.activation_prob": (0, float, 1),
    "strategy.toggle_prob": (0, float, 1),
}
#: Fields whose lowest value is itself not allowed (must be more than it).
_ABOVE_LOW = {"strategy.learning_rate", "strategy.lr", "strategy.alpha_lr",
              "strategy.survival_threshold"}
#: Fields whose highest value is itself not allowed (must be less than it).
_BELOW_HIGH = {"strategy.baseline_decay", "strategy.collapse_fraction"}
#: The type of fields whose default is None (any other field takes its default's type).
_TYPES: dict[str, type] = {"evaluator.devices": list, "evaluator.address": str,
                           "campaign.order": str,
                           "strategy.mutation_weights": dict, "strategy.objectives": list}
#: Options of each search space: (lowest, type, highest); lists of numbers are checked per item.
_SPACE_RANGES: dict[str, dict[str, tuple[float | None, type, float | None]]] = {
    "nb201": {"stem_channels": (1, int, 1024), "cells_per_stage": (1, int, 64)},
    "free": {"max_nodes": (2, int, 1000), "max_edges": (1, int, 100_000),
             "widths": (1, int, 4096), "stem_channels": (1, int, 4096), "stages": (1, int, 16),
             "cells_per_stage": (1, int, 64), "ops": (None, str, None),
             "mode": (None, str, None)},
    "neat": {"num_inputs": (1, int, 100_000), "num_outputs": (1, int, 100_000),
             "max_nodes": (1, int, 1_000_000), "max_connections": (1, int, 10_000_000),
             "activations": (None, str, None), "output_activations": (None, str, None),
             "initial_connection": (None, str, None), "recurrent": (None, bool, None),
             "weight_range": (None, float, None), "bias_range": (None, float, None),
             "weight_init_std": (0, float, None), "weight_perturb_std": (0, float, None),
             "weight_replace_rate": (0, float, 1), "bias_init_std": (0, float, None),
             "bias_perturb_std": (0, float, None), "bias_replace_rate": (0, float, 1)},
}
_CHOICES: dict[str, tuple[str, ...]] = {"strategy.selection": ("best", "tournament"),
                                        "strategy.parent_selection": ("random", "tournament"),
                                        "evaluator.backend": ("local", "ray"),
                                        "campaign.order": ("async", "birth")}


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
                overrides: dict[str, Any] | list[str] | None = None,
                label: str | None = None) -> Config:
    """Read, override and validate a campaign configuration.

    Args:
        source: a YAML file path, or a mapping.
        overrides: dotted keys to set (``{"strategy.population": 30}``), or ``KEY=VALUE`` strings
            as given to ``--set`` (values parsed as YAML).
        label: what messages name for a mapping ``source`` (default ``<dict>``), e.g. the run
            folder's ``config.yaml`` on resume.

    Raises:
        ConfigError: one line naming the file and the field at fault.
    """
    if isinstance(source, dict):
        label = label or "<dict>"
        _check_tree(label, source)  # before copying: bounded depth and size
        data = copy.deepcopy(source)
    else:
        label = str(source)
        data = _read_yaml(Path(source))
    for key, value in _parse_overrides(overrides, label).items():
        _set_dotted(data, key, value, label)
    return Config(validate(data, label), label)


#: Most nodes a YAML document may expand to, aliases counted at every use (a config has ~100);
#: more is a "billion laughs" alias bomb that would exhaust memory once anything copies it.
MAX_YAML_NODES = 100_000
#: Deepest nesting of sections and lists a config may have.
MAX_DEPTH = 32


class _DocumentTooLarge(yaml.YAMLError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents whose aliases expand past
    :data:`MAX_YAML_NODES` nodes or refer to themselves."""

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _expanded_size(node, {}, set())
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    """Nodes ``node`` stands for once every alias is expanded (memoized per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _DocumentTooLarge("an alias refers to the node that contains it")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes, active) + _expanded_size(v, sizes, active)
                    for k, v in node.value)
    active.discard(key)
    if size > MAX_YAML_NODES:
        raise _DocumentTooLarge(f"the document expands to more than {MAX_YAML_NODES} nodes "
                                "(aliases repeating aliases); refusing it")
    sizes[key] = size
    return size


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with :class:`SafeLoader`'s limits.

    Raises:
        yaml.YAMLError: malformed, or expanding past the limits.
        RecursionError: nested too deeply for the parser.
    """
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a SafeLoader subclass)


def _read_yaml(path: Path) -> dict[str, Any]:
    if "\0" in str(path):
        raise ConfigError(f"{str(path)!r}: the file name holds a NUL character")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: is not a config file (a folder or a device)")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed YAML: nested too deeply") from None
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
        shown = item if len(item) <= 80 else f"{item[:60]}..."
        try:
            parsed[key.strip()] = safe_load(text) if text.strip() else None
        except _DocumentTooLarge as exc:
            raise ConfigError(f"--set {shown}: the value is not valid YAML ({exc.problem})"
                              ) from None
        except (yaml.YAMLError, RecursionError):
            raise ConfigError(f"--set {shown}: the value is not valid YAML") from None
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
    _check_tree(label, data)
    for key in data:
        if key not in TOP_LEVEL:
            raise _unknown(label, str(key), str(key), list(TOP_LEVEL))
    out: dict[str, Any] = {}
    for key, default in TOP_LEVEL.items():
        if key in SECTION_DEFAULTS:
            continue
        out[key] = copy.deepcopy(data.get(key, default))
    if out["name"] is not None:
        check_run_name(out["name"], f"{label}: name")
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
    _check_space(label, space_cfg)
    try:
        space = space_from_dict(space_cfg)
    except GenomeError as exc:
        raise ConfigError(f"{label}: {_prefixed('space', str(exc))}") from None
    except TypeError as exc:
        raise ConfigError(f"{label}: space: {exc}") from None
    out["space"] = space.to_dict()

    # task
    out["task"] = _check_task(label, out["task"], "task")

    # strategy
    strat_cfg = out["strategy"]
    if not isinstance(strat_cfg, dict) or "name" not in strat_cfg:
        raise ConfigError(f"{label}: strategy: give a mapping with a name "
                          f"(one of {', '.join(sorted(STRATEGIES))})")
    strat_name = strat_cfg["name"]
    if not isinstance(strat_name, str):
        raise ConfigError(f"{label}: strategy.name: must be a string naming a strategy (one of "
                          f"{', '.join(sorted(STRATEGIES))}), got {strat_name!r}")
    if strat_name not in STRATEGIES:
        raise ConfigError(f"{label}: strategy.name: unknown strategy {strat_name!r}"
                          f"{closest(str(strat_name), list(STRATEGIES))}")
    rest = {k: v for k, v in strat_cfg.items() if k != "name"}
    checked = _check_section(label, "strategy", rest, strategy_defaults(strat_name))
    out["strategy"] = {"name": strat_name, **checked}
    _check_strategy(label, out["strategy"], space)
    return out


def check_run_name(name: Any, where: str) -> None:
    """Refuse a run name that is not one plain folder name inside ``runs_dir``.

    Args:
        name: the name (the config's ``name``, ``--name`` or the Python ``name=``).
        where: what the message starts with, e.g. ``campaign.yaml: name`` or ``--name``.

    Raises:
        ConfigError: for a non-string, empty, ``.`` or ``..`` name, one with a path separator or
            a NUL character, or one longer than a file name may be.
    """
    bad = (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
           or "\\" in name or "\0" in name
           or len(name.encode("utf-8", "surrogateescape")) > 255)
    if bad:
        raise ConfigError(f"{where}: must be a plain folder name (not empty, '.' or '..'; no "
                          f"'/', '\\' or NUL; at most 255 bytes), got {name!r:.80}")


def _check_tree(label: str, data: Any) -> None:
    """Every value is plain data that survives the JSON round trip: mappings with string keys,
    lists, strings without NUL, booleans, integers and finite floats; at most :data:`MAX_DEPTH`
    deep and :data:`MAX_YAML_NODES` values in all (shared values counted at every use)."""
    count = 0
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        field, value, depth = stack.pop()
        where = field or "config"
        count += 1
        if count > MAX_YAML_NODES:
            raise ConfigError(f"{label}: the config holds more than {MAX_YAML_NODES} values; "
                              "refusing it")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{label}: {where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(f"{label}: {field + '.' if field else ''}{key!r}: keys "
                                      f"must be strings, got {type(key).__name__}")
                stack.append((f"{field}.{key}" if field else key, item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{field}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"{label}: {where}: must be a finite number, got {value!r}")
        elif isinstance(value, str):
            if "\0" in value:
                raise ConfigError(f"{label}: {where}: must not hold a NUL character")
        elif value is not None and not isinstance(value, bool | int):
            raise ConfigError(f"{label}: {where}: must be a number, string, list or mapping, "
                              f"got {type(value).__name__} {value!r:.60}")


def _check_task(label: str, task_cfg: Any, field: str) -> dict[str, Any]:
    """The ``task:`` mapping (or a wrapped ``inner:`` task) checked against its task's options."""
    choices = ", ".join(sorted(TASK_DEFAULTS))
    if not isinstance(task_cfg, dict) or "name" not in task_cfg:
        raise ConfigError(f"{label}: {field}: missing; give a mapping with a name "
                          f"(one of {choices})")
    task_name = task_cfg["name"]
    if not isinstance(task_name, str):
        raise ConfigError(f"{label}: {field}.name: must be a string naming a task (one of "
                          f"{choices}), got {task_name!r}")
    if task_name not in TASK_DEFAULTS:
        raise ConfigError(f"{label}: {field}.name: unknown task {task_name!r}"
                          f"{closest(task_name, list(TASK_DEFAULTS))}")
    task_defaults = {k: v for k, v in TASK_DEFAULTS[task_name].items() if k != "name"}
    rest = {k: v for k, v in task_cfg.items() if k != "name"}
    checked = {"name": task_name, **_check_section(label, field, rest, task_defaults)}
    target = checked.get("target")
    if target is not None and (not isinstance(target, int | float) or isinstance(target, bool)):
        raise ConfigError(f"{label}: {field}.target: must be a number or null, got {target!r}")
    if task_name in ("faulty", "simulated"):  # the wrapped task gets the same checks
        _check_task(label, checked["inner"], f"{field}.inner")
    return checked


def _check_space(label: str, space_cfg: dict[str, Any]) -> None:
    """Types and ranges of the space's options (the space classes check the rest)."""
    ranges = _SPACE_RANGES.get(space_cfg.get("name"), {})  # type: ignore[arg-type]
    for key, value in space_cfg.items():
        if key not in ranges:
            continue  # the name, or an unknown key: space_from_dict names it
        low, kind, high = ranges[key]
        items = value if isinstance(value, list) else [value]
        if key in ("widths", "ops", "activations", "output_activations", "weight_range",
                   "bias_range") and not isinstance(value, list):
            raise ConfigError(f"{label}: space.{key}: must be a list, got {value!r}")
        for i, item in enumerate(items):
            where = f"space.{key}[{i}]" if isinstance(value, list) else f"space.{key}"
            _check_number(label, where, item, low, kind, high)


def _check_number(label: str, field: str, value: Any, low: float | None, kind: type,
                  high: float | None, above: bool = False, below: bool = False) -> None:
    """``value`` has type ``kind`` (an int passes as a float) and lies in ``[low, high]``."""
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{label}: {field}: must be true or false, got {value!r}")
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{label}: {field}: must be an integer, got {value!r}")
    if kind is float and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ConfigError(f"{label}: {field}: must be a number, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{label}: {field}: must be a string, got {value!r}")
    if kind is list and not isinstance(value, list):
        raise ConfigError(f"{label}: {field}: must be a list, got {value!r}")
    if kind is dict and not isinstance(value, dict):
        raise ConfigError(f"{label}: {field}: must be a mapping, got {value!r}")
    if kind not in (int, float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{label}: {field}: must be a finite number, got {value!r}")
    if low is not None and (value <= low if above else value < low):
        raise ConfigError(f"{label}: {field}: must be {'more than' if above else 'at least'} "
                          f"{low}, got {value!r}")
    if high is not None and (value >= high if below else value > high):
        raise ConfigError(f"{label}: {field}: must be {'less than' if below else 'at most'} "
                          f"{high}, got {value!r}")


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
    if field in _RANGES:
        low, kind, high = _RANGES[field]
    else:
        low, high = None, None
        kind = _TYPES.get(field) or (type(default) if default is not None else type(None))
        if kind is int:
            high = MAX_INT
    if value is None:
        if default is None:
            return
        raise ConfigError(f"{label}: {field}: must not be empty")
    _check_number(label, field, value, low, kind, high, field in _ABOVE_LOW,
                  field in _BELOW_HIGH)
    if field in _CHOICES and value not in _CHOICES[field]:
        raise ConfigError(f"{label}: {field}: must be one of {', '.join(_CHOICES[field])}, "
                          f"got {value!r}{closest(str(value), _CHOICES[field])}")


def _check_evaluator(label: str, ev: dict[str, Any]) -> None:
    """Checks of the evaluator section that involve a parsed value or two fields."""
    devices = ev["devices"]
    if devices is not None:
        if not devices:
            raise ConfigError(f"{label}: evaluator.devices: the list is empty; leave it out (or "
                              "null) to use the detected devices")
        for i, device in enumerate(devices):
            if not isinstance(device, str) or not _DEVICE_RE.match(device):
                raise ConfigError(f"{label}: evaluator.devices[{i}]: unknown device {device!r} "
                                  "(use cpu, cuda, cuda:N or mps)")
    per_device = ev["workers_per_device"]
    if per_device is not None and len(devices or [None]) * per_device > MAX_WORKERS:
        raise ConfigError(f"{label}: evaluator.workers_per_device: {len(devices or [None])} "
                          f"devices x {per_device} is more than {MAX_WORKERS} workers")
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
            if not isinstance(w, int | float) or isinstance(w, bool) or w < 0 \
                    or not math.isfinite(w):
                raise ConfigError(f"{label}: strategy.mutation_weights.{op}: must be a "
                                  f"finite number >= 0, got {w!r}")
        if weights and not any(w > 0 for w in weights.values()):
            raise ConfigError(f"{label}: strategy.mutation_weights: at least one operator needs "
                              "a weight above 0")
    if cfg["name"] == "nsga2":
        check_nsga2(cfg, label)
    if cfg["name"] == "reinforce":
        # Local: reinforce.py imports torch, which the campaign process loads only if it must.
        from evonas.strategies.reinforce import check_config as check_reinforce

        check_reinforce(cfg, label)
    if cfg["name"] == "darts":
        # Local: darts.py imports torch, which the campaign process loads only if it must.
        from evonas.strategies.darts import check_config as check_darts

        check_darts(cfg, space, label)
    if cfg["name"] == "regularized_evolution" and cfg["sample"] > cfg["population"]:
        raise ConfigError(f"{label}: strategy.sample: must not exceed strategy.population "
                          f"({cfg['population']}), got {cfg['sample']}")


def _prefixed(section: str, message: str) -> str:
    return message if message.startswith(f"{section}.") else f"{section}.{message}"
