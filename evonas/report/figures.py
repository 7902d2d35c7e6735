"""The report's charts, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes plain data and returns PNG bytes, so the charts are easy to test and the HTML
embeds them as they are.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from evonas.analysis.lineage import DiversityRow, Node, OperatorStats
from evonas.objectives import Objective

#: Colours of operators, assigned in order of first appearance.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
#: Individuals with their ids printed next to them in the ancestry chart, at most.
LABELLED_ANCESTORS = 30


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def colours(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per name."""
    out: dict[str, str] = {}
    for name in names:
        if name not in out:
            out[name] = PALETTE[len(out) % len(PALETTE)]
    return out


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    """The range of ``values`` with far low outliers cut (below the 2nd percentile minus half
    the inter-quartile-to-top span)."""
    high = float(values.max())
    floor = float(np.percentile(values, 2))
    q25 = float(np.percentile(values, 25))
    low = max(float(values.min()), floor - 0.5 * (high - q25))
    return low, high


def progress_figure(found: Sequence[Node]) -> bytes:
    """Every evaluation's fitness by birth order, failures marked, and the best so far."""
    fig = Figure(figsize=(10, 4.2))
    ax = fig.add_subplot()
    ids = np.array([n.id for n in found], dtype=float)
    fitness = np.array([np.nan if n.fitness is None else n.fitness for n in found], dtype=float)
    status = np.array([n.status for n in found])
    small = 12 if len(found) < 2000 else 3
    have = ~np.isnan(fitness)
    low, high = _robust_range(fitness[have]) if have.any() else (0.0, 1.0)
    below = have & (fitness < low)  # a few very poor individuals would squash the rest flat
    for name, colour, alpha in (("ok", "#1f77b4", 0.7), ("cached", "#9ecae1", 0.5)):
        pick = (status == name) & have & ~below
        if pick.any():
            ax.scatter(ids[pick], fitness[pick], s=small, c=colour, alpha=alpha, linewidths=0,
                       label="evaluated" if name == "ok" else "cached copy", rasterized=True)
    if below.any():
        ax.scatter(ids[below], np.full(below.sum(), low), marker="v", s=small * 1.5,
                   c="#7f7f7f", label=f"below {low:.4g} (drawn at the edge)", rasterized=True)
    failed = status == "failed"
    if failed.any():
        ax.scatter(ids[failed], np.full(failed.sum(), low), marker="x", s=small * 2,
                   c="black", label="failed (drawn at the edge)", rasterized=True)
    if have.any():
        best = np.fmax.accumulate(np.where(have, fitness, -np.inf))
        start = int(np.argmax(have))
        ax.step(ids[start:], best[start:], where="post", color="#d62728", linewidth=1.8,
                label="best so far")
        pad = 0.04 * (high - low) or 1.0
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("individual (birth order)")
    ax.set_ylabel("fitness")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Fitness of every individual and the best so far")
    return _png(fig)


def pareto_figure(values: np.ndarray, mask: np.ndarray, objectives: Sequence[Objective],
                  ids: Sequence[int]) -> bytes:
    """The first two objectives of every evaluation, the Pareto front highlighted."""
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    x, y = values[:, 0], values[:, 1]
    ax.scatter(x[~mask], y[~mask], s=10, c="#9ecae1", linewidths=0, label="dominated",
               rasterized=True)
    order = np.argsort(x[mask])
    ax.plot(x[mask][order], y[mask][order], "o-", color="#d62728", markersize=5,
            drawstyle="steps-post" if len(order) > 1 else "default", label="Pareto front")
    front_ids = np.asarray(ids)[mask][order]
    if len(front_ids) <= 20:
        for fx, fy, i in zip(x[mask][order], y[mask][order], front_ids, strict=True):
            ax.annotate(f"#{i}", (fx, fy), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(str(objectives[0]))
    ax.set_ylabel(str(objectives[1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Pareto front ({int(mask.sum())} of {len(mask)} evaluations)")
    return _png(fig)


def ancestry_figure(found: dict[int, Node], root: int, path: Sequence[int]) -> bytes:
    """The ancestry of ``root`` as a tree: birth order across, fitness up, edges by operator.

    ``path`` (root first) is drawn bold: the chain of :func:`evonas.analysis.lineage.path_to_root`.
    """
    fig = Figure(figsize=(10, 5))
    ax = fig.add_subplot()
    known = [n.fitness for n in found.values() if n.fitness is not None]
    floor = min(known) if known else 0.0

    def y(n: Node) -> float:
        return floor if n.fitness is None else n.fitness

    palette = colours([found[k].op for k in sorted(found)])
    segments: dict[str, list] = {}
    for n in found.values():
        for p in n.parents:
            if p in found:
                segments.setdefault(n.op, []).append([(p, y(found[p])), (n.id, y(n))])
    for op, segs in segments.items():
        ax.add_collection(LineCollection(segs, colors=palette[op], linewidths=1.0, alpha=0.8,
                                         label=op))
    on_path = set(path)
    xs = [path[k] for k in range(len(path))]
    ax.plot(xs, [y(found[k]) for k in xs], color="black", linewidth=2.2, alpha=0.35,
            label="path to the root")
    for n in found.values():
        marker = "x" if n.fitness is None else "o"
        ax.scatter([n.id], [y(n)], s=30 if n.id in on_path else 14, marker=marker,
                   c=palette[n.op], edgecolors="black" if n.id in on_path else "none",
                   linewidths=0.6, zorder=3)
    if len(found) <= LABELLED_ANCESTORS:
        for n in found.values():
            ax.annotate(f"#{n.id}", (n.id, y(n)), textcoords="offset points", xytext=(3, 4),
                        fontsize=7)
    best = found[root]
    ax.scatter([best.id], [y(best)], s=140, marker="*", c="gold", edgecolors="black", zorder=4,
               label=f"#{root}")
    ax.autoscale()
    ax.set_xlabel("individual (birth order)")
    ax.set_ylabel("fitness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Ancestry of #{root}: {len(found) - 1} ancestors, "
                 f"{len(path) - 1} steps to the root")
    return _png(fig)


def operators_figure(stats: OperatorStats) -> bytes:
    """Children per operator and the share that beat their best parent, window by window."""
    fig = Figure(figsize=(10, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    names = [r.operator for r in stats.rows]
    palette = colours(names)
    mids = [(w.start + w.end - 1) / 2 for w in stats.windows]
    widths = [max(1.0, 0.9 * (w.end - w.start)) for w in stats.windows]
    base = np.zeros(len(stats.windows))
    for name in names:
        rows = [w.row(name) for w in stats.windows]
        counts = np.array([0.0 if r is None else float(r.children) for r in rows])
        top.bar(mids, counts, width=widths, bottom=base, color=palette[name], label=name)
        base += counts
        shares = [None if r is None else r.improved_share for r in rows]
        pts = [(m, s) for m, s in zip(mids, shares, strict=True) if s is not None]
        if pts:
            bottom.plot(*zip(*pts, strict=True), "o-", color=palette[name], label=name,
                        markersize=4)
    top.set_ylabel("children")
    top.set_ylim(0, max(1.0, float(base.max()) if len(base) else 1.0) * 1.05)
    if names:
        top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.set_title("Operators over time")
    bottom.set_ylabel("share fitter than\nbest parent")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlabel("individual (birth order)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _png(fig)


def alphas_figure(history: Sequence[dict], ops: Sequence[str],
                  edges: Sequence[tuple[int, int]]) -> bytes:
    """A differentiable search's architecture weights over epochs: one panel per cell edge, one
    line per op (the softmax of the edge's alphas)."""
    epochs = [h["epoch"] for h in history]
    weights = np.array([h["alphas"] for h in history], dtype=float)  # (epochs, edges, ops)
    weights = np.exp(weights - weights.max(axis=2, keepdims=True))
    weights /= weights.sum(axis=2, keepdims=True)
    columns = min(3, len(edges))
    rows = -(-len(edges) // columns)
    fig = Figure(figsize=(4 * columns, 2.6 * rows))
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    palette = colours(ops)
    for index, (src, dst) in enumerate(edges):
        ax = axes[index]
        for k, name in enumerate(ops):
            ax.plot(epochs, weights[:, index, k], color=palette[name], label=name)
        ax.set_title(f"edge {src} -> {dst}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(edges):]:
        ax.set_visible(False)
    axes[0].set_ylabel("softmax(alpha)")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Architecture weights per epoch")
    fig.tight_layout()
    return _png(fig)


def diversity_figure(rows: Sequence[DiversityRow]) -> bytes:
    """Distinct and new canonical hashes per group, and the mean genome distance."""
    fig = Figure(figsize=(10, 4.2))
    ax = fig.add_subplot()
    by_generation = bool(rows) and rows[0].generation is not None
    x = [float(r.generation) if by_generation and r.generation is not None
         else (r.start + r.end - 1) / 2 for r in rows]
    ax.plot(x, [r.distinct / r.individuals for r in rows], "o-", color="#1f77b4",
            label="distinct hashes / individuals", markersize=4)
    ax.plot(x, [r.new / r.individuals for r in rows], "s--", color="#2ca02c",
            label="new hashes / individuals", markersize=4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of the group")
    ax.set_xlabel("generation" if by_generation else "individual (birth order)")
    right = ax.twinx()
    pts = [(xi, r.mean_distance) for xi, r in zip(x, rows, strict=True)
           if r.mean_distance is not None]
    if pts:
        right.plot(*zip(*pts, strict=True), "^-", color="#d62728", label="mean genome distance",
                   markersize=4)
    right.set_ylabel("mean genome distance (edits)")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    ax.set_title("Diversity " + ("per generation" if by_generation else "over time"))
    return _png(fig)
