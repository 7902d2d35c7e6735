"""Reading the report back: its title, figures (with their images), tables and links."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

from PIL import Image

FIGURES = ("fig-progress", "fig-best-genome", "fig-ancestry", "fig-operators", "fig-diversity")


class ReportPage(HTMLParser):
    """What a test needs from the page: title, figures with their images, tables, notes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.figures: dict[str, str] = {}
        self.tables: list[str] = []
        self.external: list[str] = []
        self._figure: str | None = None
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "figure":
            self._figure = a.get("id") or ""
        elif tag == "img" and self._figure is not None:
            self.figures[self._figure] = a.get("src") or ""
        elif tag == "table" and a.get("id"):
            self.tables.append(a["id"])
        for key in ("src", "href"):
            if a.get(key) and not str(a[key]).startswith("data:"):
                self.external.append(str(a[key]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def png_of(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert data.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(data))
