"""``evonas options``: what a config may set, from the schemas the extensions declare.

::

    evonas options                       # the sections and the registered names
    evonas options strategy nsga2        # one strategy's options: default, range, doc
    evonas options space free
    evonas options evaluator             # also: budget, campaign
    evonas options task digits           # a task's documented defaults

Nothing is read from a run folder, so nothing it names is imported.
"""

from __future__ import annotations

import argparse
from typing import Any

from evonas.errors import UsageError
from evonas.options import OptionSchema, closest

SECTIONS = ("strategy", "space", "task", "evaluator", "budget", "campaign", "fidelity",
            "inherit_weights", "prescreen", "warm_start")


def add_options_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``options`` sub-command to ``evonas``'s sub-parsers; return its parser."""
    p = subparsers.add_parser("options", help="list what a config section may set")
    p.add_argument("section", nargs="?", choices=SECTIONS, help="the config section")
    p.add_argument("name", nargs="?", help="the strategy, space or task name")
    p.set_defaults(func=cmd_options)
    return p


def cmd_options(args: argparse.Namespace) -> int:
    for line in options_lines(args.section, args.name):
        print(line)
    return 0


def options_lines(section: str | None, name: str | None) -> list[str]:
    """The lines ``evonas options SECTION NAME`` prints.

    Raises:
        UsageError: for an unknown name, or a section that needs a name without one.
    """
    from evonas.config import SECTIONS as CORE
    from evonas.strategies import STRATEGIES, strategy_class
    from evonas.tasks import TASK_DEFAULTS
    from genomes import space_names, space_options

    names: dict[str, list[str]] = {"strategy": sorted(STRATEGIES), "space": list(space_names()),
                                   "task": sorted(TASK_DEFAULTS)}
    if section is None:
        lines = [f"{key}: {', '.join(values)}" for key, values in names.items()]
        return lines + [f"{key}: (evonas options {key})" for key in CORE]
    if section in CORE:
        return _describe(section, CORE[section])
    if name is None:
        raise UsageError(f"evonas options {section}: give a name, one of "
                         f"{', '.join(names[section])}")
    if name not in names[section]:
        raise UsageError(f"evonas options {section}: unknown name {name!r}"
                         f"{closest(name, names[section])}")
    if section == "strategy":
        return _describe(f"strategy: {name}", strategy_class(name).options)
    if section == "space":
        schema = space_options(name)
        if schema is None:
            return [f"space: {name}: declares no options"]
        return _describe(f"space: {name}", schema)
    defaults = {k: v for k, v in TASK_DEFAULTS[name].items() if k != "name"}
    return [f"task: {name}"] + [f"  {key}: {value!r}" for key, value in defaults.items()]


def _describe(title: str, schema: OptionSchema) -> list[str]:
    return [title] + [f"  {line}" for line in schema.describe()]
