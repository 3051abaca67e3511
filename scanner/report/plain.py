r"""Strings from a cluster, a registry or a file made safe for a terminal.

Every rich renderer (``report.terminal``, ``report.manifest_report``, the scenario
terminal) and the CLI's error line pass cluster-supplied strings through :func:`clean`
and hand rich a ``Text`` (:func:`text`), never a markup string: ``[/]`` in a 403 message
or ``[link=…]`` in an object name is shown as typed, and control characters (ESC
sequences that recolour or retitle the terminal, carriage returns that overwrite a line,
bidirectional overrides that reorder it) are shown as ``\xNN``/``\uNNNN`` escapes.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["clean", "text"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, *, lines: bool = False) -> str:
    """``value`` as inert text: control and bidi characters escaped.

    Args:
        value: the text (``str()`` of anything else).
        lines: keep line breaks (for the project's own multi-line messages, such as an
            error and its hint); otherwise the result is one line.
    """
    if lines:
        return "\n".join(_UNSAFE.sub(_escape, line) for line in str(value).split("\n"))
    return _UNSAFE.sub(_escape, str(value))


def text(value: object, style: str = "") -> Text:
    """A rich ``Text`` of :func:`clean` ``(value)`` (never parsed as markup)."""
    return Text(clean(value), style=style)
