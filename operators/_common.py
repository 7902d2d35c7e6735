"""Helpers shared by the operators: space checks, random picks and child assembly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from genomes import DAGGenome, DAGSpace, Edge, NB201Space
from genomes.space import ZERO_OPS

if TYPE_CHECKING:
    from typing_extensions import TypeIs

T = TypeVar("T")

#: The JSON-safe record an operator returns next to its child.
Record = dict[str, Any]


def is_nb201(space: DAGSpace) -> TypeIs[NB201Space]:
    """Whether ``space`` has the NB201 cell's fixed topology (all edges present, ops vary, no
    widths), asked of the space (``space.fixed_topology``); False for a free DAG space.

    Raises:
        TypeError: for a space the DAG operators cannot work in (one without ``fixed_topology``).
    """
    fixed = getattr(space, "fixed_topology", None)
    if fixed is None:
        raise TypeError(f"space: expected NB201Space or FreeSpace, got {type(space).__name__}")
    return bool(fixed)


def check_parent(genome: DAGGenome, space: DAGSpace) -> None:
    """Raise :class:`genomes.GenomeError` unless ``genome`` is a valid member of ``space``."""
    is_nb201(space)
    space.validate(genome)


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    """One element of ``items``, uniformly."""
    return items[int(rng.integers(len(items)))]


def coin(rng: np.random.Generator) -> bool:
    """A fair coin flip."""
    return bool(rng.random() < 0.5)


def distinct(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))


def edge_json(e: Edge) -> list[Any]:
    """An edge as the JSON triple ``[src, dst, op]``."""
    return [int(e.src), int(e.dst), str(e.op)]


def assemble(space: DAGSpace, num_nodes: int, edges: Iterable[Edge],
             widths: Sequence[int] = ()) -> DAGGenome:
    """Build a child genome and check it against ``space``.

    Raises:
        GenomeError: when the child breaks a rule of the space (a bug in the calling operator).
    """
    child = DAGGenome(space.name, int(num_nodes), tuple(sorted(edges)),
                      tuple(int(w) for w in widths))
    space.validate(child)
    return child


def reachable(num_nodes: int, edges: Iterable[Edge], start: int, *, forward: bool) -> set[int]:
    """Nodes reachable from ``start`` along ``edges`` (against them when not ``forward``).

    Zero ops (``none``) count as absent, as in :meth:`DAGGenome.has_path`.
    """
    ordered = sorted((e for e in edges if e.op not in ZERO_OPS), reverse=not forward)
    seen = {start}
    for e in ordered:  # edges go low -> high, so one sorted sweep is a topological sweep
        a, b = (e.src, e.dst) if forward else (e.dst, e.src)
        if a in seen:
            seen.add(b)
    return seen
