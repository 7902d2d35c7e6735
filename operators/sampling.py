"""Random genomes: the initial population and the random-search baseline."""

from __future__ import annotations

import numpy as np

from genomes import DAGGenome, DAGSpace, Edge, FreeSpace, NB201Space
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
    ops = distinct(space.ops)
    edges = [Edge(src, dst, pick(rng, ops))
             for dst in range(1, space.num_nodes) for src in range(dst)]
    return assemble(space, space.num_nodes, edges)


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
