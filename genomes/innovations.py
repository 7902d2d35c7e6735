"""NEAT's innovation numbers: one per connection ``(src, dst)`` for a whole run, so genes of
different genomes align in crossover, and the hidden-node ids that splits of a connection get."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genomes.cppn import CPPNGenome


class InnovationTracker:
    """Hands out innovation numbers and hidden-node ids, and remembers them.

    One innovation number per ``(src, dst)`` pair for the whole run, so the same structural
    change made in different genomes gets the same number and genes align in crossover. Splitting
    connection ``X`` gives the node id earlier splits of ``X`` got, unless the genome already has
    that node (it re-split ``X`` after re-enabling it), in which case a fresh id is made and
    remembered too. The tracker is plain data: :meth:`to_dict` / :meth:`from_dict` make it part of
    the NEAT strategy's JSON state.

    Args:
        next_innovation: the next unused innovation number.
        next_node: the next unused hidden-node id.
    """

    def __init__(self, next_innovation: int = 0, next_node: int = 0) -> None:
        self.next_innovation = next_innovation
        self.next_node = next_node
        self._connections: dict[tuple[int, int], int] = {}
        self._splits: dict[int, list[int]] = {}

    @classmethod
    def for_genome(cls, genome: CPPNGenome) -> InnovationTracker:
        """A fresh tracker numbering after ``genome``'s genes (for one-off operator calls)."""
        tracker = cls()
        tracker.observe(genome)
        return tracker

    def observe(self, genome: CPPNGenome) -> None:
        """Record ``genome``'s genes so new numbers never collide with them."""
        for c in genome.connections:
            self._connections.setdefault((c.src, c.dst), c.innovation)
            self.next_innovation = max(self.next_innovation, c.innovation + 1)
        first = genome.num_inputs + genome.num_outputs
        self.next_node = max(self.next_node, first, *(n.id + 1 for n in genome.nodes))

    def connection(self, src: int, dst: int) -> int:
        """The innovation number of connection ``src -> dst`` (new if never seen)."""
        key = (src, dst)
        innovation = self._connections.get(key)
        if innovation is None:
            innovation = self._connections[key] = self.next_innovation
            self.next_innovation += 1
        return innovation

    def split_node(self, innovation: int, taken: Iterable[int]) -> int:
        """The id of the node that splits connection ``innovation`` in a genome using ``taken``."""
        used = set(taken)
        known = self._splits.setdefault(innovation, [])
        for node in known:
            if node not in used:
                return node
        node = self.next_node
        while node in used:
            node += 1
        self.next_node = node + 1
        known.append(node)
        return node

    def to_dict(self) -> dict[str, Any]:
        return {
            "next_innovation": self.next_innovation,
            "next_node": self.next_node,
            "connections": [[s, d, i] for (s, d), i in self._connections.items()],
            "splits": [[i, nodes] for i, nodes in self._splits.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InnovationTracker:
        tracker = cls(int(data["next_innovation"]), int(data["next_node"]))
        tracker._connections = {(int(s), int(d)): int(i) for s, d, i in data["connections"]}
        tracker._splits = {int(i): [int(n) for n in nodes] for i, nodes in data["splits"]}
        return tracker

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InnovationTracker) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
