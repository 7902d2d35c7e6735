"""HTML building blocks of the report: one self-contained page, images inlined as base64.

The page loads nothing from anywhere (no scripts, fonts or stylesheets outside it), so it opens
offline and can be mailed as one file. Every piece of text from the run is escaped.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f5f9; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.note { color: #666; font-style: italic; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
"""


def esc(value: object) -> str:
    """Text escaped for HTML."""
    return html.escape(str(value), quote=True)


def figure(fig_id: str, png: bytes, alt: str, caption: str = "") -> str:
    """A ``<figure>`` holding a PNG as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f'<figure id="{esc(fig_id)}"><img alt="{esc(alt)}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>')


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], table_id: str = "",
          numeric: Sequence[int] = ()) -> str:
    """A table; ``numeric`` column indices are right-aligned. Cells are escaped."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if k in numeric else f"<td>{esc(c)}</td>"
            for k, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def definitions(items: Sequence[tuple[str, object]]) -> str:
    """A summary list of ``(term, value)``."""
    inner = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f'<dl class="summary">{inner}</dl>'


def section(sec_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(sec_id)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, sections: Sequence[str]) -> str:
    """The whole document."""
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_STYLE}</style></head>\n"
            f"<body><h1>{esc(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader never sees half a file (a temporary file renamed into place).

    The temporary file is created new (never through a symbolic link left at its name).

    Raises:
        ConfigError: when the folder does not exist or cannot be written, in one line.
    """
    from evonas.config import ConfigError

    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        with tmp.open("x", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
