"""``evonas lineage`` and ``evonas report``: the family tree of a run, and its HTML report.

::

    evonas lineage RUN --best [--depth K]      # the ancestry of the best individual, as a tree
    evonas lineage RUN --id N [--depth K]      # ... of individual N
    evonas lineage RUN --export tree.graphml   # the whole family tree (.graphml, .dot or .json)
    evonas lineage RUN --operators [--json]    # the operator table, overall and over time
    evonas lineage RUN --diff A B              # what differs between two genomes
    evonas report RUN [--output FILE] [--objective acc:max --objective params:min]

:func:`add_commands` adds both to the ``evonas`` parser. Bad input raises
:class:`~evonas.config.ConfigError` or :class:`~evonas.storage.JournalError`, which the ``evonas``
entry point prints as one line (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evonas.config import ConfigError
from evonas.storage import JournalError, reading_journal


def add_commands(subparsers: Any) -> None:
    """Add the ``lineage`` and ``report`` subcommands to ``evonas``'s subparsers."""
    p = subparsers.add_parser("lineage", help="ancestry, family tree and operator table of a run")
    p.add_argument("run", help="run folder")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--id", type=int, metavar="N", help="print the ancestry of individual N")
    what.add_argument("--best", action="store_true",
                      help="print the ancestry of the best individual")
    what.add_argument("--export", metavar="FILE",
                      help="write the whole family tree: FILE.graphml, FILE.dot or FILE.json")
    what.add_argument("--operators", action="store_true", help="print the operator table")
    what.add_argument("--diff", nargs=2, type=int, metavar=("A", "B"),
                      help="say what differs between the genomes of individuals A and B")
    p.add_argument("--depth", type=int, metavar="K",
                   help="with --id/--best: go at most K steps back")
    p.add_argument("--windows", type=int, default=5, metavar="W",
                   help="with --operators: windows of birth order in the table over time "
                        "(default 5)")
    p.add_argument("--json", action="store_true", help="with --id/--best/--operators: print JSON")
    p.set_defaults(func=cmd_lineage)

    p = subparsers.add_parser("report", help="write a run's self-contained HTML report")
    p.add_argument("run", help="run folder (finished or still running)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="where to write (default RUN/report.html)")
    p.add_argument("--objective", action="append", metavar="METRIC[:max|:min]",
                   help="an objective of the Pareto front (repeat it; default: the config's "
                        "strategy.objectives)")
    p.set_defaults(func=cmd_report)


# ------------------------------------------------------------------------------ lineage
def cmd_lineage(args: argparse.Namespace) -> int:
    from evonas.analysis import lineage
    from evonas.run import Run

    if args.depth is not None and (args.id is None and not args.best):
        raise ConfigError("--depth: only with --id or --best")
    if args.depth is not None and args.depth < 0:
        raise ConfigError(f"--depth: must be 0 or more, got {args.depth}")
    if args.windows < 1:
        raise ConfigError(f"--windows: must be 1 or more, got {args.windows}")
    with Run(args.run) as run, reading_journal(run._journal.path):
        journal = run._journal
        try:
            if args.export:
                graph = lineage.export(journal, args.export)
                print(f"wrote {args.export} ({graph.number_of_nodes()} individuals, "
                      f"{graph.number_of_edges()} parent links)", file=sys.stderr)
                return 0
            if args.operators:
                stats = lineage.operator_stats(journal, args.windows)
                print(json.dumps(stats.to_dict(), indent=2) if args.json
                      else format_operator_table(stats))
                return 0
            if args.diff:
                print(run.diff(*args.diff))
                return 0
            if args.best:
                top = journal.best(1)
                if not top:
                    print(f"{args.run}: no successful evaluation yet", file=sys.stderr)
                    return 1
                target = top[0].individual_id
            else:
                target = args.id
            found = lineage.ancestry(journal, target)
        except KeyError as exc:
            raise JournalError(str(exc.args[0]) if exc.args else str(exc)) from None
        ladder = run.ladder(target)
        if args.json:
            tree = _ancestry_json(found, target, args.depth)
            if ladder:
                tree["rungs"] = ladder
            text = json.dumps(tree, indent=2)
        else:
            text = "\n".join(format_ancestry(found, target, args.depth))
            if ladder:
                text += "\n" + format_ladder(target, ladder)
    print(text)
    return 0


_DECISIONS = {True: "promoted", False: "stopped", None: "waiting"}


def format_ladder(individual_id: int, ladder: list[dict[str, Any]]) -> str:
    """``rungs of #12: 1 ep 0.9123 promoted -> 3 ep 0.9501 stopped``."""
    steps = []
    for step in ladder:
        fitness = step.get("fitness")
        value = f"{fitness:.4f}" if isinstance(fitness, int | float) else str(step.get("status"))
        steps.append(f"{step.get('epochs')} ep {value} "
                     f"{_DECISIONS.get(step.get('promoted'), 'stopped')}")
    return f"rungs of #{individual_id}: " + " -> ".join(steps)


def _ancestry_json(found: dict[int, Any], root: int, depth: int | None) -> dict[str, Any]:
    from evonas.analysis import lineage

    keep = _within(found, root, depth)
    return {"id": root, "path_to_root": lineage.chain(found, root),
            "individuals": [{"id": n.id, "parents": list(n.parents), "operator": n.operator,
                             "status": n.status, "fitness": n.fitness,
                             "generation": n.generation, "hash": n.hash}
                            for k, n in sorted(found.items()) if k in keep]}


def _within(found: dict[int, Any], root: int, depth: int | None) -> set[int]:
    """Ids at most ``depth`` steps back from ``root`` (all with ``depth`` None)."""
    if depth is None:
        return set(found)
    seen, frontier = {root}, [root]
    for _ in range(depth):
        frontier = [p for k in frontier for p in found[k].parents if p in found and p not in seen]
        seen.update(frontier)
    return seen


def _step_line(found: dict[int, Any], k: int, id_width: int, lineage: Any,
               words: dict[str, str]) -> str:
    """One individual of the ancestry tree (``lineage`` is :mod:`evonas.analysis.lineage`,
    imported once by the caller; ``words`` remembers records already described)."""
    n = found[k]
    if n.fitness is None:
        value = n.status
    else:
        value = f"{n.fitness:.4f}" + (" cached" if n.status == "cached" else "")
    parent_id, parent_fitness = lineage.best_parent_fitness(found, n)
    if n.parents and parent_id is not None and n.fitness is not None:
        change = f"{n.fitness - parent_fitness:+.4f} vs #{parent_id}"
    elif n.parents:
        change = "no fitness to compare"
    else:
        change = "root"
    said = words.get(n.record)
    if said is None:
        said = words[n.record] = lineage.describe_record(n.operator)
    return f"{f'#{k}':<{id_width}}  {value:>16}  {change:<{id_width + 12}}  {said}"


def format_ancestry(found: dict[int, Any], root: int, depth: int | None = None) -> list[str]:
    """The ancestry of ``root`` as text lines, a tree from ``root`` back to the roots.

    An individual with one parent is followed by that parent at the same indent; several
    parents (crossover) open branches. An ancestor reached twice is printed once and then
    referred to. ``depth`` limits how many steps back are shown.
    """
    from evonas.analysis import lineage

    path = lineage.chain(found, root)
    lines = [f"ancestry of #{root}: {len(found) - 1} ancestors, {len(path) - 1} steps back to "
             f"a root by first parents"]
    id_width = len(f"#{max(found)}")
    words: dict[str, str] = {}
    shown: set[int] = set()
    stack: list[tuple[int, str, str, int]] = [(root, "", "", 0)]
    while stack:  # a depth-first walk; iterative, since chains can be thousands long
        k, lead, cont, steps = stack.pop()
        if k in shown:
            lines.append(f"{lead}#{k} (shown above)")
            continue
        shown.add(k)
        lines.append(lead + _step_line(found, k, id_width, lineage, words))
        parents = [p for p in found[k].parents if p in found]
        if not parents:
            continue
        if depth is not None and steps >= depth:
            lines.append(f"{cont}... ({len(parents)} parent{'s' * (len(parents) > 1)} "
                         "further back, raise --depth to see them)")
            continue
        if len(parents) == 1:
            stack.append((parents[0], cont, cont, steps + 1))
            continue
        for i in reversed(range(len(parents))):
            last = i == len(parents) - 1
            stack.append((parents[i], cont + ("└─ " if last else "├─ "),
                          cont + ("   " if last else "│  "), steps + 1))
    return lines


def format_operator_table(stats: Any) -> str:
    """The operator table as aligned text: overall, then the share fitter per window."""
    def pct(share: float | None) -> str:
        return "-" if share is None else f"{share:.1%}"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:+.4f}"

    header = ["operator", "children", "compared", "fitter", "share", "mean change",
              "best change", "cached", "failed", "pending"]
    rows = [[r.operator, str(r.children), str(r.compared), str(r.improved),
             pct(r.improved_share), num(r.mean_change), num(r.best_change), str(r.cached),
             str(r.failed), str(r.pending)] for r in stats.rows]
    out = _aligned(header, rows)
    if stats.windows:
        names = [r.operator for r in stats.rows]
        out += "\n\nshare fitter than the best parent (fitter/compared), by birth order:\n"
        window_rows = []
        for w in stats.windows:
            cells = [f"{w.start}-{w.end - 1}"]
            for name in names:
                r = w.row(name)
                cells.append("-" if r is None or not r.compared
                             else f"{pct(r.improved_share)} ({r.improved}/{r.compared})")
            window_rows.append(cells)
        out += _aligned(["individuals", *names], window_rows)
    return out


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = []
    for cells in (header, *rows):
        lines.append("  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                               for k, (c, w) in enumerate(zip(cells, widths, strict=True))))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ report
def cmd_report(args: argparse.Namespace) -> int:
    from evonas.report import parse_objective, write_report
    from evonas.run import Run

    objectives = None
    if args.objective:
        objectives = [parse_objective(text, "--objective") for text in args.objective]
    with Run(args.run) as run, reading_journal(run._journal.path):
        path = write_report(run, args.output, objectives)
    print(f"wrote {path}")
    return 0
