"""The user errors of evonas: one root, :class:`EvonasError`, and a kind per part at fault.

A user error is bad input (a config, a genome file, a task option, a run folder, an output path, a
command-line flag): its message is one line naming the file and the field, and ``evonas`` prints
it and exits 2. Anything else that escapes is a bug and gets a traceback. Catch
:class:`EvonasError` to handle them all::

    EvonasError
    ├── ConfigError       a campaign config (file or field) is invalid
    │   ├── OutputError   an output path cannot be written (report, plot, export)
    │   └── UsageError    command-line arguments that do not fit together
    ├── GenomeError       a genome or its JSON form breaks an invariant (also a ValueError)
    ├── TaskError         a task's options or data are wrong (also a ValueError)
    └── JournalError      a run folder's journal cannot be opened or is inconsistent
        └── RunInUseError (evonas.storage.lock) another campaign holds the run folder

The older homes still export them (``evonas.config.ConfigError``, ``genomes.GenomeError``,
``evonas.tasks.TaskError``, ``evonas.storage.JournalError``). This module is a leaf: it imports
nothing, so the torch-free ``genomes`` package can use it too (``evonas/__init__.py`` is lazy, so
importing ``evonas.errors`` loads nothing else of the engine).
"""

from __future__ import annotations


class EvonasError(Exception):
    """Bad input to evonas. The message is one line naming the file and the field at fault."""


class ConfigError(EvonasError):
    """An invalid configuration; the message names the file and the field."""


class OutputError(ConfigError):
    """An output path cannot be used: its folder is missing, its format is unknown, or writing
    fails. A :class:`ConfigError` because it was raised as one before (callers catching that still
    see it)."""


class UsageError(ConfigError):
    """Command-line arguments that do not fit together (``--depth`` without ``--id``). A
    :class:`ConfigError` because it was raised as one before."""


class GenomeError(EvonasError, ValueError):
    """A genome (or its JSON form) breaks an invariant. The message names the field at fault."""


class TaskError(EvonasError, ValueError):
    """A task configuration is invalid. The message names the field (``task.lr``) or the file."""


class JournalError(EvonasError):
    """The journal cannot be opened or is inconsistent. The message names the file."""


__all__ = [
    "ConfigError",
    "EvonasError",
    "GenomeError",
    "JournalError",
    "OutputError",
    "TaskError",
    "UsageError",
]
