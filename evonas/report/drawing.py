"""Genomes as pictures: Graphviz when its ``dot`` program is installed, matplotlib otherwise.

:func:`genome_layout` turns a genome's JSON form into nodes and labelled edges; :func:`draw_genome`
renders them as PNG bytes. DAG genomes draw their nodes left to right in topological order with
each edge labelled by its op (``none`` edges dashed). CPPN genomes draw in columns: inputs, hidden
nodes by depth, outputs, each connection labelled by its weight (disabled ones dashed).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import networkx as nx
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from genomes.space import ZERO_OPS

#: Seconds ``dot`` may take before the matplotlib drawing is used instead.
DOT_TIMEOUT = 20.0


@dataclass(frozen=True)
class GenomeLayout:
    """A genome as a labelled graph.

    Attributes:
        nodes: ``(id, label)`` in drawing order.
        edges: ``(src, dst, label, dashed)``.
        title: a one-line description.
        layers: each node's column (inputs first); None puts the nodes on one line in order.
    """

    nodes: list[tuple[int, str]]
    edges: list[tuple[int, int, str, bool]]
    title: str
    layers: dict[int, int] | None = None


def genome_layout(genome: dict[str, Any]) -> GenomeLayout:
    """The drawable graph of a genome's JSON form (``dag`` or ``cppn``).

    Raises:
        ValueError: for a genome kind this module cannot draw.
    """
    kind = genome.get("kind")
    if kind == "dag":
        n = int(genome["num_nodes"])
        widths = genome.get("widths") or []
        nodes = []
        for k in range(n):
            name = "in" if k == 0 else "out" if k == n - 1 else str(k)
            nodes.append((k, f"{name}\n{widths[k]}" if widths else name))
        edges = [(int(s), int(d), str(op), op in ZERO_OPS) for s, d, op in genome["edges"]]
        return GenomeLayout(nodes, edges, f"DAG genome ({genome.get('space')}), {n} nodes")
    if kind == "cppn":
        return _cppn_layout(genome)
    raise ValueError(f"kind: cannot draw genome kind {kind!r}")


def _cppn_layout(genome: dict[str, Any]) -> GenomeLayout:
    """Inputs in the first column, outputs in the last, hidden nodes by longest forward path.

    Disabled connections are dashed; recurrent ones (read in innovation order, those that would
    close a cycle) are labelled ``rec``.
    """
    n_in, n_out = int(genome["num_inputs"]), int(genome["num_outputs"])
    labels = {k: f"in {k}" for k in range(n_in)}
    for node_id, activation, bias in genome["nodes"]:
        role = "out " if n_in <= node_id < n_in + n_out else ""
        labels[int(node_id)] = f"{role}{node_id}\n{activation}\n{float(bias):+.2f}"
    forward = nx.DiGraph()
    forward.add_nodes_from(labels)
    edges = []
    for _, src, dst, weight, enabled in sorted(genome["connections"]):
        src, dst = int(src), int(dst)
        recurrent = src == dst or (forward.has_node(dst) and nx.has_path(forward, dst, src))
        if not recurrent:
            forward.add_edge(src, dst)
        edges.append((src, dst, f"{float(weight):+.2f}" + (" rec" if recurrent else ""),
                      not enabled))
    layers = dict.fromkeys(range(n_in), 0)
    for k in nx.topological_sort(forward):
        if k not in layers:
            preds = [layers[p] for p in forward.predecessors(k) if p in layers]
            layers[k] = 1 + max(preds, default=0)
    outputs = range(n_in, n_in + n_out)
    last = 1 + max((v for k, v in layers.items() if k not in outputs), default=0)
    for k in outputs:
        layers[k] = last
    order = sorted(labels, key=lambda k: (layers[k], k))
    return GenomeLayout([(k, labels[k]) for k in order], edges,
                        f"CPPN genome, {len(labels)} nodes, {len(edges)} connections", layers)


def to_dot(layout: GenomeLayout) -> str:
    """Graphviz source of a genome layout (left to right)."""
    def quote(text: str) -> str:
        return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = ["digraph genome {", "  rankdir=LR;",
             '  node [shape=circle, fontsize=11, style=filled, fillcolor="#dbe8f6"];',
             "  edge [fontsize=10];"]
    lines += [f"  n{k} [label={quote(label)}];" for k, label in layout.nodes]
    for s, d, label, dashed in layout.edges:
        style = ', style=dashed, color="#999999", fontcolor="#999999"' if dashed else ""
        lines.append(f"  n{s} -> n{d} [label={quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_program() -> str | None:
    """The path of Graphviz's ``dot``, or None when it is not installed."""
    return shutil.which("dot")


def draw_genome(genome: dict[str, Any], engine: str = "auto") -> tuple[bytes, str]:
    """A genome as a PNG image.

    Args:
        genome: the genome's JSON form.
        engine: ``graphviz``, ``matplotlib``, or ``auto`` (Graphviz when ``dot`` is installed and
            succeeds, matplotlib otherwise).

    Returns:
        The PNG bytes and the engine that drew them.

    Raises:
        ValueError: for a genome kind that cannot be drawn, or ``graphviz`` without ``dot``.
    """
    layout = genome_layout(genome)
    if engine in ("auto", "graphviz"):
        program = dot_program()
        if program is None and engine == "graphviz":
            raise ValueError("engine: Graphviz's dot program is not installed")
        if program is not None:
            try:
                done = subprocess.run([program, "-Tpng", "-Gdpi=110"],
                                      input=to_dot(layout).encode(), capture_output=True,
                                      timeout=DOT_TIMEOUT, check=True)
                if done.stdout.startswith(b"\x89PNG"):
                    return done.stdout, "graphviz"
            except (OSError, subprocess.SubprocessError):
                pass
            if engine == "graphviz":
                raise ValueError("engine: Graphviz's dot failed on this genome")
    return _matplotlib_png(layout), "matplotlib"


def _matplotlib_png(layout: GenomeLayout) -> bytes:
    n = len(layout.nodes)
    step = 2.0  # room for an op label between neighbours
    if layout.layers is None:
        position = {k: (step * i, 0.0) for i, (k, _) in enumerate(layout.nodes)}
        columns, rows = n, 1
    else:
        column: dict[int, list[int]] = {}
        for k, _ in layout.nodes:
            column.setdefault(layout.layers[k], []).append(k)
        position = {k: (step * layer, 1.4 * (i - (len(ks) - 1) / 2))
                    for layer, ks in column.items() for i, k in enumerate(ks)}
        columns, rows = max(column) + 1, max(len(ks) for ks in column.values())
    width = max(4.0, 2.0 * columns)
    fig = Figure(figsize=(width, 3.2 + 0.15 * len(layout.edges) + 1.2 * (rows - 1)), dpi=100)
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.axis("off")
    radius = 0.3 if layout.layers is None else 0.42
    circles = {}
    for k, label in layout.nodes:
        x, y = position[k]
        circles[k] = Circle((x, y), radius, facecolor="#dbe8f6", edgecolor="#2b4c7e", zorder=3)
        ax.add_patch(circles[k])
        ax.text(x, y, label, ha="center", va="center", fontsize=8, zorder=4)
    span_max = 1.0
    for turn, (s, d, label, dashed) in enumerate(layout.edges):
        (x1, y1), (x2, y2) = position[s], position[d]
        if s == d:  # a self-loop: its weight goes under the node
            ax.text(x1, y1 - radius - 0.15, f"loop {label}", ha="center", va="top", fontsize=7)
            continue
        span = abs(x2 - x1)
        span_max = max(span_max, span)
        if layout.layers is None:
            rad = 0.0 if span <= step else (0.35 if turn % 2 else -0.35)
        elif x2 <= x1:
            rad = 0.45  # a back edge bends away from the forward ones
        else:  # an edge skipping columns bends around the nodes between
            rad = 0.0 if span <= step else (0.25 if turn % 2 else -0.25)
        color = "#9a9a9a" if dashed else "#2b4c7e"
        ax.add_patch(FancyArrowPatch(
            (x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
            mutation_scale=12, patchA=circles[s], patchB=circles[d], shrinkA=1, shrinkB=1,
            color=color, linestyle="--" if dashed else "-", linewidth=1.3))
        # the middle of arc3's quadratic Bezier: halfway from the chord's middle to its control
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        lx, ly = mx + 0.5 * rad * (y2 - y1), my - 0.5 * rad * (x2 - x1)
        ax.text(lx, ly, label, ha="center", va="center", fontsize=8, color=color, zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    ys = [y for _, y in position.values()]
    reach = 0.5 * 0.4 * span_max + 0.6
    ax.set_xlim(-0.8, step * (columns - 1) + 0.8)
    ax.set_ylim(min(ys) - reach, max(ys) + reach)
    ax.set_title(layout.title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
