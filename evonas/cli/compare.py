"""``evonas compare RUN [RUN ...]``: the comparison table and the best-so-far plot.

Wired into :mod:`evonas.cli` with ``add_compare_command(sub)`` in ``build_parser``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the table of :func:`evonas.analysis.compare.compare_runs` and write the PNG."""
    from evonas.analysis.compare import compare, format_table, summary_dicts

    plot = None if args.no_plot else args.plot
    rows, summary, png = compare(args.runs, plot)
    if args.json:
        out: dict[str, Any] = {"runs": rows, "strategies": summary_dicts(summary),
                               "plot": None if png is None else str(png)}
        print(json.dumps(out, indent=2))
    else:
        print(format_table(rows))
    if png is not None:
        print(f"wrote {png}", file=sys.stderr)
    return 0


def add_compare_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` sub-command to ``evonas``'s sub-parsers; return its parser."""
    p = subparsers.add_parser(
        "compare", help="compare runs: best fitness, evaluations and device-seconds to reach it, "
                        "and a plot of best-so-far (runs grouped by strategy)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, e.g. runs/rl-*")
    p.add_argument("--plot", default="compare.png", metavar="PNG",
                   help="where to write the plot (default: compare.png)")
    p.add_argument("--no-plot", action="store_true", help="print the table only")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=cmd_compare)
    return p
