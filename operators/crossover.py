"""Crossover: ``(a, b, rng, space) -> (child, record)``, aligning genes by edge position."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genomes import DAGGenome, DAGSpace, Edge, FreeSpace, GenomeError
from operators._common import Record, assemble, check_parent, coin, is_nb201

#: The signature every crossover operator shares.
Crossover = Callable[[DAGGenome, DAGGenome, np.random.Generator, DAGSpace],
                     tuple[DAGGenome, Record]]


def crossover_dag(a: DAGGenome, b: DAGGenome, rng: np.random.Generator,
                  space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Cross two DAG genomes of one space, genes aligned by edge ``(src, dst)`` and node index.

    * ``nb201``: uniform crossover; each of the six edges takes its op from ``a`` or ``b`` by a
      fair coin.
    * ``free``: a coin picks the *primary* parent, whose node count the child takes. Nodes align
      by index (input with input, output with output, inner node ``i`` with inner node ``i``;
      the other parent's inner nodes past the child's last inner node are dropped). Then:

      1. every edge of the primary is kept; where the other parent has the same edge, a coin
         picks whose op the child gets;
      2. each edge only the other parent has (endpoints aligned into the child) joins with
         probability 1/2, while the child stays within ``max_edges``;
      3. each width the space leaves free comes from either parent by a coin where both have the
         node, else from the primary; fixed widths stay fixed.

      The primary's edges carry its input-output path, so the child always validates.

    Crossing a genome with itself gives that genome back.

    Args:
        a: first parent.
        b: second parent.
        rng: the only source of randomness.
        space: the search space both parents belong to.

    Returns:
        The child and a record ``{"op": "crossover_dag", "from_a": n, "from_b": m,
        "edges_from_b": [[src, dst], ...]}`` counting the genes (edge ops, free widths) each
        parent gave; free-space records add ``"primary"`` (``"a"`` or ``"b"``) and
        ``"widths_from_b"`` (child node indices). Edges are in child numbering.

    Raises:
        GenomeError: when a parent is not a valid member of ``space``.
    """
    for name, parent in (("a", a), ("b", b)):
        try:
            check_parent(parent, space)
        except GenomeError as exc:
            raise GenomeError(f"parent {name}: {exc}") from None
    if is_nb201(space):
        return _crossover_nb201(a, b, rng, space)
    assert isinstance(space, FreeSpace)
    return _crossover_free(a, b, rng, space)


def _crossover_nb201(a: DAGGenome, b: DAGGenome, rng: np.random.Generator,
                     space: DAGSpace) -> tuple[DAGGenome, Record]:
    ops_b = {(e.src, e.dst): e.op for e in b.edges}
    edges, from_b = [], []
    for e in a.edges:  # the same six (src, dst) pairs in both, sorted
        if coin(rng):
            edges.append(Edge(e.src, e.dst, ops_b[(e.src, e.dst)]))
            from_b.append([int(e.src), int(e.dst)])
        else:
            edges.append(e)
    child = assemble(space, a.num_nodes, edges)
    return child, {"op": "crossover_dag", "from_a": len(edges) - len(from_b),
                   "from_b": len(from_b), "edges_from_b": from_b}


def _crossover_free(a: DAGGenome, b: DAGGenome, rng: np.random.Generator,
                    space: FreeSpace) -> tuple[DAGGenome, Record]:
    primary_is_a = coin(rng)
    main, other = (a, b) if primary_is_a else (b, a)
    n = main.num_nodes

    def align(node: int) -> int | None:
        """``other``'s node in child numbering, or None when the child has no such node."""
        if node == other.output_node:
            return n - 1
        return node if node < n - 1 else None

    other_ops: dict[tuple[int, int], str] = {}
    for e in other.edges:
        src, dst = align(e.src), align(e.dst)
        if src is not None and dst is not None:
            other_ops[(src, dst)] = e.op
    edges: list[Edge] = []
    from_other_edges: list[list[int]] = []
    for e in main.edges:
        pair = (e.src, e.dst)
        if pair in other_ops and coin(rng):
            edges.append(Edge(e.src, e.dst, other_ops[pair]))
            from_other_edges.append([int(e.src), int(e.dst)])
        else:
            edges.append(e)
    present = {(e.src, e.dst) for e in main.edges}
    for pair in sorted(other_ops):
        if pair in present:
            continue
        if coin(rng) and len(edges) < space.max_edges:
            edges.append(Edge(pair[0], pair[1], other_ops[pair]))
            from_other_edges.append([int(pair[0]), int(pair[1])])

    inverse = {n - 1: other.output_node}
    inverse.update({i: i for i in range(1, min(n - 1, other.output_node))})
    widths: list[int] = []
    from_other_widths: list[int] = []
    free_widths = 0
    for node in range(n):
        fixed = space.fixed_width(node, n)
        if fixed is not None:
            widths.append(fixed)
            continue
        free_widths += 1
        if node in inverse and coin(rng):
            widths.append(other.widths[inverse[node]])
            from_other_widths.append(node)
        else:
            widths.append(main.widths[node])
    child = assemble(space, n, edges, widths)

    genes = len(main.edges) + free_widths
    from_main = genes - sum(1 for e in from_other_edges if tuple(e) in present) \
        - len(from_other_widths)
    from_other = len(from_other_edges) + len(from_other_widths)
    record: Record = {"op": "crossover_dag", "primary": "a" if primary_is_a else "b"}
    if primary_is_a:
        record.update({"from_a": from_main, "from_b": from_other,
                       "edges_from_b": from_other_edges, "widths_from_b": from_other_widths})
    else:
        record.update({"from_a": from_other, "from_b": from_main,
                       "edges_from_b": [[int(e.src), int(e.dst)] for e in edges
                                        if [int(e.src), int(e.dst)] not in from_other_edges],
                       "widths_from_b": [k for k in range(n)
                                         if space.fixed_width(k, n) is None
                                         and k not in from_other_widths]})
    return child, record


#: Every crossover operator by name.
CROSSOVERS: dict[str, Crossover] = {"crossover_dag": crossover_dag}
