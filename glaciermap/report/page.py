"""The report's HTML: one self-contained page (inline CSS, images as data URIs, no script).

Every value that comes from the data (ids, names, statuses, provenance) passes through :func:`esc`
(``html.escape``, quotes included) before it enters the page; numbers are formatted, never pasted.
The page is built from small functions, one per section, each returning an HTML fragment.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a;
       max-width: 1100px; margin: 1.5em auto; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
.sub { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.6em; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.4em 0.8em; min-width: 7em;
        background: #fafafa; }
.card b { display: block; font-size: 1.25em; }
.card span { color: #555; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: middle; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
.note { color: #555; font-style: italic; }
.neg { color: #b2182b; } .pos { color: #2166ac; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dl.prov dt { font-weight: bold; } dl.prov dd { margin: 0; word-break: break-all; }
code { font-size: 0.9em; }
footer { margin-top: 2em; color: #777; font-size: 0.85em; }
"""

MISSING = "—"


def esc(value: Any) -> str:
    """A data value as escaped HTML text (``—`` for None / NaN)."""
    if _missing(value):
        return MISSING
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def number(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A number with ``digits`` decimals (``+`` sign if ``signed``), ``—`` if missing."""
    if _missing(value):
        return MISSING
    try:
        x = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if math.isnan(x):
        return MISSING
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


class Cell:
    """A table cell: escaped text or a number (right-aligned, coloured by sign when ``signed``)."""

    def __init__(self, html_text: str, *, numeric: bool = False, css: str = "") -> None:
        self.html = html_text
        self.numeric = numeric
        self.css = css

    @classmethod
    def text(cls, value: Any) -> Cell:
        return cls(esc(value))

    @classmethod
    def num(cls, value: Any, digits: int = 2, *, signed: bool = False) -> Cell:
        css = ""
        if signed and not _missing(value):
            try:
                css = "neg" if float(value) < 0 else "pos" if float(value) > 0 else ""
            except (TypeError, ValueError):
                css = ""
        return cls(number(value, digits, signed=signed), numeric=True, css=css)

    @classmethod
    def image(cls, uri: str, alt: str) -> Cell:
        return cls(f'<img src="{esc(uri)}" alt="{esc(alt)}" width="192" height="192">')

    def render(self) -> str:
        classes = " ".join(c for c in ("num" if self.numeric else "", self.css) if c)
        attribute = f' class="{classes}"' if classes else ""
        return f"<td{attribute}>{self.html}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, table_id: str) -> str:
    """An HTML table; ``headers`` are code's own words (escaped all the same)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(c.render() for c in row) + "</tr>" for row in rows)
    return (
        f'<table id="{esc(table_id)}">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures: ``(value HTML, caption)`` pairs."""
    inner = "".join(
        f'<div class="card"><b>{value}</b><span>{esc(label)}</span></div>' for value, label in items
    )
    return f'<div class="cards">{inner}</div>'


def figure(uri: str, alt: str, caption: str) -> str:
    """An embedded image with a caption (``caption`` is escaped)."""
    return (
        f'<figure><img src="{esc(uri)}" alt="{esc(alt)}">'
        f'<figcaption class="note">{esc(caption)}</figcaption></figure>'
    )


def section(title: str, body: str, *, section_id: str) -> str:
    return f'<section id="{esc(section_id)}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def provenance_list(entries: Sequence[tuple[str, Any]]) -> str:
    """A definition list of provenance entries; lists become counted, foldable lists."""
    parts = []
    for key, value in entries:
        parts.append(f"<dt>{esc(key)}</dt><dd>{_provenance_value(value)}</dd>")
    return '<dl class="prov">' + "".join(parts) + "</dl>"


def _provenance_value(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return MISSING
        return provenance_list([(str(k), v) for k, v in value.items()])
    if isinstance(value, list | tuple):
        if not value:
            return MISSING
        items = "".join(f"<li>{_provenance_value(v)}</li>" for v in value)
        if len(value) <= 3:
            return f"<ul>{items}</ul>"
        return f"<details><summary>{len(value)} entries</summary><ul>{items}</ul></details>"
    if isinstance(value, str) and len(value) >= 32 and all(c in "0123456789abcdef" for c in value):
        return f"<code>{esc(value)}</code>"  # a hash: monospace, breakable
    return esc(value)


def page(*, title: str, subtitle: str, sections: Sequence[str], footer: str) -> str:
    """The whole document."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p></header>\n'
        f"{body}\n<footer>{esc(footer)}</footer>\n</body>\n</html>\n"
    )


__all__ = [
    "Cell",
    "cards",
    "esc",
    "figure",
    "note",
    "number",
    "page",
    "provenance_list",
    "section",
    "table",
]
