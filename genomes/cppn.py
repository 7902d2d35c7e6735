"""CPPN genomes: NEAT's node and connection genes, for NEAT and HyperNEAT.

A compositional pattern-producing network (CPPN) is a small graph of nodes, each computing
``activation(bias + sum(weight * source))``. Node ids are fixed by role:

* ``0 .. num_inputs-1`` are the inputs (no gene: an input passes its value through);
* ``num_inputs .. num_inputs+num_outputs-1`` are the outputs;
* higher ids are hidden nodes, created by splitting a connection.

Connection genes carry NEAT's innovation numbers, handed out by an
:class:`~genomes.innovations.InnovationTracker` (part of the NEAT strategy's state): one
innovation per ``(src, dst)`` pair for the whole run, so genes of different genomes align by
innovation number in crossover and speciation.

**Recurrence.** Connections are read in innovation order; a connection is *forward* when adding it
to the forward connections read so far keeps them acyclic, else it is *recurrent* (self-loops
included) and reads its source's value from the previous activation step (0 at the start). Without
recurrent connections a CPPN is a plain feed-forward function. :class:`NEATSpace` says whether
recurrent connections are allowed.

The JSON form is versioned (``{"kind": "cppn", "version": 1, ...}``).
:meth:`CPPNGenome.canonical_hash` is equal for CPPNs that compute the same function up to
hidden-node numbering, disabled genes and dead nodes (nodes no output depends on). This module
never imports torch; the compiler (:mod:`evonas.compiler.cppn`) turns a CPPN into a
``torch.nn.Module`` or a Python function.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from genomes.errors import GenomeError
from genomes.jsonform import check_json_header, dataclass_to_dict, parse_json

CPPN_JSON_VERSION = 1
#: ``json.dumps(value, separators=(",", ":"))`` without building an encoder per call.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode

#: Activation functions a node may use. Definitions (``z`` is the node's summed input):
#: ``sigmoid`` 1/(1+exp(-4.9 z)) (NEAT's steepened sigmoid), ``tanh``, ``sin`` sin(z),
#: ``gauss`` exp(-z^2), ``relu`` max(z, 0), ``abs`` |z|, ``identity`` z, ``step`` 1 if z > 0 else 0.
ACTIVATIONS: tuple[str, ...] = (
    "sigmoid", "tanh", "sin", "gauss", "relu", "abs", "identity", "step",
)
#: Cached views that depend only on a genome's structure (ids, endpoints, enable flags), which
#: :meth:`CPPNGenome._derive` carries over to a child with new gene values.
_STRUCTURE_CACHES = ("_valid", "_recurrent", "_topological", "_live", "_layout", "_innovations",
                     "_canon_plan", "_plain")
#: Activation names the fast JSON writer may put between quotes as they are (no escaping), each
#: mapped to itself (a ``str`` subclass equal to a name is written as the name, as the encoder
#: does).
_PLAIN_ACTIVATIONS = {a: a for a in ACTIVATIONS}
_FLOAT_TYPE = frozenset({float})
_INT_TYPE = frozenset({int})
_BOOL_TYPE = frozenset({bool})
_NON_FINITE = frozenset({"nan", "inf", "-inf"})

#: ``repr`` of float values seen lately, by value: children copy most of their parents' values
#: (crossover, unmutated genes), and shortest-repr formatting is the dearest part of writing a
#: genome. Zeros are never stored (``0.0 == -0.0``, whose reprs differ); cleared when full.
_REPR_CACHE: dict[float, str] = {}
_REPR_CACHE_SIZE = 1 << 16


def _reprs_of(values: list[float]) -> list[str]:
    """``[repr(v) for v in values]`` for finite or not floats (exact ``float`` only)."""
    cache = _REPR_CACHE
    out = list(map(cache.get, values))
    if None in out:
        if len(cache) > _REPR_CACHE_SIZE:
            cache.clear()
        for k, text in enumerate(out):
            if text is None:
                value = values[k]
                text = out[k] = float.__repr__(value)
                if value != 0.0 and value - value == 0.0:  # finite, non-zero
                    cache[value] = text
    return out  # type: ignore[return-value]


class NodeGene(NamedTuple):
    """An output or hidden node (an immutable named tuple: cheap to make by the thousand).

    Attributes:
        id: the node id (see the module docstring for the numbering).
        activation: one of :data:`ACTIVATIONS`.
        bias: added to the node's summed input.
    """

    id: int
    activation: str
    bias: float


class ConnectionGene(NamedTuple):
    """A weighted connection ``src -> dst`` with its innovation number (an immutable named tuple).

    Attributes:
        innovation: historical marking shared by every gene with the same ``(src, dst)``.
        src: source node id (an input, output or hidden node).
        dst: destination node id (an output or hidden node).
        weight: the connection weight.
        enabled: disabled genes are kept (for crossover) but carry no signal.
    """

    innovation: int
    src: int
    dst: int
    weight: float
    enabled: bool = True


@dataclass(frozen=True)
class CPPNGenome:
    """A CPPN as NEAT genes.

    Attributes:
        num_inputs: number of input nodes (ids ``0 .. num_inputs-1``).
        num_outputs: number of output nodes (the next ``num_outputs`` ids).
        nodes: output and hidden node genes, kept sorted by id.
        connections: connection genes, kept sorted by innovation number.
    """

    num_inputs: int
    num_outputs: int
    nodes: tuple[NodeGene, ...]
    connections: tuple[ConnectionGene, ...]

    def __post_init__(self) -> None:
        nodes, conns = tuple(self.nodes), tuple(self.connections)
        if any(nodes[i].id > nodes[i + 1].id for i in range(len(nodes) - 1)):
            nodes = tuple(sorted(nodes, key=lambda n: n.id))
        if any(conns[i].innovation > conns[i + 1].innovation for i in range(len(conns) - 1)):
            conns = tuple(sorted(conns, key=lambda c: c.innovation))
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "connections", conns)

    # ----------------------------------------------------------------- structure
    @property
    def input_ids(self) -> range:
        return range(self.num_inputs)

    @property
    def output_ids(self) -> range:
        return range(self.num_inputs, self.num_inputs + self.num_outputs)

    @property
    def hidden_ids(self) -> list[int]:
        first = self.num_inputs + self.num_outputs
        return [n.id for n in self.nodes if n.id >= first]

    # Derived views are cached in the instance dict (the genome is frozen, so they never change).
    @property
    def node_map(self) -> dict[int, NodeGene]:
        """Node genes by id."""
        cached = self.__dict__.get("_node_map")
        if cached is None:
            cached = self.__dict__["_node_map"] = {n.id: n for n in self.nodes}
        return cached

    @property
    def connection_map(self) -> dict[int, ConnectionGene]:
        """Connection genes by innovation number."""
        cached = self.__dict__.get("_connection_map")
        if cached is None:
            cached = self.__dict__["_connection_map"] = {c.innovation: c
                                                         for c in self.connections}
        return cached

    @property
    def weight_map(self) -> dict[int, float]:
        """Connection weights by innovation number (innovation order)."""
        cached = self.__dict__.get("_weight_map")
        if cached is None:
            cached = self.__dict__["_weight_map"] = {c[0]: c[3] for c in self.connections}
        return cached

    @property
    def innovations(self) -> tuple[int, ...]:
        """The connection genes' innovation numbers, ascending."""
        cached = self.__dict__.get("_innovations")
        if cached is None:
            cached = self.__dict__["_innovations"] = tuple(c[0] for c in self.connections)
        return cached

    @property
    def max_innovation(self) -> int:
        """The largest innovation number (-1 without connections)."""
        return self.connections[-1].innovation if self.connections else -1

    @property
    def enabled_connections(self) -> list[ConnectionGene]:
        return [c for c in self.connections if c.enabled]

    @property
    def recurrent_innovations(self) -> frozenset[int]:
        """Innovations of the enabled connections that are recurrent (see the module docstring)."""
        cached = self.__dict__.get("_recurrent")
        if cached is None:
            cached = self.__dict__["_recurrent"] = self._find_recurrent()
        return cached

    def _find_recurrent(self) -> frozenset[int]:
        order = self._kahn([c for c in self.connections if c.enabled])
        if order is not None:  # acyclic: the common case, one linear pass
            self.__dict__.setdefault("_topological", order)
            return frozenset()
        succ: dict[int, set[int]] = {}
        recurrent = []
        for c in self.connections:
            if not c.enabled:
                continue
            if c.src == c.dst or _reaches(succ, c.dst, c.src):
                recurrent.append(c.innovation)
            else:
                succ.setdefault(c.src, set()).add(c.dst)
        return frozenset(recurrent)

    @property
    def is_feed_forward(self) -> bool:
        """True when no enabled connection is recurrent."""
        return not self.recurrent_innovations

    def forward_connections(self) -> list[ConnectionGene]:
        """Enabled, non-recurrent connections in innovation order."""
        rec = self.recurrent_innovations
        return [c for c in self.connections if c.enabled and c.innovation not in rec]

    def recurrent_connections(self) -> list[ConnectionGene]:
        """Enabled recurrent connections in innovation order."""
        rec = self.recurrent_innovations
        return [c for c in self.connections if c.innovation in rec]

    def topological_order(self) -> list[int]:
        """Output and hidden node ids in an order that respects the forward connections.

        Among nodes whose inputs are ready the lowest id comes first, so the order is a function
        of the genome.
        """
        cached = self.__dict__.get("_topological")
        if cached is None:
            cached = self._kahn(self.forward_connections())
            assert cached is not None, "forward connections are acyclic"
            self.__dict__["_topological"] = cached
        return list(cached)

    def _kahn(self, conns: list[ConnectionGene]) -> list[int] | None:
        """Kahn's sort of the non-input nodes along ``conns`` (lowest id first), or None when
        they hold a cycle."""
        indeg = {n.id: 0 for n in self.nodes}
        succ: dict[int, list[int]] = {}
        for c in conns:
            if c.dst in indeg and c.src in indeg:
                indeg[c.dst] += 1
                succ.setdefault(c.src, []).append(c.dst)
        ready = [i for i, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for nxt in succ.get(node, ()):
                indeg[nxt] -= 1
                if indeg[nxt] == 0:
                    heapq.heappush(ready, nxt)
        return order if len(order) == len(indeg) else None

    def depths(self) -> dict[int, int]:
        """Each non-input node's depth: 1 + the largest depth among its forward sources.

        Inputs have depth 0; a node without forward inputs has depth 1.
        """
        incoming: dict[int, list[int]] = {}
        for c in self.forward_connections():
            incoming.setdefault(c.dst, []).append(c.src)
        depth: dict[int, int] = {i: 0 for i in self.input_ids}
        for node in self.topological_order():
            depth[node] = 1 + max((depth[s] for s in incoming.get(node, ())), default=0)
        return {n: d for n, d in depth.items() if n >= self.num_inputs}

    def live_nodes(self) -> set[int]:
        """Non-input nodes some output depends on through enabled connections (outputs included)."""
        return set(self._live_set())

    def _find_live(self) -> set[int]:
        incoming: dict[int, list[int]] = {}
        for c in self.enabled_connections:
            incoming.setdefault(c.dst, []).append(c.src)
        live = set(self.output_ids)
        stack = list(live)
        while stack:
            node = stack.pop()
            for src in incoming.get(node, ()):
                if src >= self.num_inputs and src not in live:
                    live.add(src)
                    stack.append(src)
        return live

    def with_values(self, nodes: Iterable[NodeGene], connections: Iterable[ConnectionGene]
                    ) -> CPPNGenome:
        """This genome's structure with new gene values (biases, activations, weights).

        Node ids, innovation numbers, endpoints and enabled flags must be unchanged (checked);
        what depends only on the structure (validity, topological order, recurrence, live nodes)
        carries over instead of being recomputed, which makes value mutations cheap.

        Raises:
            GenomeError: when the structure differs or a new value is not finite.
        """
        nodes, connections = tuple(nodes), tuple(connections)
        if len(nodes) != len(self.nodes) or len(connections) != len(self.connections):
            raise GenomeError("with_values: the gene counts differ")
        for old_node, new_node in zip(self.nodes, nodes, strict=True):
            if old_node[0] != new_node[0] or new_node[1] not in ACTIVATIONS \
                    or not _finite(new_node[2]):
                raise GenomeError(f"with_values: node {new_node.id} changes its id or has an "
                                  "invalid bias or activation")
        for old_conn, new_conn in zip(self.connections, connections, strict=True):
            w = new_conn[3]
            if (old_conn[:3] != new_conn[:3] or old_conn[4] is not new_conn[4]
                    or not (type(w) is float and w - w == 0.0 or _finite(w))):
                raise GenomeError(f"with_values: connection {new_conn.innovation} changes its "
                                  "structure or has a non-finite weight")
        return self._derive(nodes, connections)

    def _derive(self, nodes: tuple[NodeGene, ...], connections: tuple[ConnectionGene, ...]
                ) -> CPPNGenome:
        """:meth:`with_values` without its checks, for callers that build the new genes from
        this genome's own, position by position (the NEAT operators)."""
        child = object.__new__(CPPNGenome)  # same ids in the same order: no re-sorting
        mine = self.__dict__
        derived = child.__dict__
        derived.update(num_inputs=mine["num_inputs"], num_outputs=mine["num_outputs"],
                       nodes=nodes, connections=connections)
        for key in _STRUCTURE_CACHES:
            value = mine.get(key)
            if value is not None:
                derived[key] = value
        return child

    # ----------------------------------------------------------------- invariants
    def validate(self) -> None:
        """Check the structural invariants (search-space rules are checked by the space).

        Raises:
            GenomeError: naming the first field at fault.
        """
        if self.__dict__.get("_valid"):  # frozen: a genome that passed once stays valid
            return
        for name in ("num_inputs", "num_outputs"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise GenomeError(f"{name}: must be a positive integer, got {value!r}")
        node_map = self.node_map
        if len(node_map) != len(self.nodes):
            raise GenomeError(f"nodes: duplicate node id {_first_duplicate(self.nodes)}")
        for n in self.nodes:
            if not _is_int(n.id) or n.id < self.num_inputs:
                raise GenomeError(f"nodes[{n.id}]: ids below {self.num_inputs} are inputs and "
                                  "have no node gene")
            if n.activation not in ACTIVATIONS:
                raise GenomeError(f"nodes[{n.id}].activation: unknown activation "
                                  f"{n.activation!r}; choose from {list(ACTIVATIONS)}")
            if not _finite(n.bias):
                raise GenomeError(f"nodes[{n.id}].bias: must be a finite number, got {n.bias!r}")
        for o in self.output_ids:
            if o not in node_map:
                raise GenomeError(f"nodes: output node {o} has no gene")
        pairs: set[tuple[int, int]] = set()
        innovations: set[int] = set()
        num_inputs = self.num_inputs
        for c in self.connections:
            if (not _is_int(c.innovation) or c.innovation < 0 or c.innovation in innovations
                    or not (0 <= c.src < num_inputs or c.src in node_map)
                    or c.dst not in node_map or (c.src, c.dst) in pairs
                    or not _finite(c.weight) or not isinstance(c.enabled, bool)):
                raise GenomeError(self._connection_fault(c, innovations, pairs))
            innovations.add(c.innovation)
            pairs.add((c.src, c.dst))
        self.__dict__["_valid"] = True

    def _connection_fault(self, c: ConnectionGene, innovations: set[int],
                          pairs: set[tuple[int, int]]) -> str:
        where = f"connections[{c.innovation}]"
        if not _is_int(c.innovation) or c.innovation < 0:
            return f"{where}: innovation must be a non-negative integer"
        if c.innovation in innovations:
            return f"{where}: duplicate innovation number"
        if not (0 <= c.src < self.num_inputs or c.src in self.node_map):
            return f"{where}.src: no node {c.src}"
        if c.dst not in self.node_map:
            return (f"{where}.dst: no output or hidden node {c.dst} "
                    "(connections never end at an input)")
        if (c.src, c.dst) in pairs:
            return f"{where}: duplicate connection {c.src}->{c.dst}"
        if not _finite(c.weight):
            return f"{where}.weight: must be a finite number, got {c.weight!r}"
        return f"{where}.enabled: must be true or false"

    # ----------------------------------------------------------------- identity
    def canonical_form(self) -> str:
        """A string equal for CPPNs that compute the same function (see the module docstring).

        Feed-forward CPPNs: each live node becomes a Merkle digest of its activation, bias and the
        sorted multiset of its ``weight * source`` terms (zero weights dropped), so hidden-node
        numbering, disabled genes and dead nodes do not matter. Recurrent CPPNs: the live
        enabled connections and nodes, listed with their ids.
        """
        if not self.is_feed_forward:
            live = self._live_set()
            nodes = ";".join(f"{n.id}:{n.activation}:{n.bias!r}" for n in self.nodes
                             if n.id in live)
            rec = self.recurrent_innovations
            conns = ";".join(
                f"{c.src}>{c.dst}{'r' if c.innovation in rec else ''}:{c.weight!r}"
                for c in sorted(self.enabled_connections, key=lambda c: (c.src, c.dst))
                if c.dst in live)
            return f"rec|{self.num_inputs}|{nodes}|{conns}"
        reprs = self._float_reprs()
        if reprs is None:  # genes of unusual types: repr each value
            bias_text = [repr(n.bias) for n in self.nodes]
            weight_text = [repr(c.weight) for c in self.connections]
        else:
            bias_text, weight_text = reprs
        genes, connections = self.nodes, self.connections
        expr: dict[int, str] = {i: f"in{i}" for i in range(self.num_inputs)}
        blake2b = hashlib.blake2b
        for node, position, links in self._canonical_plan():
            terms = sorted([f"{weight_text[k]}*{expr[src]}" for k, src in links
                            if connections[k][3] != 0.0])
            expr[node] = blake2b(
                f"{genes[position][1]}({bias_text[position]}+{'+'.join(terms)})".encode(),
                digest_size=10).hexdigest()
        return f"ff|{self.num_inputs}|" + ",".join([expr[o] for o in self.output_ids])

    def _canonical_plan(self) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """What :meth:`canonical_form` digests, in order (feed-forward genomes; structure only,
        so it is cached and carried over by :meth:`with_values`): for each live node in
        topological order, its id, its position in ``nodes`` and ``(position in connections,
        source)`` of each enabled connection into it.

        Only live nodes matter: an output's digest depends on live nodes and inputs alone (a
        live node's enabled sources are live or inputs).
        """
        cached = self.__dict__.get("_canon_plan")
        if cached is None:
            live = self._live_set()
            incoming: dict[int, list[tuple[int, int]]] = {}
            for k, c in enumerate(self.connections):
                if c[4] and c[2] in live:
                    incoming.setdefault(c[2], []).append((k, c[1]))
            position = {n[0]: k for k, n in enumerate(self.nodes)}
            cached = self.__dict__["_canon_plan"] = [
                (node, position[node], incoming.get(node, []))
                for node in self._topo_order() if node in live]
        return cached

    def canonical_hash(self) -> str:
        """SHA-1 hex digest of :meth:`canonical_form` (computed once per genome object)."""
        value = self.__dict__.get("_hash")
        if value is None:
            value = self.__dict__["_hash"] = hashlib.sha1(
                f"cppn|{self.canonical_form()}".encode()).hexdigest()
        return value

    def _live_set(self) -> frozenset[int]:
        cached = self.__dict__.get("_live")
        if cached is None:
            cached = self.__dict__["_live"] = frozenset(self._find_live())
        return cached

    def _topo_order(self) -> list[int]:
        """:meth:`topological_order`, the cached list itself (callers must not change it)."""
        cached = self.__dict__.get("_topological")
        if cached is None:
            self.topological_order()
            cached = self.__dict__["_topological"]
        return cached

    def _float_reprs(self) -> tuple[list[str], list[str]] | None:
        """``repr`` of every bias and weight (gene order), made once per genome object and
        shared by :meth:`canonical_form` and :meth:`to_json`; None unless every value is a
        finite ``float`` (for which ``repr`` is what the JSON encoder writes)."""
        cached = self.__dict__.get("_reprs")
        if cached is None:
            biases = [n[2] for n in self.nodes]
            weights = [c[3] for c in self.connections]
            if not _FLOAT_TYPE.issuperset(map(type, biases)) \
                    or not _FLOAT_TYPE.issuperset(map(type, weights)):
                return None
            bias_text, weight_text = _reprs_of(biases), _reprs_of(weights)
            if not _NON_FINITE.isdisjoint(bias_text) or not _NON_FINITE.isdisjoint(weight_text):
                return None
            cached = self.__dict__["_reprs"] = (bias_text, weight_text)
        return cached

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON-safe form.

        ``nodes`` are ``[id, activation, bias]``; ``connections`` are
        ``[innovation, src, dst, weight, enabled]``.
        """
        return {
            "kind": "cppn",
            "version": CPPN_JSON_VERSION,
            "num_inputs": self.num_inputs,
            "num_outputs": self.num_outputs,
            # the genes' fields are in JSON order: [id, activation, bias] and
            # [innovation, src, dst, weight, enabled]
            "nodes": list(map(list, self.nodes)),
            "connections": list(map(list, self.connections)),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text (computed once per genome object)."""
        text = self.__dict__.get("_json")
        if text is None:
            text = self.__dict__["_json"] = self._fast_json() or _encode_json(self.to_dict())
        return text

    def _fast_json(self) -> str | None:
        """:meth:`to_json`'s text written directly (the encoder's output, byte for byte), from
        the shared float reprs; None when a field's type needs the encoder."""
        reprs = self._float_reprs()
        if reprs is None or not self._plain_fields():
            return None
        plain = _PLAIN_ACTIVATIONS
        try:  # an activation outside ACTIVATIONS might need escaping: the encoder writes it
            nodes = [f'[{i},"{plain[a]}",{b}]'
                     for (i, a, _), b in zip(self.nodes, reprs[0], strict=True)]
        except (KeyError, TypeError):
            return None
        conns = [f"[{i},{s},{d},{w},{'true' if e else 'false'}]"
                 for (i, s, d, _, e), w in zip(self.connections, reprs[1], strict=True)]
        return (f'{{"kind":"cppn","version":{CPPN_JSON_VERSION},"num_inputs":{self.num_inputs},'
                f'"num_outputs":{self.num_outputs},"nodes":[{",".join(nodes)}],'
                f'"connections":[{",".join(conns)}]}}')

    def _plain_fields(self) -> bool:
        """Whether every count, id, innovation and endpoint is an ``int`` and every flag a
        ``bool`` (what an f-string writes as the JSON encoder does). All of them are structure
        (cached, carried over by :meth:`with_values`)."""
        plain = self.__dict__.get("_plain")
        if plain is None:
            ints = [self.num_inputs, self.num_outputs, *(n[0] for n in self.nodes)]
            for c in self.connections:
                ints += c[:3]
            plain = self.__dict__["_plain"] = (
                _INT_TYPE.issuperset(map(type, ints))
                and _BOOL_TYPE.issuperset([type(c[4]) for c in self.connections]))
        return plain

    @classmethod
    def from_dict(cls, data: Any) -> CPPNGenome:
        """Parse and validate the JSON form.

        Raises:
            GenomeError: naming the field at fault.
        """
        check_json_header(data, "cppn", "CPPN", CPPN_JSON_VERSION,
                          ("num_inputs", "num_outputs", "nodes", "connections"))
        for key in ("num_inputs", "num_outputs"):
            if not _is_int(data[key]):
                raise GenomeError(f"{key}: must be an integer, got {data[key]!r}")
        if not isinstance(data["nodes"], list):
            raise GenomeError("nodes: must be a list of [id, activation, bias]")
        if not isinstance(data["connections"], list):
            raise GenomeError("connections: must be a list of [innovation, src, dst, weight, "
                              "enabled]")
        nodes = []
        for i, item in enumerate(data["nodes"]):
            if (not isinstance(item, list) or len(item) != 3 or not _is_int(item[0])
                    or not isinstance(item[1], str) or not _is_number(item[2])):
                raise GenomeError(f"nodes[{i}]: must be [id, activation, bias], got {item!r}")
            nodes.append(NodeGene(item[0], item[1], float(item[2])))
        conns = []
        for i, item in enumerate(data["connections"]):
            if (not isinstance(item, list) or len(item) != 5 or not all(map(_is_int, item[:3]))
                    or not _is_number(item[3]) or not isinstance(item[4], bool)):
                raise GenomeError(f"connections[{i}]: must be [innovation, src, dst, weight, "
                                  f"enabled], got {item!r}")
            conns.append(ConnectionGene(item[0], item[1], item[2], float(item[3]), item[4]))
        genome = cls(data["num_inputs"], data["num_outputs"], tuple(nodes), tuple(conns))
        genome.validate()
        return genome

    @classmethod
    def from_json(cls, text: str) -> CPPNGenome:
        return cls.from_dict(parse_json(text))

    def describe(self) -> str:
        """A short human-readable form: sizes, then nodes and enabled connections."""
        nodes = " ".join(f"{n.id}:{n.activation}{n.bias:+.2f}" for n in self.nodes)
        conns = " ".join(f"{c.src}->{c.dst}:{c.weight:+.2f}" for c in self.enabled_connections)
        return (f"cppn in={self.num_inputs} out={self.num_outputs} hidden={len(self.hidden_ids)} "
                f"conns={len(self.enabled_connections)}/{len(self.connections)} | {nodes} | "
                f"{conns}")


# --------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class NEATSpace:
    """The CPPN search space of NEAT and HyperNEAT (``space.name: neat``).

    Besides the limits a genome must respect, the space holds the magnitudes the NEAT operators
    use, so every operator stays a pure function of ``(genome, rng, space)``.

    Attributes:
        num_inputs: CPPN inputs (for HyperNEAT: the coordinate inputs of the substrate).
        num_outputs: CPPN outputs.
        activations: activations a hidden node may take.
        output_activations: activations an output node may take.
        recurrent: whether recurrent connections (cycles, self-loops) are allowed.
        initial_connection: ``full`` (every input to every output, as in NEAT) or ``none``.
        max_nodes: most output and hidden nodes a genome may have.
        max_connections: most connection genes a genome may have.
        weight_range: ``[low, high]`` every weight stays in (operators clip to it).
        bias_range: ``[low, high]`` every bias stays in.
        weight_init_std: std of new weights (normal, mean 0, clipped to the range).
        weight_perturb_std: std of a weight perturbation.
        weight_replace_rate: chance that a mutated weight is redrawn instead of perturbed.
        bias_init_std: std of new biases.
        bias_perturb_std: std of a bias perturbation.
        bias_replace_rate: chance that a mutated bias is redrawn instead of perturbed.
    """

    num_inputs: int = 2
    num_outputs: int = 1
    activations: tuple[str, ...] = ("sigmoid",)
    output_activations: tuple[str, ...] = ("sigmoid",)
    recurrent: bool = False
    initial_connection: str = "full"
    max_nodes: int = 200
    max_connections: int = 2000
    weight_range: tuple[float, float] = (-8.0, 8.0)
    bias_range: tuple[float, float] = (-8.0, 8.0)
    weight_init_std: float = 1.0
    weight_perturb_std: float = 0.5
    weight_replace_rate: float = 0.1
    bias_init_std: float = 1.0
    bias_perturb_std: float = 0.5
    bias_replace_rate: float = 0.1
    name: str = field(default="neat", init=False)

    def __post_init__(self) -> None:
        for key in ("num_inputs", "num_outputs", "max_nodes", "max_connections"):
            value = getattr(self, key)
            if not _is_int(value) or value < 1:
                raise GenomeError(f"space.{key}: must be a positive integer, got {value!r}")
        if self.max_nodes < self.num_outputs:
            raise GenomeError(f"space.max_nodes: must be at least num_outputs "
                              f"({self.num_outputs}), got {self.max_nodes}")
        for key in ("activations", "output_activations"):
            acts = getattr(self, key)
            if not acts:
                raise GenomeError(f"space.{key}: must name at least one activation")
            unknown = [a for a in acts if a not in ACTIVATIONS]
            if unknown:
                raise GenomeError(f"space.{key}: unknown activation {unknown[0]!r}; choose from "
                                  f"{list(ACTIVATIONS)}")
        if self.initial_connection not in ("full", "none"):
            raise GenomeError(f"space.initial_connection: must be 'full' or 'none', got "
                              f"{self.initial_connection!r}")
        if self.initial_connection == "full" and \
                self.num_inputs * self.num_outputs > self.max_connections:
            raise GenomeError(f"space.max_connections: full initial connection needs "
                              f"{self.num_inputs * self.num_outputs} connections, the limit is "
                              f"{self.max_connections}")
        for key in ("weight_range", "bias_range"):
            low_high = getattr(self, key)
            if (len(low_high) != 2 or not all(map(_is_number, low_high))
                    or not low_high[0] < low_high[1]):
                raise GenomeError(f"space.{key}: must be [low, high] with low < high, got "
                                  f"{list(low_high)}")
        for key in ("weight_init_std", "weight_perturb_std", "bias_init_std", "bias_perturb_std"):
            if not _is_number(getattr(self, key)) or getattr(self, key) < 0:
                raise GenomeError(f"space.{key}: must be a number >= 0")
        for key in ("weight_replace_rate", "bias_replace_rate"):
            value = getattr(self, key)
            if not _is_number(value) or not 0 <= value <= 1:
                raise GenomeError(f"space.{key}: must be between 0 and 1, got {value!r}")
        if not isinstance(self.recurrent, bool):
            raise GenomeError(f"space.recurrent: must be true or false, got {self.recurrent!r}")

    def validate(self, genome: Any) -> None:
        """Raise :class:`GenomeError` unless ``genome`` is a CPPN of this space."""
        if not isinstance(genome, CPPNGenome):
            raise GenomeError(f"genome: the neat space holds CPPN genomes, got "
                              f"{type(genome).__name__}")
        checked = genome.__dict__.get("_valid_in")
        if checked is self or (checked is not None and checked == self):
            return  # checked before against this space (or an equal one: the evaluator's)
        genome.validate()
        if genome.num_inputs != self.num_inputs:
            raise GenomeError(f"num_inputs: the space has {self.num_inputs} inputs, the genome "
                              f"{genome.num_inputs}")
        if genome.num_outputs != self.num_outputs:
            raise GenomeError(f"num_outputs: the space has {self.num_outputs} outputs, the genome "
                              f"{genome.num_outputs}")
        if len(genome.nodes) > self.max_nodes:
            raise GenomeError(f"nodes: {len(genome.nodes)} nodes is over the limit of "
                              f"{self.max_nodes}")
        if len(genome.connections) > self.max_connections:
            raise GenomeError(f"connections: {len(genome.connections)} genes is over the limit "
                              f"of {self.max_connections}")
        first_hidden = self.num_inputs + self.num_outputs
        for n in genome.nodes:
            allowed = self.output_activations if n.id < first_hidden else self.activations
            if n.activation not in allowed:
                raise GenomeError(f"nodes[{n.id}].activation: {n.activation!r} is not allowed "
                                  f"here (allowed: {list(allowed)})")
            if not self.bias_range[0] <= n.bias <= self.bias_range[1]:
                raise GenomeError(
                    f"nodes[{n.id}].bias: {n.bias} is outside {list(self.bias_range)}")
        for c in genome.connections:
            if not self.weight_range[0] <= c.weight <= self.weight_range[1]:
                raise GenomeError(f"connections[{c.innovation}].weight: {c.weight} is outside "
                                  f"{list(self.weight_range)}")
        if not self.recurrent and not genome.is_feed_forward:
            bad = min(genome.recurrent_innovations)
            c = genome.connection_map[bad]
            raise GenomeError(f"connections[{bad}]: {c.src}->{c.dst} closes a cycle; this space "
                              "is feed-forward (recurrent: false)")
        genome.__dict__["_valid_in"] = self

    def to_dict(self) -> dict[str, Any]:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NEATSpace:
        """Build the space from its config mapping (without or with ``name: neat``).

        Raises:
            GenomeError: on an unknown key, naming it.
        """
        data = {k: v for k, v in data.items() if k != "name"}
        allowed = {f.name for f in fields(cls) if f.init}
        for key in data:
            if key not in allowed:
                raise GenomeError(f"space.{key}: unknown key for the neat space; "
                                  f"allowed: {sorted(allowed)}")
        for key, value in list(data.items()):
            if isinstance(value, list):
                data[key] = tuple(value)
        return cls(**data)


# --------------------------------------------------------------------------- helpers
def _reaches(succ: dict[int, set[int]], start: int, goal: int) -> bool:
    """Whether ``goal`` is reachable from ``start`` along ``succ``."""
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _first_duplicate(nodes: Iterable[NodeGene]) -> int:
    seen: set[int] = set()
    for node in nodes:
        if node.id in seen:
            return node.id
        seen.add(node.id)
    raise AssertionError("no duplicate")


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: Any) -> bool:
    return type(value) is float or (isinstance(value, int | float)
                                    and not isinstance(value, bool))


def _finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
