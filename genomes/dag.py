"""DAG genomes: ops on the edges of a directed acyclic graph.

Nodes are numbered ``0 .. num_nodes-1`` in topological order: node 0 is the input, the last node is
the output, and every edge goes from a lower to a higher index, so a genome is acyclic by
construction. A node's value is the sum of its incoming edges, each edge applying its op to the
source node's value. The same genome describes a NAS-Bench-201 cell (space ``nb201``) or a free-form
network (space ``free``, with a channel width per node).

The JSON form is versioned (``{"kind": "dag", "version": 1, ...}``).
:meth:`DAGGenome.canonical_hash` identifies genomes that compute the same function, so the engine
never evaluates one twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from genomes.errors import GenomeError
from genomes.jsonform import check_json_header, parse_json
from genomes.space import IDENTITY_OPS, NB201_OPS, WIDTH_PRESERVING_OPS, ZERO_OPS

DAG_JSON_VERSION = 1
#: The canonical expression of a node whose value is zero.
ZERO = "#"
#: Most canonical hashes remembered across genome objects (a campaign meets the same
#: architectures again and again); the memo is emptied when it grows past this.
HASH_MEMO_SIZE = 1 << 16
_HASH_MEMO: dict[tuple[Any, ...], str] = {}
#: ``json.dumps(value, separators=(",", ":"))`` without building an encoder per call.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


class Edge(NamedTuple):
    """One edge: ``dst`` receives ``op(src)``.

    Immutable, ordered and hashed as the tuple ``(src, dst, op)`` (a named tuple: sorting and
    hashing edges run at C speed).
    """

    src: int
    dst: int
    op: str


@dataclass(frozen=True)
class DAGGenome:
    """An architecture as a DAG with ops on its edges.

    Immutable: what is derived from the fields alone (the outcome of :meth:`validate`, the
    canonical hash, the JSON text) is computed once per object and kept in its ``__dict__``,
    outside the fields (equality, hashing and ``repr`` ignore it).

    Attributes:
        space: name of the search space the genome belongs to (``nb201`` or ``free``).
        num_nodes: number of nodes, input and output included.
        edges: the edges, kept sorted by ``(src, dst)``.
        widths: channel width of each node (free space), or empty (nb201).
    """

    space: str
    num_nodes: int
    edges: tuple[Edge, ...]
    widths: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.edges))
        if ordered != self.edges:
            object.__setattr__(self, "edges", ordered)

    @classmethod
    def checked(cls, space: str, num_nodes: int, edges: tuple[Edge, ...],
                widths: tuple[int, ...] = ()) -> DAGGenome:
        """A genome from fields its maker guarantees: ``edges`` already sorted and every
        structural invariant holding (an operator's fast path; :meth:`validate` is not run).

        Equal to ``DAGGenome(space, num_nodes, edges, widths)`` in every way, without its cost.
        """
        genome = object.__new__(cls)
        genome.__dict__.update(space=space, num_nodes=num_nodes, edges=edges, widths=widths,
                               _valid=True)
        return genome

    # ----------------------------------------------------------------- invariants
    def validate(self) -> None:
        """Check the structural invariants (search-space rules are checked by the space).

        The genome is immutable, so a success is remembered: later calls return at once.

        Raises:
            GenomeError: naming the first field at fault.
        """
        if "_valid" in self.__dict__:
            return
        self._check_structure()
        self.__dict__["_valid"] = True

    def _check_structure(self) -> None:
        n = self.num_nodes
        if not isinstance(n, int) or n < 2:
            raise GenomeError(f"num_nodes: need at least 2 nodes, got {n!r}")
        try:  # the common case, a valid genome: one cheap pass
            pairs = {(src, dst) for src, dst, op in self.edges
                     if isinstance(op, str) and op and 0 <= src < dst < n}
            fine = len(pairs) == len(self.edges)
        except (TypeError, ValueError):
            fine = False
        if not fine:
            self._edge_fault()
        if self.widths:
            if len(self.widths) != n:
                raise GenomeError(
                    f"widths: need one width per node ({n}), got {len(self.widths)}")
            for i, w in enumerate(self.widths):
                if not isinstance(w, int) or w < 1:
                    raise GenomeError(f"widths[{i}]: must be a positive integer, got {w!r}")

    def _edge_fault(self) -> None:
        """Raise the error of the first faulty edge."""
        seen: set[tuple[int, int]] = set()
        for e in self.edges:
            where = f"edges[{e.src}->{e.dst}]"
            if not isinstance(e.op, str) or not e.op:
                raise GenomeError(f"{where}.op: must be a non-empty op name, got {e.op!r}")
            if not (0 <= e.src < self.num_nodes and 0 <= e.dst < self.num_nodes):
                raise GenomeError(f"{where}: dangling edge, nodes are 0..{self.num_nodes - 1}")
            if e.src >= e.dst:
                raise GenomeError(f"{where}: edges must go from a lower to a higher node "
                                  "(a cycle or self-loop otherwise)")
            if (e.src, e.dst) in seen:
                raise GenomeError(f"{where}: duplicate edge")
            seen.add((e.src, e.dst))

    # ----------------------------------------------------------------- structure
    @property
    def input_node(self) -> int:
        return 0

    @property
    def output_node(self) -> int:
        return self.num_nodes - 1

    def in_edges(self, node: int) -> list[Edge]:
        """Edges into ``node``, ordered by source."""
        return [e for e in self.edges if e.dst == node]

    def _in_edges_by_node(self) -> list[list[Edge]]:
        """``[in_edges(0), in_edges(1), ...]`` in one pass (edges into a node outside
        ``0 .. num_nodes-1`` are left out, as :meth:`in_edges` never asks for them)."""
        by_node: list[list[Edge]] = [[] for _ in range(self.num_nodes)]
        n = self.num_nodes
        for e in self.edges:  # sorted by (src, dst): each list is ordered by source
            if 0 <= e.dst < n:
                by_node[e.dst].append(e)
        return by_node

    def out_edges(self, node: int) -> list[Edge]:
        """Edges out of ``node``, ordered by destination."""
        return [e for e in self.edges if e.src == node]

    def live_nodes(self, *, ignore_zero_ops: bool = True) -> set[int]:
        """Nodes on some input-to-output path (``none`` edges count as absent)."""
        fwd: set[int] = {0}
        for e in self.edges:  # sorted by src, so one pass is a topological sweep
            if e.src in fwd and not (ignore_zero_ops and e.op in ZERO_OPS):
                fwd.add(e.dst)
        back: set[int] = {self.output_node}
        for e in reversed(self.edges):
            if e.dst in back and not (ignore_zero_ops and e.op in ZERO_OPS):
                back.add(e.src)
        return fwd & back

    def has_path(self) -> bool:
        """Whether some path of non-zero ops leads from the input to the output."""
        return self.output_node in self.live_nodes()

    def width(self, node: int) -> int | None:
        """The channel width of ``node``, or None when the genome has no widths (nb201)."""
        return self.widths[node] if self.widths else None

    # ----------------------------------------------------------------- identity
    def canonical_form(self, strict: bool | None = None) -> str:
        """A string equal for genomes that compute the same function.

        Each node becomes an expression of the input: an edge term is ``op(source)``, a skip or
        identity edge is the source itself, a ``none`` edge (or any op on a zero node) is zero; a
        node is the sorted multiset of its terms. Sorting makes the form blind to node numbering
        (isomorphic DAGs agree), and nodes off every input-output path never reach the output's
        expression. Widths are part of every term whose output channels they set.

        Two rules exist, and ``strict`` picks one (by default: ``False`` for ``nb201``, ``True``
        otherwise):

        * strict: zero terms vanish and a skip of a sum joins that sum (addition is associative
          and commutative), so the form is equal exactly when the functions are. The 15,625 NB201
          cells fall into 4,930 classes under it. Operands are hashed (Merkle style), so the form
          stays short for deep graphs.
        * NAS-Bench-201's own de-isomorphism rule (``to_unique_str(consider_zero=True)`` in its
          code): a zero term stays in a sum as a placeholder and a passed-through sum is kept as
          one sorted term. It splits the 15,625 cells into the 6,466 unique topologies the
          benchmark reports and every paper quotes, so results line up with the literature.
        """
        if strict is None:
            strict = self.space != "nb201"
        return self._strict_form() if strict else self._nb201_form()

    def _nb201_form(self) -> str:
        exprs: dict[int, str] = {0: "in"}
        by_node = self._in_edges_by_node()
        for node in range(1, self.num_nodes):
            terms = []
            for e in by_node[node]:
                src = exprs[e.src]
                if e.op in ZERO_OPS or src == ZERO:
                    terms.append(ZERO)
                elif e.op in IDENTITY_OPS:
                    terms.append(src)
                else:
                    terms.append(f"({src})@{e.op}")
            exprs[node] = "+".join(sorted(terms)) if terms else ZERO
        return exprs[self.output_node]

    def _strict_form(self) -> str:
        sums: dict[int, tuple[str, ...]] = {0: ("in",)}
        by_node = self._in_edges_by_node()
        for node in range(1, self.num_nodes):
            terms: list[str] = []
            for e in by_node[node]:
                src = sums[e.src]
                if e.op in ZERO_OPS or not src:
                    continue
                if e.op in IDENTITY_OPS and self.width(e.src) == self.width(e.dst):
                    terms.extend(src)  # a sum passed through joins this sum
                else:
                    terms.append(self._term(e, "+".join(src)))
            sums[node] = tuple(sorted(terms))
        return "+".join(sums[self.output_node]) or ZERO

    def _term(self, e: Edge, src: str) -> str:
        dst_w = self.width(e.dst)
        if e.op in IDENTITY_OPS:  # widths differ: a 1x1 projection
            return _digest(f"proj:{dst_w}({src})")
        if e.op in WIDTH_PRESERVING_OPS:
            body = _digest(f"{e.op}({src})")
            return _digest(f"proj:{dst_w}({body})") if self.width(e.src) != dst_w else body
        return _digest(f"{e.op}:{dst_w}({src})")

    def canonical_hash(self) -> str:
        """SHA-1 hex digest of :meth:`canonical_form` and the space name.

        Computed once per genome object, and remembered across objects with the same fields
        (up to :data:`HASH_MEMO_SIZE` of them).
        """
        cached = self.__dict__.get("_hash")
        if cached is not None:
            return cached
        key = (self.space, self.num_nodes, self.edges, self.widths)
        memo = type(self.num_nodes) is int
        try:
            value = _HASH_MEMO.get(key) if memo else None
        except TypeError:  # unhashable fields (an invalid genome): no memo
            memo, value = False, None
        if value is None:
            value = hashlib.sha1(f"{self.space}|{self.canonical_form()}".encode()).hexdigest()
            if memo:
                if len(_HASH_MEMO) >= HASH_MEMO_SIZE:
                    _HASH_MEMO.clear()
                _HASH_MEMO[key] = value
        self.__dict__["_hash"] = value
        return value

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON-safe form."""
        data: dict[str, Any] = {
            "kind": "dag",
            "version": DAG_JSON_VERSION,
            "space": self.space,
            "num_nodes": self.num_nodes,
            "edges": [[e.src, e.dst, e.op] for e in self.edges],
        }
        if self.widths:
            data["widths"] = list(self.widths)
        return data

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text (computed once per genome object)."""
        text = self.__dict__.get("_json")
        if text is None:
            text = self.__dict__["_json"] = _plain_json(self) or _encode_json(self.to_dict())
        return text

    @classmethod
    def from_dict(cls, data: Any) -> DAGGenome:
        """Parse and validate the JSON form.

        Raises:
            GenomeError: naming the field at fault.
        """
        check_json_header(data, "dag", "DAG", DAG_JSON_VERSION, ("space", "num_nodes", "edges"))
        if not isinstance(data["space"], str):
            raise GenomeError(f"space: must be a string, got {data['space']!r}")
        if not isinstance(data["num_nodes"], int) or isinstance(data["num_nodes"], bool):
            raise GenomeError(f"num_nodes: must be an integer, got {data['num_nodes']!r}")
        if not isinstance(data["edges"], list):
            raise GenomeError("edges: must be a list of [src, dst, op]")
        edges = []
        for i, item in enumerate(data["edges"]):
            if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], int)
                    or not isinstance(item[1], int) or not isinstance(item[2], str)):
                raise GenomeError(f"edges[{i}]: must be [src, dst, op], got {item!r}")
            edges.append(Edge(item[0], item[1], item[2]))
        widths = data.get("widths", [])
        if not isinstance(widths, list):
            raise GenomeError("widths: must be a list of integers")
        genome = cls(data["space"], data["num_nodes"], tuple(edges), tuple(widths))
        genome.validate()
        return genome

    @classmethod
    def from_json(cls, text: str) -> DAGGenome:
        return cls.from_dict(parse_json(text))

    # ----------------------------------------------------------------- NB201 notation
    @classmethod
    def from_nb201(cls, arch: str) -> DAGGenome:
        """Parse NAS-Bench-201 notation, e.g. ``|nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|``.

        Raises:
            GenomeError: when the string is not a 4-node NB201 cell.
        """
        text = arch.strip()
        if not (text.startswith("|") and text.endswith("|")):
            raise GenomeError(f"arch: {arch!r} is not in NB201 notation (|op~j|+|...|)")
        groups = text[1:-1].split("|+|")
        edges = []
        for node, group in enumerate(groups, start=1):
            for token in group.split("|"):
                op, sep, src = token.partition("~")
                if not sep or not src.isdigit():
                    raise GenomeError(f"arch: bad token {token!r} in {arch!r}")
                if op not in NB201_OPS:
                    raise GenomeError(f"arch: unknown op {op!r} in {arch!r}")
                edges.append(Edge(int(src), node, op))
        genome = cls("nb201", len(groups) + 1, tuple(edges))
        genome.validate()
        return genome

    def to_nb201(self) -> str:
        """Print the genome in NAS-Bench-201 notation (nodes in order, sources ascending)."""
        text = self.__dict__.get("_nb201")
        if text is None:
            by_node = self._in_edges_by_node()
            text = "+".join("|" + "|".join([f"{e.op}~{e.src}" for e in by_node[node]]) + "|"
                            for node in range(1, self.num_nodes))
            self.__dict__["_nb201"] = text
        return text

    def describe(self) -> str:
        """A short human-readable form."""
        if self.space == "nb201":
            return self.to_nb201()
        parts = [f"{e.src}->{e.dst}:{e.op}" for e in self.edges]
        return f"nodes={self.num_nodes} widths={list(self.widths)} " + " ".join(parts)


def _plain_json(genome: DAGGenome) -> str | None:
    """What ``_encode_json(genome.to_dict())`` writes, built directly (several times faster)
    for a genome whose numbers are all plain ``int`` and whose names are ``str``; None for any
    other genome, which the encoder handles (``True`` for ``1``, an unserialisable value)."""
    n, edges, widths = genome.num_nodes, genome.edges, genome.widths
    if type(n) is not int or type(genome.space) is not str:
        return None
    parts = []
    for src, dst, op in edges:
        if type(src) is not int or type(dst) is not int or type(op) is not str:
            return None
        parts.append(f"[{src},{dst},{_json_string(op)}]")
    text = (f'{{"kind":"dag","version":{DAG_JSON_VERSION},"space":{_json_string(genome.space)},'
            f'"num_nodes":{n},"edges":[{",".join(parts)}]')
    if widths:
        if any(type(w) is not int for w in widths):
            return None
        text += f',"widths":[{",".join(map(str, widths))}]'
    return text + "}"


@functools.lru_cache(maxsize=1024)
def _json_string(name: str) -> str:
    """``name`` as a JSON string literal (op and space names repeat: cached)."""
    return _encode_json(name)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def genome_from_dict(data: Any) -> DAGGenome:
    """Parse any genome JSON form by its ``kind`` (only ``dag`` for now)."""
    if isinstance(data, dict) and data.get("kind") == "dag":
        return DAGGenome.from_dict(data)
    kind = data.get("kind") if isinstance(data, dict) else None
    raise GenomeError(f"kind: unknown genome kind {kind!r}")


def check_member(genome: Any, space: Any) -> None:
    """``space.validate(genome)``, remembered on the (immutable) genome: a genome that passed
    for this very space object returns at once, so a child the operators checked is not
    checked again as a parent or in the evaluator.

    Raises:
        GenomeError: as ``space.validate`` does.
    """
    cache = getattr(genome, "__dict__", None)
    if cache is not None and cache.get("_member_of") is space:
        return
    space.validate(genome)
    if cache is not None:
        cache["_member_of"] = space


def remember_member(genome: Any, space: Any) -> None:
    """Record that ``space.validate(genome)`` has just passed (see :func:`check_member`)."""
    cache = getattr(genome, "__dict__", None)
    if cache is not None:
        cache["_member_of"] = space
