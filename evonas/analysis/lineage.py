"""Lineage analysis: who made whom, by which operator, and what it paid.

Everything here reads a run's journal (never writes it) through its query API
(:class:`evonas.storage.JournalQueries`), so that a journal of 100,000 individuals answers
quickly: the ancestry of an individual is one recursive query, the operator table one pass over
the individuals. Genomes are parsed only where a question needs them.

* :func:`nodes`, :func:`ancestry`: individuals as lineage sees them (:class:`Node`, no genome).
* :func:`ancestors`, :func:`descendants`, :func:`path_to_root`: ancestry queries.
* :func:`lineage_graph`: the whole family tree as a ``networkx.DiGraph`` (edges parent -> child
  carry the operator record); :func:`export` writes it as GraphML, DOT or node-link JSON.
* :func:`operator_stats`: per operator, children made, the share that beat their best parent and
  the mean fitness change, overall and over windows of birth order.
* :func:`diversity`: distinct canonical hashes and mean :func:`genome_distance` per generation or
  window.
* :func:`genome_diff` and :func:`describe_record` (from :mod:`evonas.analysis.genome_diff`):
  genomes and operator records in words.

A parent is always born before its child (ids are birth order and strategies only breed from
individuals already told), which :func:`descendants` relies on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import escape

import networkx as nx
import numpy as np

from evonas.analysis.genome_diff import (
    describe_record,
    genome_diff,
    genome_distance,
    genome_key,
    key_distance,
)
from evonas.config import ConfigError
from evonas.storage import PENDING, Journal, JournalError, Status

__all__ = [
    "EXPORT_FORMATS",
    "DiversityRow",
    "Node",
    "OperatorRow",
    "OperatorStats",
    "OperatorWindow",
    "ancestors",
    "ancestry",
    "best_parent_fitness",
    "chain",
    "describe_record",
    "descendants",
    "diversity",
    "export",
    "genome_diff",
    "genome_distance",
    "graph_of",
    "lineage_graph",
    "node",
    "nodes",
    "operator_stats",
    "path_to_root",
    "read_snapshot",
    "to_dot",
    "window_bounds",
    "write_graphml",
    "write_node_link",
]

#: Export formats of :func:`export`, by file suffix.
EXPORT_FORMATS = (".graphml", ".dot", ".json")

@dataclass(frozen=True)
class Node:
    """One individual as lineage sees it (its genome left in the journal).

    Attributes:
        id: birth order.
        parents: ids of its parents (empty for a root, e.g. a random genome).
        op: the name of the operator that made it (``"op"`` of its record).
        status: ``ok``, ``failed``, ``cached`` or ``pending``.
        fitness: its fitness (a ``cached`` copy has its source's), or None.
        hash: its genome's canonical hash.
        generation: its generation, where the strategy has them.
        record: the operator record as JSON text; :attr:`operator` parses it when first asked.
    """

    id: int
    parents: tuple[int, ...]
    op: str
    status: str
    fitness: float | None
    hash: str
    generation: int | None
    record: str = field(default='{"op": "?"}', repr=False)

    @cached_property
    def operator(self) -> dict[str, Any]:
        """The JSON record of the operator that made it."""
        return json.loads(self.record)


def _ids(text: str) -> tuple[int, ...]:
    """Parse a journal parents list (``"[3,7]"``) without the JSON machinery."""
    inner = text[1:-1]
    if "," in inner:
        return tuple(int(x) for x in inner.split(","))
    return (int(inner),) if inner.strip() else ()


_OP_PREFIX = '{"op":"'


def _op_name(record: str) -> str:
    """The ``"op"`` of a record's JSON text; the journal writes it compact, ``op`` usually first."""
    if record.startswith(_OP_PREFIX):
        end = record.find('"', len(_OP_PREFIX))
        name = record[len(_OP_PREFIX):end]
        if end > 0 and "\\" not in name:
            return name
    value = json.loads(record)
    return str(value.get("op", "?")) if isinstance(value, dict) else "?"


def _node(row: tuple) -> Node:
    return Node(row[0], _ids(row[1]), _op_name(row[2]), row[3], row[4], row[5], row[6], row[2])


@contextmanager
def read_snapshot(journal: Journal) -> Iterator[None]:
    """Read the journal as of one moment: every query inside sees the state committed when the
    first of them ran.

    A campaign may be writing meanwhile (WAL mode lets it); without this, two queries could see
    different numbers of individuals.
    """
    with journal.consistent_read():
        yield


# ------------------------------------------------------------------------------ ancestry
def nodes(journal: Journal) -> list[Node]:
    """Every individual in birth order, without genomes."""
    return [_node(row) for row in journal.lineage_rows()]


def node(journal: Journal, id: int) -> Node:  # noqa: A002
    """One individual without its genome.

    Raises:
        KeyError: when the journal has no individual ``id``.
    """
    row = journal.lineage_row(id)
    if row is None:
        raise KeyError(f"{journal.path}: no individual {id}")
    return _node(row)


def _require(journal: Journal, id: int) -> None:  # noqa: A002
    if not journal.has_individual(id):
        raise KeyError(f"{journal.path}: no individual {id}")


def ancestry(journal: Journal, id: int) -> dict[int, Node]:  # noqa: A002
    """Individual ``id`` and all its ancestors, by id (one recursive query).

    Raises:
        KeyError: when the journal has no individual ``id``.
    """
    found = {row[0]: _node(row) for row in journal.ancestry_rows(id)}
    if id not in found:
        raise KeyError(f"{journal.path}: no individual {id}")
    return found


def ancestors(journal: Journal, id: int) -> list[int]:  # noqa: A002
    """Ids of every ancestor of ``id`` (parents, their parents...), ascending.

    Raises:
        KeyError: when the journal has no individual ``id``.
    """
    _require(journal, id)
    return journal.ancestor_ids(id)


def descendants(journal: Journal, id: int) -> list[int]:  # noqa: A002
    """Ids of every descendant of ``id`` (children, their children...), ascending.

    One pass over the individuals born after ``id``: a child always comes after its parents.

    Raises:
        KeyError: when the journal has no individual ``id``.
    """
    _require(journal, id)
    found = {id}
    for child, parent in journal.parent_links(after=id):
        if parent in found:
            found.add(child)
    found.discard(id)
    return sorted(found)


def path_to_root(journal: Journal, id: int, follow: str = "first") -> list[int]:  # noqa: A002
    """The chain from ``id`` back to a root (an individual without parents), ``id`` first.

    Args:
        journal: the run's journal.
        id: where the path starts.
        follow: at an individual with several parents, follow the ``first`` (for crossover the
            parent listed first) or the ``fittest`` (ties: the first).

    Raises:
        KeyError: when the journal has no individual ``id``.
        ValueError: on an unknown ``follow``.
    """
    if follow not in ("first", "fittest"):
        raise ValueError(f"follow: expected 'first' or 'fittest', got {follow!r}")
    if follow == "first":
        _require(journal, id)
        return journal.first_parent_chain(id)
    return chain(ancestry(journal, id), id, follow)


def chain(found: dict[int, Node], id: int, follow: str = "first") -> list[int]:  # noqa: A002
    """:func:`path_to_root` over an already loaded :func:`ancestry`."""
    path = [id]
    seen = {id}
    current = found[id]
    while current.parents:
        parents = [p for p in current.parents if p in found and p not in seen]
        if not parents:  # a root, or (in a journal with a parent cycle) back where it was
            break
        if follow == "fittest":
            nxt = max(parents, key=lambda p: _score(found[p].fitness))
        else:
            nxt = parents[0]
        path.append(nxt)
        seen.add(nxt)
        current = found[nxt]
    return path


def _score(fitness: float | None) -> float:
    return -math.inf if fitness is None else fitness


def best_parent_fitness(found: dict[int, Node], child: Node) -> tuple[int | None, float | None]:
    """The fittest parent of ``child`` among ``found`` and its fitness (None, None if none has)."""
    best: tuple[int | None, float | None] = (None, None)
    for p in child.parents:
        parent = found.get(p)
        if parent is not None and parent.fitness is not None and (
                best[1] is None or parent.fitness > best[1]):
            best = (p, parent.fitness)
    return best


# ------------------------------------------------------------------------------ graphs
def lineage_graph(journal: Journal, *, genomes: bool = False,
                  parse_genomes: bool = True) -> nx.DiGraph:
    """The family tree of the whole run.

    Nodes are individual ids with attributes ``op``, ``status``, ``hash`` and, where known,
    ``fitness`` and ``generation`` (and ``genome``, the JSON dict, with ``genomes=True``). Edges
    go parent -> child with ``operator`` (the record), ``op``, ``rank`` (the parent's position in
    the child's parents) and, where both fitnesses are known, ``delta`` (child minus parent).
    With ``parse_genomes=False`` the ``genome`` attribute is the JSON text.
    """
    with read_snapshot(journal):
        everyone = nodes(journal)
        texts = journal.genome_texts() if genomes else {}
    return graph_of({n.id: n for n in everyone}, texts, parse_genomes)


def graph_of(found: dict[int, Node], genome_texts: dict[int, str] | None = None,
             parse_genomes: bool = True) -> nx.DiGraph:
    """A DiGraph of the given individuals (see :func:`lineage_graph`), e.g. one ancestry.

    Equal operator records are parsed once and shared between edges: treat attribute values as
    read-only.
    """
    def node_attrs(n: Node) -> dict[str, Any]:
        attrs: dict[str, Any] = {"op": n.op, "status": n.status, "hash": n.hash}
        if n.fitness is not None:
            attrs["fitness"] = n.fitness
        if n.generation is not None:
            attrs["generation"] = n.generation
        if genome_texts and n.id in genome_texts:
            text = genome_texts[n.id]
            attrs["genome"] = json.loads(text) if parse_genomes else text
        return attrs

    records: dict[str, dict[str, Any]] = {}

    def edges() -> Iterator[tuple[int, int, dict[str, Any]]]:
        for n in found.values():
            if not n.parents:
                continue
            record = records.get(n.record)
            if record is None:
                record = records[n.record] = json.loads(n.record)
            for rank, p in enumerate(n.parents):
                parent = found.get(p)
                if parent is None:
                    continue
                attrs = {"operator": record, "op": n.op, "rank": rank}
                if n.fitness is not None and parent.fitness is not None:
                    attrs["delta"] = n.fitness - parent.fitness
                yield p, n.id, attrs

    graph = nx.DiGraph()
    graph.add_nodes_from((n.id, node_attrs(n)) for n in found.values())
    graph.add_edges_from(edges())
    return graph


def export(journal: Journal, path: str | Path) -> nx.DiGraph:
    """Write the whole family tree to ``path``, the format chosen by its suffix.

    * ``.graphml``: opens in Gephi and ``networkx.read_graphml`` (``node_type=int`` gives integer
      ids back); records and genomes are JSON text attributes (GraphML holds only scalars).
    * ``.dot``: Graphviz source (``dot -Tsvg``), nodes labelled with id and fitness, edges with the
      operator.
    * ``.json``: node-link data, ``networkx.node_link_graph(data, edges="edges")`` reads it back.

    Returns:
        The graph written (genomes as JSON text for GraphML and JSON, left out of DOT).

    Raises:
        ConfigError: on an unknown suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ConfigError(f"{path}: unknown export format {suffix or '(none)'!r}; use one of "
                          f"{', '.join(EXPORT_FORMATS)}")
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.with_name(path.name + ".writing")
    graph = lineage_graph(journal, genomes=suffix != ".dot", parse_genomes=False)
    try:
        tmp.unlink(missing_ok=True)
        with tmp.open("x", encoding="utf-8") as out:  # created new, never through a link
            if suffix == ".graphml":
                write_graphml(graph, out)
            elif suffix == ".json":
                write_node_link(graph, out)
            else:
                out.write(to_dot(graph))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return graph


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def write_node_link(graph: nx.DiGraph, out: TextIO) -> None:
    """Stream a lineage graph as node-link JSON (``networkx.node_link_data(graph,
    edges="edges")``); a ``genome`` attribute holding JSON text is embedded as JSON."""
    records: dict[int, str] = {}

    def extend(attrs: dict[str, Any], tail: str) -> str:
        """``attrs`` as a JSON object with ``tail`` (members already in JSON) added at the end."""
        head = _COMPACT.encode(attrs)[:-1]
        return f"{head}{',' if len(head) > 1 else ''}{tail}}}"

    def node(n: int, attrs: dict[str, Any]) -> str:
        genome = attrs.get("genome")
        if isinstance(genome, str):
            rest = {k: v for k, v in attrs.items() if k != "genome"}
            return extend(rest, f'"genome":{genome},"id":{n}')
        return extend(attrs, f'"id":{n}')

    def edge(u: int, v: int, attrs: dict[str, Any]) -> str:
        record = attrs.get("operator")
        rest = {k: x for k, x in attrs.items() if k != "operator"}
        if record is None:
            return extend(rest, f'"source":{u},"target":{v}')
        text = records.get(id(record))  # operator records are shared between edges
        if text is None:
            text = records[id(record)] = _COMPACT.encode(record)
        return extend(rest, f'"operator":{text},"source":{u},"target":{v}')

    out.write('{"directed":true,"multigraph":false,"graph":{},"nodes":[')
    out.write(",".join(node(n, a) for n, a in graph.nodes(data=True)))
    out.write('],"edges":[')
    out.write(",".join(edge(u, v, a) for u, v, a in graph.edges(data=True)))
    out.write("]}")


_GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def write_graphml(graph: nx.DiGraph, out: TextIO) -> None:
    """Stream a lineage graph as GraphML (what ``networkx.write_graphml`` writes, much faster).

    Dict and list attribute values are written as JSON text; None values are left out.
    """
    def text(value: Any, memo: dict[int, str]) -> str:
        if isinstance(value, dict | list):
            done = memo.get(id(value))  # operator records are shared between edges
            if done is None:
                done = memo[id(value)] = json.dumps(value, separators=(",", ":"))
            return escape(done)
        if isinstance(value, bool):
            return "true" if value else "false"
        return escape(repr(value) if isinstance(value, float) else str(value))

    def kinds(items: Iterator[dict[str, Any]]) -> dict[str, str]:
        found: dict[str, str] = {}
        for attrs in items:
            for k, v in attrs.items():
                if v is None or k in found and found[k] != "long":
                    continue
                kind = "string" if isinstance(v, dict | list) else _GRAPHML_TYPES.get(type(v),
                                                                                      "string")
                found[k] = "double" if found.get(k) == "long" and kind == "double" else kind
        return found

    node_keys = kinds(a for _, a in graph.nodes(data=True))
    edge_keys = kinds(a for _, _, a in graph.edges(data=True))
    ids = {("node", k): f"n{i}" for i, k in enumerate(node_keys)}
    ids.update({("edge", k): f"e{i}" for i, k in enumerate(edge_keys)})
    out.write("<?xml version='1.0' encoding='utf-8'?>\n"
              '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
              'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
              'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
              'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')
    for where, keys in (("node", node_keys), ("edge", edge_keys)):
        for k, kind in keys.items():
            out.write(f'  <key id="{ids[where, k]}" for="{where}" attr.name="{escape(k)}" '
                      f'attr.type="{kind}" />\n')
    out.write('  <graph edgedefault="directed">\n')
    memo: dict[int, str] = {}
    for n, attrs in graph.nodes(data=True):
        data = "".join(f'<data key="{ids["node", k]}">{text(v, memo)}</data>'
                       for k, v in attrs.items() if v is not None)
        out.write(f'    <node id="{n}">{data}</node>\n')
    for u, v, attrs in graph.edges(data=True):
        data = "".join(f'<data key="{ids["edge", k]}">{text(x, memo)}</data>'
                       for k, x in attrs.items() if x is not None)
        out.write(f'    <edge source="{u}" target="{v}">{data}</edge>\n')
    out.write("  </graph>\n</graphml>\n")


def to_dot(graph: nx.DiGraph) -> str:
    """Graphviz source of a lineage graph."""
    def quote(text: str) -> str:
        return '"' + text.replace('"', '\\"') + '"'

    lines = ["digraph lineage {", "  rankdir=TB;", "  node [shape=box, fontsize=10];"]
    for n, attrs in graph.nodes(data=True):
        fitness = attrs.get("fitness")
        second = attrs["status"] if fitness is None else f"{fitness:.4g}"
        lines.append(f'  {n} [label="#{n}\\n{second}"];')
    for u, v, attrs in graph.edges(data=True):
        lines.append(f"  {u} -> {v} [label={quote(attrs['op'])}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ operators
@dataclass(frozen=True)
class OperatorRow:
    """What one operator did, over the whole run or one window.

    Attributes:
        operator: the operator's name.
        children: individuals it made.
        compared: children with a fitness whose parents have one too (what the shares are over).
        improved: compared children fitter than their best parent.
        failed: children whose evaluation failed.
        cached: children whose genome an earlier individual already had.
        pending: children not evaluated yet.
        mean_change: mean of (child fitness - best parent fitness) over compared children.
        best_change: the largest such change.
    """

    operator: str
    children: int
    compared: int
    improved: int
    failed: int
    cached: int
    pending: int
    mean_change: float | None
    best_change: float | None

    @property
    def improved_share(self) -> float | None:
        """The share of compared children that beat their best parent."""
        return self.improved / self.compared if self.compared else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "improved_share": self.improved_share}


@dataclass(frozen=True)
class OperatorWindow:
    """Operator rows over the individuals with ids in ``[start, end)``."""

    start: int
    end: int
    rows: list[OperatorRow]

    def row(self, operator: str) -> OperatorRow | None:
        return next((r for r in self.rows if r.operator == operator), None)


@dataclass(frozen=True)
class OperatorStats:
    """The operator table: :attr:`rows` over the whole run, :attr:`windows` over time."""

    rows: list[OperatorRow]
    windows: list[OperatorWindow]

    def row(self, operator: str) -> OperatorRow | None:
        return next((r for r in self.rows if r.operator == operator), None)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows],
                "windows": [{"start": w.start, "end": w.end,
                             "rows": [r.to_dict() for r in w.rows]} for w in self.windows]}


def _operator_rows(names: list[str], op: np.ndarray, status: np.ndarray, change: np.ndarray
                   ) -> list[OperatorRow]:
    """Operator rows of one group of children, from columns (op index, status code, change)."""
    k = len(names)
    children = np.bincount(op, minlength=k)
    counts = {code: np.bincount(op[status == code], minlength=k) for code in range(4)}
    compared = ~np.isnan(change)
    n_compared = np.bincount(op[compared], minlength=k)
    improved = np.bincount(op[compared & (change > 0)], minlength=k)
    sums = np.bincount(op[compared], weights=change[compared], minlength=k)
    best = np.full(k, -np.inf)
    np.maximum.at(best, op[compared], change[compared])
    rows = [OperatorRow(names[j], int(children[j]), int(n_compared[j]), int(improved[j]),
                        int(counts[_FAILED][j]), int(counts[_CACHED][j]),
                        int(counts[_PENDING][j]),
                        float(sums[j] / n_compared[j]) if n_compared[j] else None,
                        float(best[j]) if n_compared[j] else None)
            for j in range(k) if children[j]]
    return sorted(rows, key=lambda r: (-r.children, r.operator))


_STATUS_CODES = {Status.OK: 0, Status.FAILED: 1, Status.CACHED: 2, PENDING: 3}
_FAILED, _CACHED, _PENDING = 1, 2, 3


def _slices(n: int, windows: int) -> list[tuple[int, int]]:
    """``[a, b)`` index ranges splitting ``n`` items into at most ``windows`` near-equal runs."""
    if n < 1 or windows < 1:
        return []
    cuts = np.linspace(0, n, min(windows, n) + 1).round().astype(int).tolist()
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def window_bounds(ids: Sequence[int], windows: int) -> list[tuple[int, int]]:
    """Split ascending ids into at most ``windows`` near-equal runs, each ``[start, end)``."""
    return [(ids[a], ids[b] if b < len(ids) else ids[-1] + 1)
            for a, b in _slices(len(ids), windows)]


def operator_stats(journal: Journal, windows: int = 10,
                   include_cached: bool = True) -> OperatorStats:
    """Per operator: children made, share that beat their best parent, mean fitness change.

    A child is compared with the fittest of its parents; a child without fitness (failed,
    pending) or whose parents have none counts as made but not compared.

    Args:
        journal: the run's journal.
        windows: how many windows of birth order :attr:`OperatorStats.windows` has.
        include_cached: count children whose genome was already evaluated (their fitness is a
            copy). False leaves them out entirely.
    """
    fitness: dict[int, float] = {}
    ids, ops, codes, changes = [], [], [], []
    names: dict[str, int] = {}
    nan = math.nan
    for id_, record, parents, status, value in journal.operator_rows():
        if value is not None:
            fitness[id_] = value
        if not include_cached and status == Status.CACHED:
            continue
        change = nan
        if value is not None and parents != "[]":
            known = [fitness[p] for p in _ids(parents) if p in fitness]
            if known:
                change = value - max(known)
        ids.append(id_)
        ops.append(names.setdefault(_op_name(record), len(names)))
        codes.append(_STATUS_CODES.get(status, _PENDING))
        changes.append(change)
    op = np.asarray(ops, dtype=np.int64)
    statuses = np.asarray(codes, dtype=np.int64)
    gains = np.asarray(changes, dtype=float)
    order = list(names)
    bounds = window_bounds(ids, windows)
    cuts = [a for a, _ in _slices(len(ids), windows)] + [len(ids)]
    return OperatorStats(
        _operator_rows(order, op, statuses, gains),
        [OperatorWindow(a, b, _operator_rows(order, op[i:j], statuses[i:j], gains[i:j]))
         for (a, b), i, j in zip(bounds, cuts[:-1], cuts[1:], strict=True)])


# ------------------------------------------------------------------------------ diversity
@dataclass(frozen=True)
class DiversityRow:
    """Diversity of one generation or window of birth order.

    Attributes:
        start: the first id of the group.
        end: one past its last id.
        generation: the generation (grouping by generation), else None.
        individuals: individuals in the group.
        distinct: distinct canonical hashes among them.
        new: hashes no earlier individual had.
        mean_distance: mean :func:`genome_distance` over pairs of the group (all pairs, or a
            seeded sample of them), None with fewer than two individuals.
        pairs: how many pairs the mean is over.
    """

    start: int
    end: int
    generation: int | None
    individuals: int
    distinct: int
    new: int
    mean_distance: float | None
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diversity(journal: Journal, by: str = "auto", windows: int = 20, max_pairs: int = 300,
              seed: int = 0, total_pairs: int = 20_000) -> list[DiversityRow]:
    """Distinct canonical hashes and mean genome distance per generation or window.

    Args:
        journal: the run's journal.
        by: ``generation``, ``window`` (equal runs of birth order), or ``auto``: by generation
            when every individual has one, else by window.
        windows: how many windows (``by="window"``).
        max_pairs: a group with more pairs than this gets its mean distance from this many pairs
            drawn at random (``numpy`` Generator seeded with ``seed``), so the result is stable.
        seed: the sampling seed.
        total_pairs: a budget over all groups: with many groups (thousands of generations) each
            gets ``total_pairs / groups`` pairs at most (but 10 at least), so the cost stays
            bounded.

    Raises:
        ValueError: on an unknown ``by``, or ``generation`` when some individual has none.
    """
    if by not in ("auto", "generation", "window"):
        raise ValueError(f"by: expected 'auto', 'generation' or 'window', got {by!r}")
    with read_snapshot(journal):
        rows = journal.hash_rows()
        has_generations = bool(rows) and all(r[2] is not None for r in rows)
        if by == "generation" and not has_generations:
            raise ValueError("by='generation': some individuals have no generation")
        if by == "generation" or (by == "auto" and has_generations):
            by_gen: dict[int, list[tuple]] = {}
            for r in rows:
                generation = r[2]
                assert generation is not None  # checked above: every individual has one
                by_gen.setdefault(generation, []).append(r)
            groups: list[tuple[int | None, list[tuple]]] = [(g, by_gen[g]) for g in sorted(by_gen)]
        else:
            groups = [(None, list(rows[a:b])) for a, b in _slices(len(rows), windows)]
        rng = np.random.default_rng(seed)
        per_group = min(max_pairs, max(10, total_pairs // max(1, len(groups))))
        sampled = [_pairs(len(members), per_group, rng) for _, members in groups]
        wanted = sorted({members[k][0] for (_, members), pairs in zip(groups, sampled, strict=True)
                         for pair in pairs for k in pair})
        keys = _genome_keys(journal, wanted)
    seen: set[str] = set()
    out = []
    for (generation, members), pairs in zip(groups, sampled, strict=True):
        hashes = {r[1] for r in members}
        new = len(hashes - seen)
        seen |= hashes
        dists = [key_distance(keys[members[i][0]], keys[members[j][0]]) for i, j in pairs]
        out.append(DiversityRow(
            start=min(r[0] for r in members), end=max(r[0] for r in members) + 1,
            generation=generation, individuals=len(members), distinct=len(hashes), new=new,
            mean_distance=math.fsum(dists) / len(dists) if dists else None, pairs=len(dists)))
    return out


def _pairs(n: int, max_pairs: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """All index pairs of ``n`` items, or ``max_pairs`` of them drawn at random."""
    if n < 2:
        return []
    if n * (n - 1) // 2 <= max_pairs:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    first = rng.integers(0, n, size=max_pairs)
    second = rng.integers(0, n - 1, size=max_pairs)
    second = second + (second >= first)
    return list(zip(first.tolist(), second.tolist(), strict=True))


def _genome_keys(journal: Journal, ids: list[int]) -> dict[int, Any]:
    """Distance keys of the given individuals; equal genome texts (repeats) are parsed once."""
    keys: dict[int, Any] = {}
    by_text: dict[str, Any] = {}
    for id_, text in journal.genome_texts(ids).items():
        key = by_text.get(text)
        if key is None:
            try:
                key = by_text[text] = genome_key(json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError, IndexError,
                    RecursionError) as exc:
                raise JournalError(f"{journal.path}: individuals[{id_}].genome: not a "
                                   f"genome this code reads ({type(exc).__name__})") from None
        keys[id_] = key
    return keys
