"""Genomes compared: an edit distance, their differences in words, operator records in words.

Everything works on a genome's JSON form (a genome object is converted with ``to_dict()``), so a
lineage query can compare genomes straight from the journal without building them.

* DAG genomes (``kind: dag``) are compared as edge lists keyed by ``(src, dst)``, plus node widths.
* CPPN genomes (``kind: cppn``) are compared gene by gene, as NEAT aligns them: connection genes by
  innovation number, node genes by id.
* Any other kind falls back to comparing the leaves of the JSON form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from genomes import GenomeError, genome_from_dict


def _as_dict(genome: Any) -> dict[str, Any]:
    return genome if isinstance(genome, dict) else genome.to_dict()


def _dag_parts(data: dict[str, Any]) -> tuple[int, dict[tuple[int, int], str], tuple[int, ...]]:
    edges = {(int(s), int(d)): str(op) for s, d, op in data["edges"]}
    return int(data["num_nodes"]), edges, tuple(data.get("widths") or ())


def _cppn_parts(data: dict[str, Any]) -> tuple[dict[int, tuple], dict[int, tuple]]:
    """Node genes by id ``(activation, bias)`` and connection genes by innovation
    ``(src, dst, weight, enabled)``."""
    nodes = {int(n[0]): (n[1], float(n[2])) for n in data["nodes"]}
    conns = {int(c[0]): (int(c[1]), int(c[2]), float(c[3]), bool(c[4]))
             for c in data["connections"]}
    return nodes, conns


def genome_key(data: dict[str, Any]) -> tuple:
    """What :func:`key_distance` compares, computed once per genome JSON dict."""
    kind = data.get("kind")
    if kind == "dag":
        return ("dag", *_dag_parts(data))
    if kind == "cppn":
        return ("cppn", *_cppn_parts(data))
    return ("other", frozenset(_leaves(data)))


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}")
    elif isinstance(value, list):
        for k, v in enumerate(value):
            yield from _leaves(v, f"{prefix}[{k}]")
    else:
        yield prefix, json.dumps(value)


def _mismatches(a: dict, b: dict) -> int:
    """Keys in only one mapping, plus keys whose values differ."""
    return sum(1 for k, v in a.items() if b.get(k, ...) != v) + sum(1 for k in b if k not in a)


def key_distance(a: tuple, b: tuple) -> float:
    """:func:`genome_distance` between two :func:`genome_key` values."""
    if a[0] != b[0]:
        return math.inf
    if a[0] == "dag":
        _, na, ea, wa = a
        _, nb, eb, wb = b
        widths = sum(1 for x, y in zip(wa, wb, strict=False) if x != y)
        return float(abs(na - nb) + _mismatches(ea, eb) + widths)
    if a[0] == "cppn":
        return float(_mismatches(a[1], b[1]) + _mismatches(a[2], b[2]))
    return float(len(a[1] ^ b[1]) / 2)


def genome_distance(a: Any, b: Any) -> float:
    """An edit distance between two genomes (genome objects or their JSON dicts).

    DAG genomes: one edit per edge present in only one genome, per edge whose op differs, per
    node whose width differs, and per node added or removed. Node numbers are taken as they are
    (no graph matching), so isomorphic genomes numbered differently are apart; equal canonical
    hashes say when two genomes compute the same function.

    CPPN genomes: one edit per gene present in only one genome (connections by innovation
    number, nodes by id) and per matching gene that differs (weight, enabled flag, activation or
    bias).

    Genomes of different kinds are infinitely apart; other kinds count differing JSON leaves.
    """
    return key_distance(genome_key(_as_dict(a)), genome_key(_as_dict(b)))


def genome_diff(a: Any, b: Any, names: tuple[str, str] = ("a", "b")) -> list[str]:
    """What differs between two genomes, one sentence per difference.

    Args:
        a: a genome or its JSON dict.
        b: another.
        names: how the sentences name them (e.g. ``("#12", "#40")``).
    """
    da, db = _as_dict(a), _as_dict(b)
    na, nb = names
    if da == db:
        return [f"{na} and {nb} are the same genome"]
    if da.get("kind") != db.get("kind"):
        return [f"{na} is a {da.get('kind')} genome, {nb} a {db.get('kind')} genome"]
    if da.get("kind") == "dag":
        out = _dag_diff(da, db, na, nb)
    elif da.get("kind") == "cppn":
        out = _cppn_diff(da, db, na, nb)
    else:
        ka, kb = dict(_leaves(da)), dict(_leaves(db))
        out = [f"{path.lstrip('.')}: {ka.get(path, 'absent')} in {na}, "
               f"{kb.get(path, 'absent')} in {nb}"
               for path in sorted(set(ka) | set(kb)) if ka.get(path) != kb.get(path)]
    if _same_function(da, db):
        out.append(f"the canonical hashes agree: {na} and {nb} compute the same function")
    return out


def _dag_diff(da: dict, db: dict, na: str, nb: str) -> list[str]:
    out = []
    if da.get("space") != db.get("space"):
        out.append(f"space: {da.get('space')} in {na}, {db.get('space')} in {nb}")
    (n_a, ea, wa), (n_b, eb, wb) = _dag_parts(da), _dag_parts(db)
    if n_a != n_b:
        out.append(f"{na} has {n_a} nodes, {nb} has {n_b}")
    for pair in sorted(set(ea) | set(eb)):
        edge = f"edge {pair[0]}->{pair[1]}"
        if pair not in eb:
            out.append(f"{edge} ({ea[pair]}) only in {na}")
        elif pair not in ea:
            out.append(f"{edge} ({eb[pair]}) only in {nb}")
        elif ea[pair] != eb[pair]:
            out.append(f"{edge}: {ea[pair]} in {na}, {eb[pair]} in {nb}")
    for k, (x, y) in enumerate(zip(wa, wb, strict=False)):
        if x != y:
            out.append(f"node {k} width: {x} in {na}, {y} in {nb}")
    return out


def _cppn_diff(da: dict, db: dict, na: str, nb: str) -> list[str]:
    out = []
    for key in ("num_inputs", "num_outputs"):
        if da.get(key) != db.get(key):
            out.append(f"{key}: {da.get(key)} in {na}, {db.get(key)} in {nb}")
    (nodes_a, conns_a), (nodes_b, conns_b) = _cppn_parts(da), _cppn_parts(db)
    for k in sorted(set(nodes_a) | set(nodes_b)):
        if k not in nodes_b:
            out.append(f"node {k} ({nodes_a[k][0]}) only in {na}")
        elif k not in nodes_a:
            out.append(f"node {k} ({nodes_b[k][0]}) only in {nb}")
        else:
            (act_a, bias_a), (act_b, bias_b) = nodes_a[k], nodes_b[k]
            if act_a != act_b:
                out.append(f"node {k} activation: {act_a} in {na}, {act_b} in {nb}")
            if bias_a != bias_b:
                out.append(f"node {k} bias: {bias_a:+.4g} in {na}, {bias_b:+.4g} in {nb}")
    for i in sorted(set(conns_a) | set(conns_b)):
        gene = conns_a.get(i) or conns_b[i]
        name = f"connection {gene[0]}->{gene[1]} (innovation {i})"
        if i not in conns_b:
            out.append(f"{name} only in {na}")
        elif i not in conns_a:
            out.append(f"{name} only in {nb}")
        else:
            ca, cb = conns_a[i], conns_b[i]
            if ca[2] != cb[2]:
                out.append(f"{name} weight: {ca[2]:+.4g} in {na}, {cb[2]:+.4g} in {nb}")
            if ca[3] != cb[3]:
                state = {True: "enabled", False: "disabled"}
                out.append(f"{name}: {state[ca[3]]} in {na}, {state[cb[3]]} in {nb}")
    return out


def _same_function(da: dict, db: dict) -> bool:
    try:
        return genome_from_dict(da).canonical_hash() == genome_from_dict(db).canonical_hash()
    except (GenomeError, AttributeError, KeyError, TypeError, ValueError):
        return False


def _edge(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) >= 2:
        text = f"{value[0]}->{value[1]}"
        return f"{text} ({value[2]})" if len(value) > 2 else text
    return str(value)


def describe_record(record: dict[str, Any]) -> str:
    """An operator record in words, e.g. ``mutate_op: edge 1->2 nor_conv_1x1 -> skip_connect``.

    Records of the DAG and NEAT operators get a sentence each; any other record is printed as its
    name and fields.
    """
    r = record
    op = str(r.get("op", "?"))
    if op == "random":
        return "random genome"
    if op == "reproduce":
        return "reproduce: a copy of the parent"
    if op == "elite":
        return f"elite: copied unchanged (species {r.get('species')})"
    if op == "mutate_op" and "edge" in r:
        return f"mutate_op: edge {_edge(r['edge'])} {r.get('from')} -> {r.get('to')}"
    if op == "add_edge" and "edge" in r:
        return f"add_edge: {_edge(r['edge'])} ({r.get('to')})"
    if op == "remove_edge" and "edge" in r:
        return f"remove_edge: {_edge(r['edge'])} ({r.get('from')})"
    if op == "add_node" and "width" in r:
        how = f"split of {_edge(r['split'])}" if r.get("split") else "insert"
        return (f"add_node: node {r.get('node')} width {r.get('width')} by {how}, "
                f"in {_edge(r.get('in_edge'))}, out {_edge(r.get('out_edge'))}")
    if op == "add_node" and "split" in r:
        return f"add_node: node {r.get('node')} splits connection {r.get('split')}"
    if op == "remove_node":
        bypass = f", bypass {_edge(r['bypass'])}" if r.get("bypass") else ""
        return f"remove_node: node {r.get('node')} width {r.get('width')}{bypass}"
    if op == "mutate_width":
        return f"mutate_width: node {r.get('node')} width {r.get('from')} -> {r.get('to')}"
    if op == "crossover_dag":
        return (f"crossover_dag: {r.get('from_a')} genes from the first parent, "
                f"{r.get('from_b')} from the second")
    if op == "add_connection":
        kind = " (recurrent)" if r.get("recurrent") else ""
        return (f"add_connection: {_edge(r.get('connection'))}{kind}, "
                f"innovation {r.get('innovation')}")
    if op in ("mutate_weights", "mutate_biases"):
        return f"{op}: {r.get('perturbed')} perturbed, {r.get('replaced')} replaced"
    if op == "mutate_activation":
        return f"mutate_activation: node {r.get('node')} {r.get('from')} -> {r.get('to')}"
    if op == "toggle_connection":
        state = "enabled" if r.get("enabled") else "disabled"
        return f"toggle_connection: innovation {r.get('innovation')} {state}"
    if op == "mutate_neat" and isinstance(r.get("steps"), list):
        steps = "; ".join(describe_record(s) for s in r["steps"] if isinstance(s, dict))
        return f"mutate_neat: {steps or 'no change'}"
    if op == "crossover_neat":
        return (f"crossover_neat: {r.get('matching')} matching, {r.get('disjoint')} disjoint, "
                f"{r.get('excess')} excess genes")
    rest = ", ".join(f"{k}={json.dumps(v)}" for k, v in r.items() if k != "op")
    return f"{op}: {rest}" if rest else op
