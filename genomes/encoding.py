"""Decision encodings of the DAG spaces: a genome as a fixed sequence of categorical choices.

REINFORCE's controller writes a genome one decision at a time; a predictor reads the same
sequence as a fixed-length feature vector (:meth:`~genomes.protocol.Encoding.encode`). The
sequences:

* ``nb201`` (:class:`NB201Encoding`): one op per cell edge, in NAS-Bench-201 order (``1<-0, 2<-0,
  2<-1, 3<-0, 3<-1, 3<-2``): 6 decisions over the 5 ops.
* ``free`` (:class:`FreeEncoding`): for every potential node ``d = 1 .. max_nodes-1`` in order:
  whether it exists (inner nodes only), its width (where the space leaves it free), then for every
  earlier node ``s < d`` the op of edge ``s -> d`` or ``-`` (:data:`NO_EDGE`) for no edge.
  Decoding keeps the existing nodes and the edges between them, then repairs what the space
  forbids: edges past ``max_edges`` are dropped (the last decided first) and, when no
  input-to-output path is left, an edge ``input -> output`` with the space's first op is added.
  Decisions about absent nodes are marked unused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from genomes.dag import DAGGenome, Edge
from genomes.protocol import Decision, Decoded

if TYPE_CHECKING:
    from genomes.space import FreeSpace, NB201Space

#: The option meaning "no edge" in the free space's edge decisions.
NO_EDGE = "-"


class NB201Encoding:
    """One op decision per NB201 cell edge (module docstring).

    Args:
        space: the NB201 space.
    """

    def __init__(self, space: NB201Space) -> None:
        self.space = space
        ops = tuple(dict.fromkeys(space.ops))
        self._decisions = tuple(Decision("op", dst, src, ops)
                                for dst in range(1, space.num_nodes) for src in range(dst))

    @property
    def decisions(self) -> Sequence[Decision]:
        """The six edge decisions, in NAS-Bench-201 order."""
        return self._decisions

    def decode(self, choices: Sequence[int]) -> Decoded:
        """The cell with op ``options[c]`` on each edge; every decision is used, nothing repaired.

        Raises:
            ValueError: when ``choices`` has not one entry per decision.
        """
        edges = [Edge(d.source, d.node, d.options[c])
                 for d, c in zip(self._decisions, choices, strict=True)]
        genome = DAGGenome(self.space.name, self.space.num_nodes, tuple(edges))
        self.space.validate(genome)
        return Decoded(genome, [True] * len(self._decisions), [])

    def encode(self, genome: DAGGenome) -> list[int]:
        """The op index of each edge of ``genome``.

        Raises:
            GenomeError: when ``genome`` is not an NB201 cell.
        """
        self.space.validate(genome)
        ops = {(e.src, e.dst): e.op for e in genome.edges}
        return [d.options.index(ops[(d.source, d.node)]) for d in self._decisions]


class FreeEncoding:
    """Node, width and edge decisions over the free space's ``max_nodes`` (module docstring).

    Args:
        space: the free space.
    """

    def __init__(self, space: FreeSpace) -> None:
        self.space = space
        last = space.max_nodes - 1
        widths = tuple(dict.fromkeys(space.widths))
        edge_options = (NO_EDGE, *dict.fromkeys(space.ops))
        plan: list[Decision] = []
        for node in range(1, space.max_nodes):
            if node < last:
                plan.append(Decision("exists", node, None, (False, True)))
            # Inner nodes choose their width; the output too, except in cell mode (cells stack).
            if node < last or space.mode == "network":
                plan.append(Decision("width", node, None, widths))
            plan.extend(Decision("edge", node, src, edge_options) for src in range(node))
        self._decisions = tuple(plan)

    @property
    def decisions(self) -> Sequence[Decision]:
        """The decisions, node by node."""
        return self._decisions

    def decode(self, choices: Sequence[int]) -> Decoded:
        """The genome the choices describe, repaired to be valid (module docstring).

        Raises:
            ValueError: when ``choices`` has not one entry per decision.
        """
        space, plan = self.space, self._decisions
        last = space.max_nodes - 1
        exists = {0: True, last: True}
        for d, c in zip(plan, choices, strict=True):
            if d.kind == "exists":
                exists[d.node] = bool(d.options[c])
        kept = [node for node in range(space.max_nodes) if exists[node]]
        index = {node: i for i, node in enumerate(kept)}
        n = len(kept)
        widths = {node: space.fixed_width(index[node], n) for node in kept}
        used, edges = [], []
        for d, c in zip(plan, choices, strict=True):
            if d.kind == "exists":
                used.append(True)
            elif d.kind == "width":
                relevant = exists[d.node] and widths[d.node] is None
                used.append(relevant)
                if relevant:
                    widths[d.node] = int(d.options[c])
            else:
                relevant = exists[d.node] and exists[d.source]
                used.append(relevant)
                if relevant and d.options[c] != NO_EDGE:
                    edges.append(Edge(index[d.source], index[d.node], d.options[c]))
        repairs = []
        while len(edges) > space.max_edges:
            e = edges.pop()
            repairs.append(f"dropped {e.src}->{e.dst}")
        node_widths: list[int] = []
        for node in kept:  # every kept node has a fixed width or made a width decision
            width = widths[node]
            assert width is not None, f"node {node} has no width"
            node_widths.append(width)
        genome = DAGGenome(space.name, n, tuple(edges), tuple(node_widths))
        if not genome.has_path():
            if len(edges) == space.max_edges:
                e = edges.pop()
                repairs.append(f"dropped {e.src}->{e.dst}")
            edges.append(Edge(0, n - 1, space.ops[0]))
            repairs.append(f"added 0->{n - 1}")
            genome = DAGGenome(space.name, n, tuple(edges), genome.widths)
        space.validate(genome)
        return Decoded(genome, used, repairs)

    def encode(self, genome: DAGGenome) -> list[int]:
        """The choices that decode to ``genome``: its inner nodes are the first potential inner
        nodes, its output the last; decisions that do not count pick option 0.

        Raises:
            GenomeError: when ``genome`` does not belong to the space.
        """
        space = self.space
        space.validate(genome)
        n, last = genome.num_nodes, space.max_nodes - 1
        # Potential node -> the genome's node (absent potential nodes are left out).
        where = {0: 0, last: n - 1, **{node: node for node in range(1, n - 1)}}
        ops = {(e.src, e.dst): e.op for e in genome.edges}
        choices = []
        for d in self._decisions:
            if d.kind == "exists":
                choices.append(int(d.node in where))
            elif d.kind == "width":
                node = where.get(d.node)
                free = node is not None and space.fixed_width(node, n) is None
                choices.append(d.options.index(genome.widths[node]) if free and node is not None
                               else 0)
            else:
                src, dst = where.get(d.source), where.get(d.node)
                op = ops.get((src, dst)) if src is not None and dst is not None else None
                choices.append(0 if op is None else d.options.index(op))
        return choices
