"""Mutation operators: ``(genome, rng, space) -> (child, record)``.

Every operator returns a child that passes ``space.validate`` and differs from its parent, together
with a small JSON-safe record of what changed (key ``"op"`` names the operator), or raises
:class:`OperatorNotApplicable` before drawing any random number when it cannot apply. Parents are
never modified (genomes are frozen). All randomness comes from the ``rng`` argument.

In the ``nb201`` space the six cell edges are fixed, so :func:`mutate_op` is the only operator that
applies (an edge set to ``none`` is how an NB201 cell drops an edge). In the ``free`` space all six
apply, within the space's ``max_nodes``, ``max_edges``, ops and widths.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real

import numpy as np

from genomes import DAGGenome, DAGSpace, Edge, FreeSpace
from genomes.dag import remember_member
from operators import _common
from operators._common import Record, coin, distinct, edge_json, is_nb201, pick, reachable
from operators.errors import OperatorNotApplicable

#: The signature every mutation operator shares.
Mutation = Callable[[DAGGenome, np.random.Generator, DAGSpace], tuple[DAGGenome, Record]]


def check_parent(genome: DAGGenome, space: DAGSpace) -> None:
    """:func:`operators._common.check_parent`, remembered on the genome: a parent that passed
    for this space object (a child of these operators, or a parent checked before) is not
    checked again."""
    cache = getattr(genome, "__dict__", None)
    if cache is not None and cache.get("_member_of") is space:
        return
    _common.check_parent(genome, space)
    remember_member(genome, space)


def assemble(space: DAGSpace, num_nodes: int, edges: Iterable[Edge],
             widths: Sequence[int] = ()) -> DAGGenome:
    """:func:`operators._common.assemble` (which checks the child against ``space``); the check
    is remembered on the child (see :func:`check_parent`)."""
    child = _common.assemble(space, num_nodes, edges, widths)
    remember_member(child, space)
    return child


def _free_only(name: str, space: DAGSpace) -> FreeSpace:
    if is_nb201(space):
        raise OperatorNotApplicable(
            f"{name}: nb201 cells have all 6 edges fixed; only mutate_op applies")
    assert isinstance(space, FreeSpace)
    return space


def _widths(genome: DAGGenome) -> list[int]:
    return list(genome.widths)


def mutate_op(genome: DAGGenome, rng: np.random.Generator,
              space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Change the op of one edge to a different op of the space.

    Args:
        genome: the parent (a valid member of ``space``).
        rng: the only source of randomness.
        space: the search space.

    Returns:
        The child and ``{"op": "mutate_op", "edge": [src, dst], "from": old, "to": new}``.

    Raises:
        OperatorNotApplicable: when the space offers fewer than two ops.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    check_parent(genome, space)
    ops = distinct(space.ops)
    if len(ops) < 2 or not genome.edges:
        raise OperatorNotApplicable("mutate_op: the space has a single op, nothing to change to")
    target = pick(rng, genome.edges)
    new_op = pick(rng, [op for op in ops if op != target.op])
    edges = tuple(Edge(e.src, e.dst, new_op) if e == target else e for e in genome.edges)
    if is_nb201(space):  # a member's cell with one op swapped for another of the space's
        child = DAGGenome.checked(genome.space, genome.num_nodes, edges, genome.widths)
        remember_member(child, space)
    else:  # a free space's rules may depend on the op (checked)
        child = assemble(space, genome.num_nodes, edges, genome.widths)
    return child, {"op": "mutate_op", "edge": [int(target.src), int(target.dst)],
                   "from": target.op, "to": new_op}


def add_edge(genome: DAGGenome, rng: np.random.Generator,
             space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Add an edge between two unconnected nodes (low to high index) with a random op.

    Returns:
        The child and ``{"op": "add_edge", "edge": [src, dst], "to": op}``.

    Raises:
        OperatorNotApplicable: in nb201, at ``max_edges``, or when every node pair is connected.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    free = _free_only("add_edge", space)
    check_parent(genome, space)
    if len(genome.edges) >= free.max_edges:
        raise OperatorNotApplicable(f"add_edge: already at max_edges={free.max_edges}")
    present = {(e.src, e.dst) for e in genome.edges}
    missing = [(s, d) for d in range(1, genome.num_nodes) for s in range(d)
               if (s, d) not in present]
    if not missing:
        raise OperatorNotApplicable("add_edge: every node pair is already connected")
    src, dst = pick(rng, missing)
    op = pick(rng, distinct(free.ops))
    child = assemble(space, genome.num_nodes, [*genome.edges, Edge(src, dst, op)], genome.widths)
    return child, {"op": "add_edge", "edge": [src, dst], "to": op}


def remove_edge(genome: DAGGenome, rng: np.random.Generator,
                space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Remove one edge whose removal keeps an input-to-output path.

    Returns:
        The child and ``{"op": "remove_edge", "edge": [src, dst], "from": op}``.

    Raises:
        OperatorNotApplicable: in nb201, or when every edge is needed for the path.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    _free_only("remove_edge", space)
    check_parent(genome, space)
    out = genome.output_node
    removable = [e for e in genome.edges
                 if out in reachable(genome.num_nodes, [f for f in genome.edges if f != e], 0,
                                     forward=True)]
    if not removable:
        raise OperatorNotApplicable("remove_edge: every edge lies on the only input-output path")
    target = pick(rng, removable)
    edges = [e for e in genome.edges if e != target]
    child = assemble(space, genome.num_nodes, edges, genome.widths)
    return child, {"op": "remove_edge", "edge": [int(target.src), int(target.dst)],
                   "from": target.op}


def add_node(genome: DAGGenome, rng: np.random.Generator,
             space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Add an inner node, renumbering the nodes after it so edges still go low to high.

    Two ways, chosen uniformly among those that fit in ``max_edges``:

    * ``split``: an edge ``s -> d`` becomes ``s -> new -> d``; the first half keeps the old op,
      the second gets a random one (one edge more);
    * ``insert``: a new node at a random position, with a random in-edge from an earlier node and
      a random out-edge to a later one (two edges more).

    The new node's width is drawn from ``space.widths``. Indices in the record are the child's.

    Returns:
        The child and ``{"op": "add_node", "how": "split" | "insert", "node": new, "width": w,
        "split": [s, d] (split only, parent numbering), "in_edge": [s, new, op],
        "out_edge": [new, d, op]}``.

    Raises:
        OperatorNotApplicable: in nb201, at ``max_nodes``, or without room for one more edge.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    free = _free_only("add_node", space)
    check_parent(genome, space)
    n = genome.num_nodes
    if n >= free.max_nodes:
        raise OperatorNotApplicable(f"add_node: already at max_nodes={free.max_nodes}")
    room = free.max_edges - len(genome.edges)
    ways = [w for w, need in (("split", 1), ("insert", 2)) if room >= need]
    if not ways:
        raise OperatorNotApplicable(f"add_node: no room for new edges (max_edges={free.max_edges})")
    ops = distinct(free.ops)
    how = pick(rng, ways)

    def shift(node: int, at: int) -> int:
        return node if node < at else node + 1

    record: Record = {"op": "add_node", "how": how}
    if how == "split":
        old = pick(rng, genome.edges)
        at = int(rng.integers(old.src + 1, old.dst + 1))  # old.src < at <= old.dst
        in_edge = Edge(old.src, at, old.op)
        out_edge = Edge(at, old.dst + 1, pick(rng, ops))
        kept = [e for e in genome.edges if e != old]
        record["split"] = [int(old.src), int(old.dst)]
    else:
        at = int(rng.integers(1, n))  # the output moves to n; the new node is inner
        in_edge = Edge(int(rng.integers(0, at)), at, pick(rng, ops))
        out_edge = Edge(at, int(rng.integers(at + 1, n + 1)), pick(rng, ops))
        kept = list(genome.edges)
    edges = [Edge(shift(e.src, at), shift(e.dst, at), e.op) for e in kept]
    width = pick(rng, distinct(free.widths))
    widths = _widths(genome)
    widths.insert(at, width)
    child = assemble(space, n + 1, [*edges, in_edge, out_edge], widths)
    record.update({"node": at, "width": int(width), "in_edge": edge_json(in_edge),
                   "out_edge": edge_json(out_edge)})
    return child, record


def remove_node(genome: DAGGenome, rng: np.random.Generator,
                space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Remove an inner node and its edges, renumbering the nodes after it.

    When every input-output path ran through the removed node, a bypass edge ``s -> d`` restores
    one: ``s`` one of its sources still reachable from the input, ``d`` one of its destinations
    still reaching the output, and the op that of the in-edge ``s -> node`` or the out-edge
    ``node -> d`` (a coin decides). The bypass never exceeds ``max_edges`` (at least two edges go).

    Returns:
        The child and ``{"op": "remove_node", "node": k, "width": w, "removed_edges":
        [[src, dst, op], ...] (parent numbering), "bypass": [src, dst, op] or None (child
        numbering)}``.

    Raises:
        OperatorNotApplicable: in nb201, or when the genome has no inner node.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    _free_only("remove_node", space)
    check_parent(genome, space)
    n = genome.num_nodes
    if n <= 2:
        raise OperatorNotApplicable("remove_node: the genome has no inner node")
    node = int(rng.integers(1, n - 1))

    def unshift(x: int) -> int:
        return x if x < node else x - 1

    gone = [e for e in genome.edges if node in (e.src, e.dst)]
    edges = [Edge(unshift(e.src), unshift(e.dst), e.op) for e in genome.edges if e not in gone]
    widths = _widths(genome)
    width = widths.pop(node)
    out = n - 2
    bypass: Edge | None = None
    fwd = reachable(n - 1, edges, 0, forward=True)
    if out not in fwd:
        back = reachable(n - 1, edges, out, forward=False)
        ins = [e for e in gone if e.dst == node and unshift(e.src) in fwd]
        outs = [e for e in gone if e.src == node and unshift(e.dst) in back]
        # The parent had a path, all through ``node``: both lists are non-empty.
        e_in, e_out = pick(rng, ins), pick(rng, outs)
        op = e_in.op if coin(rng) else e_out.op
        bypass = Edge(unshift(e_in.src), unshift(e_out.dst), op)
        edges.append(bypass)
    child = assemble(space, n - 1, edges, widths)
    return child, {"op": "remove_node", "node": node, "width": int(width),
                   "removed_edges": [edge_json(e) for e in gone],
                   "bypass": edge_json(bypass) if bypass else None}


def mutate_width(genome: DAGGenome, rng: np.random.Generator,
                 space: DAGSpace) -> tuple[DAGGenome, Record]:
    """Change the channel width of one node whose width the space leaves free.

    Free nodes are the inner nodes, and in ``network`` mode the output node too.

    Returns:
        The child and ``{"op": "mutate_width", "node": k, "from": old, "to": new}``.

    Raises:
        OperatorNotApplicable: in nb201, with a single allowed width, or with no free node.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    free = _free_only("mutate_width", space)
    check_parent(genome, space)
    options = distinct(free.widths)
    n = genome.num_nodes
    nodes = [k for k in range(n) if free.fixed_width(k, n) is None
             and any(w != genome.widths[k] for w in options)]
    if not nodes:
        raise OperatorNotApplicable("mutate_width: no node whose width may change")
    node = pick(rng, nodes)
    old = genome.widths[node]
    new = pick(rng, [w for w in options if w != old])
    widths = _widths(genome)
    widths[node] = new
    child = assemble(space, n, genome.edges, widths)
    return child, {"op": "mutate_width", "node": node, "from": int(old), "to": int(new)}


#: Every mutation operator by name.
MUTATIONS: dict[str, Mutation] = {
    "mutate_op": mutate_op,
    "add_edge": add_edge,
    "remove_edge": remove_edge,
    "add_node": add_node,
    "remove_node": remove_node,
    "mutate_width": mutate_width,
}


def mutate(genome: DAGGenome, rng: np.random.Generator, space: DAGSpace,
           weights: Mapping[str, float] | None = None) -> tuple[DAGGenome, Record]:
    """Apply one mutation operator, chosen among those that apply to ``genome``.

    Operators are drawn by ``weights``; one that does not apply is set aside and the draw repeats
    among the rest, so the choice is distributed by weight over the applicable operators.

    Args:
        genome: the parent (a valid member of ``space``).
        rng: the only source of randomness.
        space: the search space.
        weights: relative weight per operator name in :data:`MUTATIONS`; names left out (or
            weighted 0) are never used. Default: all operators, equally.

    Returns:
        The child and the record of the operator applied (its ``"op"`` names it).

    Raises:
        ValueError: on an unknown operator name or a negative or non-finite weight.
        OperatorNotApplicable: when no enabled operator applies, which with the default weights
            happens only in a degenerate space where the genome has no neighbour at all.
        GenomeError: when ``genome`` is not a valid member of ``space``.
    """
    if weights is None:
        weights = _EQUAL_WEIGHTS
    key = tuple(weights.items())
    memo = True
    try:
        enabled = _ENABLED.get(key)
    except TypeError:  # an unhashable weight: checked (and refused) below
        memo, enabled = False, None
    if enabled is None:
        enabled = _enabled(weights)
        if memo:
            if len(_ENABLED) >= _MEMO_SIZE:
                _ENABLED.clear()
            _ENABLED[key] = enabled
    check_parent(genome, space)
    names = list(enabled)
    if is_nb201(space):
        names = [name for name in names if name == "mutate_op"]
    while names:
        name = names[_draw(rng, tuple(weights[name] for name in names))]
        try:
            return MUTATIONS[name](genome, rng, space)
        except OperatorNotApplicable:
            names.remove(name)
    raise OperatorNotApplicable("mutate: no enabled mutation applies to this genome")


#: The default weights: every operator, equally.
_EQUAL_WEIGHTS: dict[str, float] = dict.fromkeys(MUTATIONS, 1.0)
_MEMO_SIZE = 256
#: weights' items -> the operator names they enable, for weights that passed the checks.
_ENABLED: dict[tuple[object, ...], tuple[str, ...]] = {}
#: weights of the names still in the draw -> the cumulative distribution numpy's
#: ``Generator.choice(n, p=...)`` builds from them.
_CDFS: dict[tuple[float, ...], list[float]] = {}


def _enabled(weights: Mapping[str, float]) -> tuple[str, ...]:
    """Check ``weights`` and name the operators they enable, in :data:`MUTATIONS` order."""
    for name, w in weights.items():
        if name not in MUTATIONS:
            raise ValueError(f"weights.{name}: unknown mutation; choose from {sorted(MUTATIONS)}")
        if not isinstance(w, Real) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weights.{name}: must be a finite number >= 0, got {w!r}")
    return tuple(name for name in MUTATIONS if weights.get(name, 0) > 0)


def _draw(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    """``int(rng.choice(len(weights), p=probs / probs.sum()))``, with the same draw from
    ``rng`` (one ``rng.random()``) and the same outcome: numpy's choice builds
    ``cdf = p.cumsum(); cdf /= cdf[-1]`` and returns ``cdf.searchsorted(u, side="right")``;
    the distribution is built once per set of weights."""
    cdf = _CDFS.get(weights)
    if cdf is None:
        probs = np.array(weights, dtype=float)
        p = probs / probs.sum()
        array = p.cumsum()
        array /= array[-1]
        cdf = array.tolist()
        if len(_CDFS) >= _MEMO_SIZE:
            _CDFS.clear()
        _CDFS[weights] = cdf
    return bisect.bisect_right(cdf, rng.random())
