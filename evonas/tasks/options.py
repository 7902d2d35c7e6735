"""Reading a ``task:`` config mapping against a task's documented defaults.

Every task declares its options as a dict of defaults; :func:`read_options` merges the user's
mapping over them, rejects unknown keys (suggesting the closest known one) and checks each value
against the type of its default, so a typo fails before any evaluation with a message that names
the field.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from evonas.tasks.errors import TaskError


def suggest(word: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` hint for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_options(task_name: str, config: Mapping[str, Any],
                 defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``config`` over ``defaults`` and check every key and value type.

    The ``name`` key is ignored. A default of ``None`` accepts any value; a float default accepts
    an int (converted to float); other defaults want a value of their own type.

    Args:
        task_name: the task's name, for messages.
        config: the user's ``task:`` mapping.
        defaults: the task's documented options and their default values.

    Returns:
        A new dict with every option set.

    Raises:
        TaskError: naming ``task.<key>`` for an unknown key or a value of the wrong type.
    """
    if not isinstance(config, Mapping):
        raise TaskError(f"task: must be a mapping, got {type(config).__name__}")
    options = dict(defaults)
    for key, value in config.items():
        if key == "name":
            continue
        if key not in defaults:
            raise TaskError(f"task.{key}: unknown key for the {task_name} task"
                            f"{suggest(str(key), defaults)} (allowed: {sorted(defaults)})")
        options[key] = _check_type(key, value, defaults[key])
    return options


def _check_type(key: str, value: Any, default: Any) -> Any:
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TaskError(f"task.{key}: expected {type(default).__name__}, "
                        f"got {value!r} ({type(value).__name__})")
    return value


def require(condition: bool, field: str, message: str) -> None:
    """Raise ``TaskError("task.<field>: <message>")`` unless ``condition`` holds."""
    if not condition:
        raise TaskError(f"task.{field}: {message}")
