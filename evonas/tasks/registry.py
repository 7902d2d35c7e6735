"""The task registry: ``task.name`` -> a factory building the task.

Built-in tasks register when :mod:`evonas.tasks` is imported. Worker processes import that
package too, so any task registered at import time of :mod:`evonas.tasks` (or of a module named
in the config) exists in every worker. A config may also name a factory by import path,
``name: "my_package.my_module:make_task"``; the module is imported in each process that builds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from evonas.tasks.base import Task
from evonas.tasks.errors import TaskError
from evonas.tasks.options import suggest
from genomes import GenomeError, SearchSpace, space_from_dict

#: ``factory(task_config, space) -> Task``; ``task_config`` is the whole ``task:`` mapping.
TaskFactory = Callable[[dict[str, Any], SearchSpace], Task]

_FACTORIES: dict[str, TaskFactory] = {}
#: Documented options and their defaults, per task name (the config layer validates against it).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {}


def register_task(name: str, factory: TaskFactory,
                  defaults: Mapping[str, Any] | None = None) -> None:
    """Make ``task.name: <name>`` build tasks with ``factory``.

    Args:
        name: the config name.
        factory: called as ``factory(task_config, space)``; raises :class:`TaskError` on a bad
            config.
        defaults: the task's documented options and their defaults (for ``TASK_DEFAULTS``).
    """
    _FACTORIES[name] = factory
    TASK_DEFAULTS[name] = dict(defaults or {})


def task_names() -> list[str]:
    """Registered task names, sorted."""
    return sorted(_FACTORIES)


def build_task(task_config: Mapping[str, Any], space: SearchSpace | Mapping[str, Any]) -> Task:
    """Build the task a ``task:`` config mapping describes.

    Args:
        task_config: the ``task:`` mapping; ``name`` picks the task, the other keys are its options.
        space: the search space (or its ``space:`` config mapping) the genomes come from.

    Returns:
        The task, with its data loaded.

    Raises:
        TaskError: on a missing or unknown name or a bad option, naming the field.
    """
    if not isinstance(task_config, Mapping):
        raise TaskError(f"task: must be a mapping, got {type(task_config).__name__}")
    name = task_config.get("name")
    if not isinstance(name, str) or not name:
        raise TaskError(f"task.name: missing; choose one of {task_names()}")
    factory = resolve_factory(name)  # first: a module named by path may register the space
    if isinstance(space, Mapping):
        try:
            space = space_from_dict(dict(space))
        except GenomeError as exc:
            raise TaskError(str(exc)) from None
    return factory(dict(task_config), space)


def build_task_and_space(task_config: Mapping[str, Any], space_config: Mapping[str, Any]
                         ) -> tuple[Task, SearchSpace]:
    """The task and the search space of a campaign, as an evaluation process builds them.

    A task named by import path is imported before the space is built, so a module that
    registers a search space (``register_space``) and names itself as the task makes that space
    known in every worker process.

    Raises:
        TaskError: as :func:`build_task`, also for an unknown space.
    """
    if not isinstance(task_config, Mapping):
        raise TaskError(f"task: must be a mapping, got {type(task_config).__name__}")
    name = task_config.get("name")
    if isinstance(name, str) and name:
        resolve_factory(name)
    try:
        space = space_from_dict(dict(space_config))
    except GenomeError as exc:
        raise TaskError(str(exc)) from None
    return build_task(task_config, space), space


def resolve_factory(name: str) -> TaskFactory:
    """The factory of task ``name``: registered, or imported from a ``module:attr`` path.

    Raises:
        TaskError: for an unknown name or a path that does not import.
    """
    if name in _FACTORIES:
        return _FACTORIES[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise TaskError(f"task.name: cannot import task factory {name!r} ({exc})") from None
    raise TaskError(f"task.name: unknown task {name!r}{suggest(name, _FACTORIES)} "
                    f"(choose one of {task_names()})")


def build_inner_task(inner_config: Any, space: SearchSpace) -> Task:
    """The task a wrapper task (``faulty``, ``simulated``) wraps, from its ``inner`` mapping.

    Only a registered task: the wrapped task is checked like ``task`` itself, and a
    ``module:attr`` name here would be imported by anything that builds the task. Errors name
    ``task.inner.*``.
    """
    name = inner_config.get("name") if isinstance(inner_config, dict) else None
    if not (isinstance(name, str) and name in TASK_DEFAULTS):
        raise TaskError(f"task.inner.name: must name a registered task (one of "
                        f"{sorted(TASK_DEFAULTS)}), got {name!r}")
    try:
        return build_task(inner_config, space)
    except TaskError as exc:
        text = str(exc)
        raise TaskError(f"task.inner.{text[5:]}" if text.startswith("task.") else text) from None
