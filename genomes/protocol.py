"""The genome and search-space protocols, and the registries that resolve names to them.

Every search space the engine knows satisfies :class:`SearchSpace`, and every genome satisfies
:class:`Genome`. The compiler, the operators, evaluation dispatch and the strategies ask the space
(``space.sample(rng)``, ``space.compile_hook``, ``space.encoding()``...) instead of testing which
class it is, so a new space is **one module and one registration**::

    @dataclass(frozen=True)
    class ChainSpace:                     # implements every SearchSpace member
        ...

    register_space("chain", ChainSpace)   # now space_from_dict({"name": "chain"}) builds it

Why :class:`typing.Protocol` and not an abstract base class: the spaces are frozen dataclasses of
plain data, and some live in modules that must not depend on this one (or on each other), so
structural typing lets them satisfy the contract without inheriting from it; mypy checks the
contract where a space is registered (:func:`register_space` takes a ``SearchSpace`` factory) and
wherever a concrete space is used as a ``SearchSpace``. The protocols are ``runtime_checkable`` so
that :func:`as_search_space` and the tests can ask whether an object has every member
(``isinstance`` checks presence, not signatures; mypy checks signatures). Nothing dispatches on
``isinstance(space, SomeSpace)``.

Hooks that need torch (building a network, estimating its memory) are *lazy import paths*,
``"package.module:function"`` strings resolved by :func:`load_hook` only when used: this package
never imports torch, the operators or the engine at import time.

The hook contracts:

* ``compile_hook``: ``emit(builder, x, genome, space, in_channels, num_classes)
  -> (output_node, class_name)`` writes the network into an
  :class:`evonas.compiler.graph.GraphBuilder`; :func:`evonas.compiler.compile_genome` calls it.
* ``memory_hook``: ``estimate(genome, space, input_shape, num_classes, batch_size, optimizer, *,
  eval_batch_size, safety_factor) -> estimate`` with a ``total`` in bytes, like
  :func:`evonas.evaluation.memory.estimate_peak_memory` (which works for any space with a compile
  hook).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from evonas.options import OptionSchema
from genomes.errors import GenomeError

if TYPE_CHECKING:
    import numpy as np

#: The JSON-safe record an operator returns next to its child (``{"op": name, ...}``).
Record = dict[str, Any]


# --------------------------------------------------------------------------- genomes
@runtime_checkable
class Genome(Protocol):
    """What every genome type offers (:class:`~genomes.DAGGenome` and
    :class:`~genomes.CPPNGenome` both do).

    Genomes are frozen, hashable values; their JSON form carries ``kind`` and ``version`` keys and
    is read back by :func:`genome_from_dict`.
    """

    def validate(self) -> None:
        """Check the structural invariants (a space checks its own rules); raise
        :class:`GenomeError` naming the field at fault."""
        ...

    def canonical_form(self) -> str:
        """A string equal for genomes that compute the same function."""
        ...

    def canonical_hash(self) -> str:
        """A hex digest of :meth:`canonical_form` (how the engine spots a repeated genome)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON-safe form (``{"kind": ..., "version": ..., ...}``)."""
        ...

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text."""
        ...

    def describe(self) -> str:
        """A short human-readable form."""
        ...


@dataclass(frozen=True)
class GenomeKind:
    """A registered genome type.

    Attributes:
        kind: the ``kind`` of its JSON form (``"dag"``, ``"cppn"``).
        genome_type: the class.
        label: how messages name it (``"DAG"``).
        from_dict: parses and validates the JSON form.
    """

    kind: str
    genome_type: type[Genome]
    label: str
    from_dict: Callable[[Any], Genome]


_GENOME_KINDS: dict[str, GenomeKind] = {}


def register_genome_kind(kind: str, genome_type: type[Genome], *, label: str | None = None,
                         from_dict: Callable[[Any], Genome] | None = None) -> None:
    """Make :func:`genome_from_dict` read JSON forms of ``kind`` with ``genome_type``.

    Args:
        kind: the ``kind`` value of the JSON form.
        genome_type: the genome class; it must satisfy :class:`Genome` (mypy checks it).
        label: how messages name the kind (default: ``kind`` in capitals).
        from_dict: the parser (default: ``genome_type.from_dict``).

    Raises:
        ValueError: when ``kind`` is registered already with another type.
    """
    known = _GENOME_KINDS.get(kind)
    if known is not None and known.genome_type is not genome_type:
        raise ValueError(f"genome kind {kind!r} is registered already "
                         f"({known.genome_type.__name__})")
    parse = from_dict if from_dict is not None else getattr(genome_type, "from_dict", None)
    if not callable(parse):
        raise TypeError(f"register_genome_kind: {genome_type.__name__} has no from_dict; pass one")
    _GENOME_KINDS[kind] = GenomeKind(kind, genome_type, label or kind.upper(), parse)


def genome_kinds() -> tuple[str, ...]:
    """The registered genome kinds, in registration order."""
    return tuple(_GENOME_KINDS)


def genome_kind_of(genome_type: type) -> GenomeKind:
    """The registration of ``genome_type`` (or of its nearest registered base class).

    Raises:
        KeyError: for a type that is not a registered genome type.
    """
    for cls in genome_type.__mro__:
        for entry in _GENOME_KINDS.values():
            if entry.genome_type is cls:
                return entry
    raise KeyError(f"{genome_type.__name__} is not a registered genome type")


def genome_from_dict(data: Any) -> Genome:
    """Parse any genome JSON form by its ``kind`` (``dag``, ``cppn`` or another registered one).

    Raises:
        GenomeError: on an unknown kind or an invalid genome, naming the field.
    """
    kind = data.get("kind") if isinstance(data, dict) else None
    entry = _GENOME_KINDS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        raise GenomeError(f"kind: unknown genome kind {kind!r}")
    return entry.from_dict(data)


# --------------------------------------------------------------------------- encodings
@dataclass(frozen=True)
class Decision:
    """One categorical choice of a space's decision encoding (one step of REINFORCE's controller,
    one feature of a predictor).

    Attributes:
        kind: what is decided; the DAG spaces use ``op`` (an NB201 edge), ``exists`` (a free inner
            node), ``width`` or ``edge``.
        node: the node the decision is about (the destination for ``op`` and ``edge``).
        src: the source node of an ``op`` or ``edge`` decision, else None.
        options: what the decision chooses among.
    """

    kind: str
    node: int
    src: int | None
    options: tuple[Any, ...]

    @property
    def source(self) -> int:
        """``src`` of an ``op`` or ``edge`` decision (the decisions that have one)."""
        assert self.src is not None, f"a {self.kind} decision has no source node"
        return self.src


class Decoded(NamedTuple):
    """What :meth:`Encoding.decode` returns.

    Attributes:
        genome: the genome, valid in the space.
        used: per decision, whether it shaped the genome (decisions about absent parts do not;
            REINFORCE leaves them out of its update).
        repairs: what was changed to make the genome valid (``["dropped 3->7"]``, usually empty).
    """

    genome: Any
    used: list[bool]
    repairs: list[str]


@runtime_checkable
class Encoding(Protocol):
    """A space's genomes as a fixed sequence of categorical decisions.

    ``decode`` turns any choice sequence into a valid genome; ``encode`` is its inverse on the
    space's genomes (``decode(encode(g)).genome == g``), the fixed-length vector a predictor reads.
    """

    @property
    def decisions(self) -> Sequence[Decision]:
        """The decisions, in order."""
        ...

    def decode(self, choices: Sequence[int]) -> Decoded:
        """The genome that the option indices ``choices`` (one per decision) describe."""
        ...

    def encode(self, genome: Any) -> list[int]:
        """The option index of each decision that writes ``genome``.

        Raises:
            GenomeError: when ``genome`` does not belong to the space.
        """
        ...


# --------------------------------------------------------------------------- spaces
@runtime_checkable
class SearchSpace(Protocol):
    """What every search space offers (see the module docstring).

    Genome arguments are typed ``Any`` here: each space takes its own genome type (a DAG space's
    ``validate`` takes a :class:`~genomes.DAGGenome`), which a protocol parameter typed
    :class:`Genome` would forbid.
    """

    @property
    def name(self) -> str:
        """The registered name (``space.name`` in configs)."""
        ...

    @property
    def genome_kind(self) -> str:
        """The ``kind`` of the genomes it holds (``"dag"``, ``"cppn"``)."""
        ...

    @property
    def genome_type(self) -> type[Genome]:
        """The class of the genomes it holds."""
        ...

    @property
    def compile_hook(self) -> str | None:
        """``"module:function"`` of the network emitter (module docstring), or None when its
        genomes are not compiled into image classifiers."""
        ...

    @property
    def memory_hook(self) -> str | None:
        """``"module:function"`` of the peak-memory estimator, or None (nothing to estimate)."""
        ...

    def validate(self, genome: Any) -> None:
        """Raise :class:`GenomeError` unless ``genome`` belongs to this space."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The config mapping, ``name`` included (:func:`space_from_dict` reads it back)."""
        ...

    def sample(self, rng: np.random.Generator) -> Genome:
        """A random genome of the space, every random number drawn from ``rng``."""
        ...

    def mutation_names(self) -> tuple[str, ...]:
        """The mutations (or, for NEAT, mutation rates) that :meth:`mutate`'s ``weights`` can
        set and that can change a genome of this space."""
        ...

    def mutate(self, genome: Any, rng: np.random.Generator,
               weights: Mapping[str, float] | None = None) -> tuple[Genome, Record]:
        """A mutated child of ``genome`` (valid in the space) and the JSON record of the change.

        Raises:
            OperatorNotApplicable: when no enabled mutation applies.
            GenomeError: when ``genome`` does not belong to the space.
        """
        ...

    def encoding(self) -> Encoding | None:
        """The space as a sequence of decisions (REINFORCE, predictors), or None when it has
        none."""
        ...


#: Builds a space from its config mapping (``name`` left out).
SpaceFactory = Callable[[dict[str, Any]], SearchSpace]

_SPACES: dict[str, SpaceFactory] = {}
_SPACE_OPTIONS: dict[str, OptionSchema] = {}


def space_options(name: str) -> OptionSchema | None:
    """The options the space registered as ``name`` declared, or None."""
    return _SPACE_OPTIONS.get(name)


def register_space(name: str, factory: type[SearchSpace] | SpaceFactory, *,
                   replace: bool = False, options: OptionSchema | None = None) -> None:
    """Make ``space_from_dict({"name": name, ...})`` build a space.

    Args:
        name: the config name (``space.name``).
        factory: a space class with a ``from_dict(mapping)`` classmethod, a dataclass space class
            (its init fields become the config keys, see :func:`dataclass_factory`), or any
            callable ``(mapping) -> SearchSpace``. The mapping never holds ``name``. The type
            says a class must satisfy :class:`SearchSpace`, so mypy checks each registration.
        replace: allow replacing an earlier registration of ``name``.
        options: the space's options (defaults, ranges, docs); the config layer validates a
            ``space:`` mapping with it. None: the factory's own checks only.

    Raises:
        ValueError: when ``name`` is registered already and ``replace`` is False.
    """
    if name in _SPACES and not replace:
        raise ValueError(f"search space {name!r} is registered already")
    if options is not None:
        _SPACE_OPTIONS[name] = options
    if isinstance(factory, type):
        from_dict = getattr(factory, "from_dict", None)
        if callable(from_dict):
            _SPACES[name] = from_dict
            return
        if is_dataclass(factory):
            _SPACES[name] = dataclass_factory(factory, name)
            return
    if not callable(factory):
        raise TypeError(f"register_space: {factory!r} builds no space")
    _SPACES[name] = factory


def unregister_space(name: str) -> None:
    """Forget the space registered as ``name`` (tests that register a toy space)."""
    _SPACES.pop(name, None)
    _SPACE_OPTIONS.pop(name, None)


def space_names() -> tuple[str, ...]:
    """The registered space names, in registration order."""
    return tuple(_SPACES)


def space_from_dict(data: dict[str, Any]) -> SearchSpace:
    """Build a search space from its config mapping (``{"name": "nb201" | "free" | "neat" | ...}``).

    Raises:
        GenomeError: on an unknown space name or key, naming it.
    """
    data = dict(data)
    name = data.pop("name", None)
    factory = _SPACES.get(name) if isinstance(name, str) else None
    if factory is None:
        raise GenomeError(f"space.name: unknown search space {name!r}; choose {_choices()}")
    return factory(data)


def _choices() -> str:
    names = [repr(n) for n in _SPACES]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def dataclass_factory(cls: type, name: str) -> SpaceFactory:
    """A factory for a dataclass space: the init fields are the config keys.

    An unknown key raises ``GenomeError("space.<key>: unknown key for the <name> space;
    allowed: [...]")``; a list given for a field whose default is a tuple becomes a tuple (JSON and
    YAML have no tuples).
    """
    init_fields = [f for f in fields(cls) if f.init]
    allowed = {f.name for f in init_fields}
    tuple_fields = {f.name for f in init_fields
                    if f.default is not MISSING and isinstance(f.default, tuple)}

    def build(data: dict[str, Any]) -> SearchSpace:
        for key in data:
            if key not in allowed:
                raise GenomeError(f"space.{key}: unknown key for the {name} space; "
                                  f"allowed: {sorted(allowed)}")
        args = {k: tuple(v) if k in tuple_fields and isinstance(v, list) else v
                for k, v in data.items()}
        space: SearchSpace = cls(**args)
        return space

    return build


def as_search_space(space: Any) -> SearchSpace:
    """``space`` as a :class:`SearchSpace`: itself when it has every member, else the registered
    space of the same name rebuilt from its ``to_dict()``.

    The second case covers a space object made directly from a class that carries only the data
    (a plain :class:`genomes.cppn.NEATSpace`, whose protocol members live in
    :class:`genomes.neat_space.NEATSpace`, the class ``genomes.NEATSpace`` exports).

    Raises:
        TypeError: when ``space`` is neither.
    """
    if isinstance(space, SearchSpace):
        return space
    to_dict = getattr(space, "to_dict", None)
    if callable(to_dict) and getattr(space, "name", None) in _SPACES:
        return space_from_dict(to_dict())
    raise TypeError(f"space: expected a search space, got {type(space).__name__}")


def load_hook(path: str) -> Any:
    """Import the object a ``"package.module:attribute"`` hook path names.

    Raises:
        ImportError: when the module cannot be imported.
        AttributeError: when it has no such attribute.
    """
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"hook: expected 'package.module:attribute', got {path!r}")
    return getattr(importlib.import_module(module), attr)
