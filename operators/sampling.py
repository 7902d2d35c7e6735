"""Random genomes: the initial population and the random-search baseline."""

from __future__ import annotations

import functools

import numpy as np

from genomes import DAGGenome, DAGSpace, Edge, FreeSpace, NB201Space
from genomes.dag import remember_member
from operators._common import assemble, distinct, is_nb201, pick


def random_genome(space: DAGSpace, rng: np.random.Generator) -> DAGGenome:
    """Draw a random genome that belongs to ``space``.

    * ``nb201``: each of the six cell edges gets an op drawn uniformly from ``space.ops``, so every
      one of the 15,625 cells is equally likely.
    * ``free``: a node count uniform in ``[2, max_nodes]``; a chain ``0 -> ... -> output`` through a
      random subset of the inner nodes (so an input-to-output path exists); then a uniform number
      of extra edges, up to ``max_edges``, drawn among the remaining node pairs. Every edge op is
      drawn from ``space.ops``, every width the space leaves free from ``space.widths``.

    Args:
        space: the search space.
        rng: the only source of randomness.

    Returns:
        A genome that passes ``space.validate``.
    """
    if is_nb201(space):
        return _random_nb201(space, rng)
    return _random_free(space, rng)


def _random_nb201(space: NB201Space, rng: np.random.Generator) -> DAGGenome:
    # One op per edge, drawn in NAS-Bench-201's edge order (1<-0, 2<-0, 2<-1, ...): a single
    # ``integers(k, size=6)`` is the same stream as six ``integers(k)`` (32-bit draws, unbuffered).
    table, order = _cell_edges(space.num_nodes, tuple(space.ops))
    drawn = rng.integers(len(table[0]), size=len(table)).tolist()
    # every edge of the cell, each with an op of the space: a member by construction
    child = DAGGenome.checked(space.name, space.num_nodes,
                              tuple(table[j][drawn[j]] for j in order))
    remember_member(child, space)
    return child


@functools.cache
def _cell_edges(num_nodes: int, ops: tuple[str, ...]
                ) -> tuple[tuple[tuple[Edge, ...], ...], tuple[int, ...]]:
    """A complete cell's edges, destination-major, each as an :class:`Edge` with every distinct
    op; and the order of those rows that sorts the edges (as a genome holds them)."""
    pairs = [(src, dst) for dst in range(1, num_nodes) for src in range(dst)]
    table = tuple(tuple(Edge(src, dst, op) for op in distinct(ops)) for src, dst in pairs)
    return table, tuple(sorted(range(len(pairs)), key=pairs.__getitem__))


def _random_free(space: FreeSpace, rng: np.random.Generator) -> DAGGenome:
    ops = distinct(space.ops)
    n = int(rng.integers(2, space.max_nodes + 1))
    inner = n - 2
    # A chain through m inner nodes needs m + 1 edges.
    m = int(rng.integers(0, min(inner, space.max_edges - 1) + 1))
    via = sorted(int(x) + 1 for x in rng.choice(inner, size=m, replace=False)) if m else []
    chain = [0, *via, n - 1]
    pairs = set(zip(chain[:-1], chain[1:], strict=True))
    others = [(s, d) for d in range(1, n) for s in range(d) if (s, d) not in pairs]
    room = min(space.max_edges, len(pairs) + len(others)) - len(pairs)
    extra = int(rng.integers(0, room + 1))
    if extra:
        chosen = rng.choice(len(others), size=extra, replace=False)
        pairs.update(others[int(i)] for i in chosen)
    edges = [Edge(s, d, pick(rng, ops)) for s, d in sorted(pairs)]
    widths = []
    for node in range(n):
        fixed = space.fixed_width(node, n)
        widths.append(fixed if fixed is not None else pick(rng, distinct(space.widths)))
    return assemble(space, n, edges, widths)
