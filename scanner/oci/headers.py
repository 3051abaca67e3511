"""HTTP header parsing for the OCI client: ``WWW-Authenticate``, ``Link``, ``Content-Type``.

Pure functions, no I/O: the auth challenge grammar of RFC 7235 (quoted strings with
commas and escapes, token68 forms), RFC 8288 ``Link`` relations for tag pagination, and
the media type of a ``Content-Type`` value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Challenge", "media_type", "next_link", "parse_link_header", "parse_www_authenticate"]


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a lowercase scheme and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235).

    Quoted strings may hold commas and escaped quotes; parameter names are lowercased.

    Args:
        value: The header value, e.g. ``Bearer realm="https://a/token",service="reg"``.

    Returns:
        The challenges in order; an empty list when nothing parses.
    """
    challenges: list[Challenge] = []
    scheme = ""
    params: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] in " \t,":
            pos += 1
        match = _TOKEN_RE.match(value, pos)
        if not match:
            break
        token = match.group()
        pos = match.end()
        probe = pos
        while probe < end and value[probe] in " \t":
            probe += 1
        if probe < end and value[probe] == "=" and scheme:
            pos = probe + 1
            while pos < end and value[pos] in " \t":
                pos += 1
            param_value, pos = _read_param_value(value, pos)
            params[token.lower()] = param_value
            continue
        if scheme:
            challenges.append(Challenge(scheme, params))
        scheme, params = token.lower(), {}
        # token68 form (``Basic dXNlcg==``) carries no parameters we use: skip it.
        if probe < end and value[probe] != "," and not _looks_like_param(value, probe):
            while pos < end and value[pos] != ",":
                pos += 1
    if scheme:
        challenges.append(Challenge(scheme, params))
    return challenges


def _looks_like_param(value: str, pos: int) -> bool:
    match = _TOKEN_RE.match(value, pos)
    if not match:
        return False
    rest = value[match.end() :].lstrip(" \t")
    return rest.startswith("=") and not rest.startswith("==")


def _read_param_value(value: str, pos: int) -> tuple[str, int]:
    if pos < len(value) and value[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(value):
            char = value[pos]
            if char == "\\" and pos + 1 < len(value):
                out.append(value[pos + 1])
                pos += 2
                continue
            if char == '"':
                return "".join(out), pos + 1
            out.append(char)
            pos += 1
        return "".join(out), pos
    match = _TOKEN_RE.match(value, pos)
    if not match:
        return "", pos
    return match.group(), match.end()


def parse_link_header(value: str) -> dict[str, str]:
    """Map each ``rel`` of an RFC 8288 ``Link`` header to its (possibly relative) URL.

    Args:
        value: e.g. ``</v2/app/tags/list?last=b&n=2>; rel="next"``.

    Returns:
        ``{"next": "/v2/app/tags/list?last=b&n=2"}``; the first URL wins per rel.
    """
    links: dict[str, str] = {}
    for match in re.finditer(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)", value):
        target, attributes = match.group(1).strip(), match.group(2)
        rel = re.search(r";\s*rel\s*=\s*(?:\"([^\"]*)\"|([^\s;,]+))", attributes)
        if rel:
            for name in (rel.group(1) or rel.group(2) or "").split():
                links.setdefault(name.lower(), target)
    return links


def next_link(value: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, or ``None``."""
    return parse_link_header(value).get("next") if value else None


# --------------------------------------------------------------------------- docker config


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, without parameters."""
    return (content_type or "").split(";", 1)[0].strip()
