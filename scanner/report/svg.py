"""Inline SVG pictures for the HTML report: digest bars, grade bars, workload graphs.

Called by ``report.html`` while it builds the page's view model. Every function returns
``markupsafe.Markup`` whose text and attribute values were escaped here, so templates can
insert it as is while autoescaping stays on. Pictures carry ``<title>`` tooltips and an
``aria-label``; the numbers they show are also printed as text next to them, so nothing
depends on colour or on hovering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

__all__ = [
    "DIGEST_COLOURS",
    "GRADE_COLOURS",
    "MAX_LABEL",
    "GraphEdge",
    "GraphNode",
    "Segment",
    "digest_colour",
    "escape",
    "stacked_bar",
    "workload_graph",
]

DIGEST_COLOURS = (
    "#2b6cb0", "#dd6b20", "#805ad5", "#2c7a7b", "#b83280", "#975a16", "#4a5568", "#c53030",
)
"""One colour per build of a container, in digest order (reused past eight)."""


def escape(text: str) -> str:
    """Text safe in SVG/HTML content and quoted attributes (markupsafe's rules, plain str)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


GRADE_COLOURS = {"A": "#2f855a", "B": "#68a357", "C": "#d69e2e", "D": "#dd6b20", "F": "#c53030"}


def digest_colour(index: int) -> str:
    """The colour of the ``index``-th build of a container."""
    return DIGEST_COLOURS[index % len(DIGEST_COLOURS)]


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar."""

    value: int
    colour: str
    title: str


def stacked_bar(segments: Sequence[Segment], *, label: str, width: int = 600,
                height: int = 16) -> Markup:
    """A horizontal bar split in proportion to each segment's value.

    Args:
        segments: parts in drawing order; zero values are skipped.
        label: what the bar shows, for screen readers.
        width: drawing width in user units (the bar scales to its container).
        height: bar height in pixels.
    """
    total = sum(s.value for s in segments if s.value > 0)
    parts = []
    x = 0.0
    for s in segments:
        if s.value <= 0 or total == 0:
            continue
        w = width * s.value / total
        parts.append(
            f'<rect x="{x:.1f}" width="{w:.1f}" height="{height}" fill="{escape(s.colour)}">'
            f'<title>{escape(s.title)}</title></rect>'
        )
        x += w
    if not parts:
        parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e2e8f0"/>')
    return Markup(
        f'<svg class="bar" viewBox="0 0 {width} {height}" preserveAspectRatio="none"'
        f' width="100%" height="{height}" role="img" aria-label="{escape(label)}">'
        + "".join(parts)
        + "</svg>"
    )


@dataclass(frozen=True)
class GraphNode:
    """A box in a workload graph."""

    id: str
    column: int
    """0 callers, 1 Services, 2 revisions, 3 pods, 4 builds."""
    label: str
    title: str
    """Tooltip; "" for none (the label says it all)."""
    colour: str = "#4a5568"
    dashed: bool = False
    """Drawn dashed: a pod not live (finished or terminating), an empty revision."""


@dataclass(frozen=True)
class GraphEdge:
    """A line between two boxes."""

    source: str
    target: str
    colour: str = "#a0aec0"
    dashed: bool = False
    """Drawn dashed: a Service selecting a pod that gets no traffic (not ready)."""


_COLUMN_TITLES = ("callers", "Services", "revisions", "pods", "builds")
_COL_W = 160
_GAP = 40
_ROW_H = 24
_BOX_H = 18
_TOP = 20
MAX_LABEL = 24
"""Box labels longer than this are clipped (the full text goes in the tooltip)."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def workload_graph(nodes: Sequence[GraphNode], edges: Iterable[GraphEdge], *,
                   label: str) -> Markup:
    """Columns of boxes (callers → Services → revisions → pods → builds) joined by curves.

    Empty columns are left out. Full names are in each box's ``<title>``; boxes show
    names clipped to a width.
    """
    used = sorted({n.column for n in nodes})
    x_of = {c: i * (_COL_W + _GAP) for i, c in enumerate(used)}
    rows: dict[int, int] = {}
    pos: dict[str, tuple[float, float]] = {}
    boxes = []
    for n in nodes:
        row = rows.get(n.column, 0)
        rows[n.column] = row + 1
        x = x_of[n.column]
        y = _TOP + row * _ROW_H
        pos[n.id] = (x, y + _BOX_H / 2)
        dash = ' class="d"' if n.dashed else ""
        tip = f"><title>{escape(n.title)}</title></rect>" if n.title else "/>"
        boxes.append(
            f'<rect x="{x}" y="{y}" width="{_COL_W}" height="{_BOX_H}"'
            f' stroke="{escape(n.colour)}"{dash}{tip}'
            f'<text x="{x + 6}" y="{y + 13}">{escape(_clip(n.label))}</text>'
        )
    lines = []
    for e in edges:
        if e.source not in pos or e.target not in pos:
            continue
        x1, y1 = pos[e.source]
        x2, y2 = pos[e.target]
        x1 += _COL_W
        mid = (x1 + x2) / 2
        dash = ' class="d"' if e.dashed else ""
        lines.append(
            f'<path d="M{x1:.0f},{y1:.0f}C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"'
            f' stroke="{escape(e.colour)}"{dash}/>'
        )
    heads = "".join(
        f'<text class="col" x="{x_of[c]}" y="12">{_COLUMN_TITLES[c]}</text>' for c in used
    )
    width = len(used) * (_COL_W + _GAP) - _GAP if used else _COL_W
    height = _TOP + max(rows.values(), default=1) * _ROW_H
    return Markup(
        f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(label)}">'
        + heads + "".join(lines) + "".join(boxes)
        + "</svg>"
    )
