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
               order: null,       # async | birth; null: async when evaluations run in parallel
               keep_weights: 0}   # keep the trained weights of the K best in RUN/weights
    fidelity: {scheduler: null, resource: epochs, min: 1, max: null, eta: 3.0, rungs: null,
               brackets: null, min_results: 3,   # asha | hyperband | median |
               cohort: null}                     # successive_halving |
                                                 # synchronous_hyperband (evonas.fidelity)
    inherit_weights: {enabled: false, epochs: null, keep: 64}   # or true (evonas.inheritance)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evonas.errors import ConfigError  # defined in the leaf; exported here as before
from evonas.evaluation.options import EVALUATOR_OPTIONS, MAX_WORKERS
from evonas.fidelity import FIDELITY_OPTIONS, SCHEDULERS, rungs_of
from evonas.inheritance import INHERIT_OPTIONS, inherit_epochs
from evonas.options import MAX_INT, MAX_POPULATION, Option, OptionSchema, closest
from evonas.strategies import strategy_class
from evonas.strategies.prescreen import PRESCREEN_OPTIONS, WARM_START_OPTIONS
from evonas.tasks import TASK_DEFAULTS, TaskError
from genomes import GenomeError, SearchSpace, space_from_dict, space_options

__all__ = ["MAX_INT", "MAX_POPULATION", "MAX_WORKERS", "Config", "ConfigError", "closest",
           "load_config", "validate"]

#: The ``budget:`` section: when the campaign stops.
BUDGET_OPTIONS = OptionSchema(
    Option("evaluations", 100, "evaluations to run (repeats answered from the cache do not "
           "count)", low=1),
    Option("wall_time", None, "seconds of wall time", kind=float, low=0.001),
    Option("device_seconds", None, "device-seconds of evaluation and search", kind=float,
           low=0.001),
    Option("max_individuals", None, "individuals to breed", kind=int, low=1),
)
#: The ``campaign:`` section: how the campaign runs.
CAMPAIGN_OPTIONS = OptionSchema(
    Option("checkpoint_every", 100, "told individuals between strategy snapshots", low=1),
    Option("grace_period", 30.0, "seconds a stopped campaign waits for running evaluations",
           low=0),
    Option("progress", True, "draw the progress bar"),
    Option("stop_at_target", True, "stop once the task's target fitness is reached"),
    Option("order", None, "async (tell results as they arrive) or birth (in birth order, "
           "bit-identical reruns); null: async when evaluations run in parallel", kind=str,
           choices=("async", "birth")),
    Option("keep_weights", 0, "keep the trained weights of this many best individuals in "
           "RUN/weights (tasks that train); 0: keep none", low=0),
)
#: The core's own sections (an extension's options are declared by the extension).
SECTIONS: dict[str, OptionSchema] = {"evaluator": EVALUATOR_OPTIONS, "budget": BUDGET_OPTIONS,
                                     "campaign": CAMPAIGN_OPTIONS, "fidelity": FIDELITY_OPTIONS,
                                     "inherit_weights": INHERIT_OPTIONS}
# zero-cost proxies in front of the strategy (evonas.strategies.prescreen); proxy null: off
SECTIONS.update(prescreen=PRESCREEN_OPTIONS, warm_start=WARM_START_OPTIONS)
SECTION_DEFAULTS: dict[str, dict[str, Any]] = {k: v.defaults() for k, v in SECTIONS.items()}
TOP_LEVEL: dict[str, Any] = {
    "name": None, "seed": 0, "runs_dir": "runs", "space": {"name": "nb201"}, "task": None,
    "strategy": {"name": "regularized_evolution"}, **SECTION_DEFAULTS,
}
_SEED = Option("seed", 0, "the campaign seed", low=0)


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
    _SEED.check(out["seed"], f"{label}: seed")
    if not isinstance(out["runs_dir"], str) or not out["runs_dir"]:
        raise ConfigError(f"{label}: runs_dir: must be a folder path, got {out['runs_dir']!r}")

    for section, schema in SECTIONS.items():
        given = data.get(section) or {}
        if section == "inherit_weights" and isinstance(given, bool):  # inherit_weights: true
            given = {"enabled": given}
        if not isinstance(given, dict):
            raise ConfigError(f"{label}: {section}: must be a mapping, got {given!r}")
        out[section] = schema.validate(given, section, label)

    out["task"] = _check_task(label, out["task"], "task")
    if out["fidelity"]["scheduler"] is not None:
        rungs_of(out["fidelity"], out["task"].get("epochs"), f"{label}: fidelity")
        if out["inherit_weights"]["enabled"]:
            raise ConfigError(f"{label}: inherit_weights.enabled: does not combine with "
                              "fidelity.scheduler (a ladder continues an individual's own "
                              "weights); turn one off")
        if SCHEDULERS[out["fidelity"]["scheduler"]].synchronous \
                and out["campaign"]["order"] == "birth":
            raise ConfigError(f"{label}: campaign.order: {out['fidelity']['scheduler']} holds "
                              "results back until their rung fills, which telling in birth "
                              "order cannot wait for; use async (the default with a ladder "
                              "like this)")
    if out["inherit_weights"]["enabled"]:
        inherit_epochs(out["inherit_weights"], out["task"].get("epochs"),
                       f"{label}: inherit_weights")
    _import_task_module(label, out["task"]["name"])  # it may register the space

    # space
    space_cfg = out["space"]
    if not isinstance(space_cfg, dict):
        raise ConfigError(f"{label}: space: must be a mapping with a name, got {space_cfg!r}")
    space_cfg = _check_space(label, space_cfg)
    try:
        space = space_from_dict(space_cfg)
    except GenomeError as exc:
        raise ConfigError(f"{label}: {_prefixed('space', str(exc))}") from None
    except TypeError as exc:
        raise ConfigError(f"{label}: space: {exc}") from None
    out["space"] = space.to_dict()

    out["strategy"] = _check_strategy(label, out["strategy"], space)
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


def _check_task(label: str, task_cfg: Any, field: str, by_path: bool = True) -> dict[str, Any]:
    """The ``task:`` mapping (or a wrapped task, ``task.inner``) checked against its options.

    A registered task's options are its documented defaults: unknown keys and values of the wrong
    type are refused here, ranges by the task when it is built. An option whose default is itself
    a task mapping (``inner: {name: tabular}``, a wrapper task) is checked as a task. A
    ``package.module:factory`` name (where ``by_path``; not for a wrapped task) is not imported
    here: its factory checks its options when the campaign builds the task.
    """
    choices = ", ".join(sorted(TASK_DEFAULTS))
    if not isinstance(task_cfg, dict) or "name" not in task_cfg:
        raise ConfigError(f"{label}: {field}: missing; give a mapping with a name "
                          f"(one of {choices}, or package.module:factory)")
    task_name = task_cfg["name"]
    if not isinstance(task_name, str):
        raise ConfigError(f"{label}: {field}.name: must be a string naming a task (one of "
                          f"{choices}), got {task_name!r}")
    if task_name not in TASK_DEFAULTS:
        module, sep, attr = task_name.partition(":")
        dotted = all(part.isidentifier() for part in module.split("."))
        if by_path and sep and module and dotted and attr.isidentifier():
            return dict(task_cfg)
        raise ConfigError(f"{label}: {field}.name: unknown task {task_name!r}"
                          f"{closest(task_name, list(TASK_DEFAULTS))} (one of {choices}, or "
                          "package.module:factory)")
    defaults = {k: v for k, v in TASK_DEFAULTS[task_name].items() if k != "name"}
    schema = OptionSchema(*(Option(k, v, "") for k, v in defaults.items()))
    rest = {k: v for k, v in task_cfg.items() if k != "name"}
    checked = {"name": task_name, **schema.validate(rest, field, label)}
    target = checked.get("target")
    if target is not None and (not isinstance(target, int | float) or isinstance(target, bool)):
        raise ConfigError(f"{label}: {field}.target: must be a number or null, got {target!r}")
    for key, default in defaults.items():
        if isinstance(default, dict) and "name" in default:  # a wrapped task, checked as given
            _check_task(label, checked[key], f"{field}.{key}", by_path=False)
    return checked


def _import_task_module(label: str, name: str) -> None:
    """Import the module of a task named by import path (``my_module:make_task``), as the
    campaign will to build the task: a module may register its own search space."""
    if name in TASK_DEFAULTS:
        return
    from evonas.tasks.registry import resolve_factory

    try:
        resolve_factory(name)
    except TaskError as exc:
        raise ConfigError(f"{label}: {exc}") from None


def _check_space(label: str, space_cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``space:`` mapping checked against its space's declared options (types and ranges;
    the space class checks the rest), defaults filled in."""
    name = space_cfg.get("name")
    schema = space_options(name) if isinstance(name, str) else None
    if schema is None:
        return space_cfg  # an unknown name (space_from_dict names it) or no declared options
    rest = {k: v for k, v in space_cfg.items() if k != "name"}
    unknown = [k for k in rest if k not in schema.names()]
    if unknown:  # in the space's own words
        raise ConfigError(f"{label}: space.{unknown[0]}: unknown key for the {name} space; "
                          f"allowed: {sorted(schema.names())}")
    return {"name": name, **schema.validate(rest, "space", label)}


def _check_strategy(label: str, cfg: Any, space: SearchSpace) -> dict[str, Any]:
    """The ``strategy:`` mapping checked against its strategy's own :class:`OptionSchema`.

    ``name`` is a registered strategy or a ``package.module:Class`` import path.
    """
    from evonas.strategies import STRATEGIES

    choices = ", ".join(sorted(STRATEGIES))
    if not isinstance(cfg, dict) or "name" not in cfg:
        raise ConfigError(f"{label}: strategy: give a mapping with a name (one of {choices})")
    name = cfg["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{label}: strategy.name: must be a string naming a strategy (one of "
                          f"{choices}), got {name!r}")
    try:
        cls = strategy_class(name)
    except KeyError:
        raise ConfigError(f"{label}: strategy.name: unknown strategy {name!r}"
                          f"{closest(name, list(STRATEGIES))}") from None
    except ImportError as exc:
        raise ConfigError(f"{label}: strategy.name: cannot import {name!r} ({exc})") from None
    rest = {k: v for k, v in cfg.items() if k != "name"}
    checked = cls.options.validate(rest, "strategy", label)
    cls.check_space(space, label)
    return {"name": name, **checked}


def _prefixed(section: str, message: str) -> str:
    return message if message.startswith(f"{section}.") else f"{section}.{message}"
