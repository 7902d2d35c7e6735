"""Declared options: what an extension (a strategy, a space, an evaluator backend) accepts.

Each extension declares its options once, as an :class:`OptionSchema` of :class:`Option`\\ s, each
with a default, a type, a range or a set of choices, old names still accepted, and a one-line doc.
The config layer composes the schemas: it finds the extension's schema and asks it to check the
user's mapping (:meth:`OptionSchema.validate`); it holds no table of anyone's options::

    class MyStrategy(Strategy):
        options = OptionSchema(
            Option("population", 50, "members kept", low=2, high=MAX_POPULATION),
            Option("crossover_prob", 0.5, "chance that a child is bred by crossover",
                   low=0, high=1, aliases=("cxpb",)),
        )

A leaf module: it imports nothing of the engine but :mod:`evonas.errors`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evonas.errors import ConfigError

#: Largest integer an option may hold (what SQLite and numpy's seeds take).
MAX_INT = 2**63 - 1
#: Most members a population (and the like) may have.
MAX_POPULATION = 1_000_000

_TYPE_WORDS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number",
                                str: "a string", list: "a list", dict: "a mapping"}


def closest(word: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` hint for the choice closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Option:
    """One option an extension accepts.

    Attributes:
        name: the config key.
        default: its value when the user gives none (``None`` allowed).
        doc: one line saying what it does.
        kind: its type; by default the default's type (``int`` for a bool default is ``bool``).
            A float option takes an integer too. ``None`` with a ``None`` default: anything.
        low: the lowest value allowed (numbers), or None for no bound.
        high: the highest value allowed (numbers), or None; integers are always at most
            :data:`MAX_INT`.
        low_open: ``low`` itself is not allowed (the value must be more than it).
        high_open: ``high`` itself is not allowed.
        choices: the only values allowed (strings), or None.
        aliases: older names of this option, still accepted and read as ``name``.
        items: for a list option, the type every item must have (ranges then apply per item).
        nullable: ``None`` is allowed although the default is not None.
        validator: called as ``validator(value, where)`` after the other checks, for rules of
            one option that the fields above cannot say; raises :class:`ConfigError`.
    """

    name: str
    default: Any
    doc: str
    kind: type | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()
    items: type | None = None
    nullable: bool = False
    validator: Callable[[Any, str], None] | None = field(default=None, compare=False)

    @property
    def type(self) -> type | None:
        """The type a value must have (None: anything)."""
        if self.kind is not None:
            return self.kind
        return None if self.default is None else type(self.default)

    def check(self, value: Any, where: str) -> Any:
        """``value`` if it is allowed, else a :class:`ConfigError` ``"<where>: <problem>"``.

        Args:
            value: what the user gave.
            where: the file and field the message starts with (``c.yaml: strategy.population``).
        """
        if value is None:
            if self.default is None or self.nullable:
                return value
            raise ConfigError(f"{where}: must not be empty")
        kind = self.type
        if kind is not None:
            _check_type(value, kind, where)
        if self.items is not None and isinstance(value, list):
            for i, item in enumerate(value):
                _check_type(item, self.items, f"{where}[{i}]")
                self._check_range(item, f"{where}[{i}]")
        else:
            self._check_range(value, where)
        if self.choices is not None and value not in self.choices:
            listed = ", ".join(str(c) for c in self.choices)
            raise ConfigError(f"{where}: must be one of {listed}, got {value!r}"
                              f"{closest(str(value), [str(c) for c in self.choices])}")
        if self.validator is not None:
            self.validator(value, where)
        return value

    def _check_range(self, value: Any, where: str) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        low, high = self.low, self.high
        if high is None and isinstance(value, int):
            high = MAX_INT
        if low is not None and (value <= low if self.low_open else value < low):
            raise ConfigError(f"{where}: must be {'more than' if self.low_open else 'at least'} "
                              f"{low}, got {value!r}")
        if high is not None and (value >= high if self.high_open else value > high):
            raise ConfigError(f"{where}: must be {'less than' if self.high_open else 'at most'} "
                              f"{high}, got {value!r}")

    def describe(self) -> str:
        """One line: name, default, allowed values and the doc."""
        allowed = ""
        if self.choices is not None:
            allowed = " (" + " | ".join(str(c) for c in self.choices) + ")"
        elif self.low is not None or self.high is not None:
            lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low!r}"
            hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high!r}"
            allowed = " (" + ", ".join(p for p in (lo, hi) if p) + ")"
        return f"{self.name}: {self.default!r}{allowed}  {self.doc}"


def _check_type(value: Any, kind: type, where: str) -> None:
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        word = _TYPE_WORDS.get(kind, kind.__name__)
        raise ConfigError(f"{where}: must be {word}, got {value!r:.80}")


#: ``check(options, where)``: cross-field checks once every option is set; raises ConfigError.
CrossCheck = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class OptionSchema:
    """The options of one extension, and the checks between them.

    Args:
        *options: the options, in the order the docs list them.
        check: called as ``check(options, label)`` with every option set; raises
            :class:`ConfigError` for combinations no single option can refuse
            (``sample <= population``).
    """

    options: tuple[Option, ...] = ()
    check: CrossCheck | None = None
    _by_name: dict[str, Option] = field(default_factory=dict, init=False, repr=False,
                                        compare=False)

    def __init__(self, *options: Option, check: CrossCheck | None = None) -> None:
        object.__setattr__(self, "options", tuple(options))
        object.__setattr__(self, "check", check)
        by_name: dict[str, Option] = {}
        for option in options:
            for key in (option.name, *option.aliases):
                if key in by_name:
                    raise ValueError(f"option {key!r} is declared twice")
                by_name[key] = option
        object.__setattr__(self, "_by_name", by_name)

    def names(self) -> list[str]:
        """The options' names (not their aliases), in declaration order."""
        return [o.name for o in self.options]

    def defaults(self) -> dict[str, Any]:
        """Every option's default."""
        return {o.name: o.default for o in self.options}

    def validate(self, given: Mapping[str, Any], section: str, label: str) -> dict[str, Any]:
        """Check ``given`` and return every option set (defaults filled in, aliases renamed).

        Args:
            given: the user's mapping (without the extension's ``name``).
            section: the dotted field the options sit under (``strategy``), for messages.
            label: the file the config came from, for messages.

        Raises:
            ConfigError: one line naming the file and the field at fault.
        """
        out = self.defaults()
        seen: dict[str, str] = {}
        for key, value in given.items():
            option = self._by_name.get(key)
            where = f"{label}: {section}.{key}"
            if option is None:
                hint = (closest(str(key), self._by_name)
                        or f"; allowed: {', '.join(sorted(self.names())) or 'none'}")
                raise ConfigError(f"{where}: unknown key{hint}")
            if option.name in seen:
                raise ConfigError(f"{where}: given twice, also as {seen[option.name]!r} "
                                  f"(an older name of {option.name!r})")
            seen[option.name] = key
            out[option.name] = option.check(value, where)
        if self.check is not None:
            self.check(out, label)
        return out

    def describe(self) -> list[str]:
        """One line per option (:meth:`Option.describe`)."""
        return [o.describe() for o in self.options]

    def __add__(self, other: OptionSchema) -> OptionSchema:
        """The options of both (``other``'s cross-check runs after this one's)."""
        checks = [c for c in (self.check, other.check) if c is not None]

        def both(options: dict[str, Any], label: str) -> None:
            for check in checks:
                check(options, label)

        return OptionSchema(*self.options, *other.options, check=both if checks else None)
