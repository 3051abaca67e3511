"""The command line as a report records it: exact, except for secrets; text safe to print.

``cli`` passes ``sys.argv`` through :func:`command_line` before a report stores it in its
provenance block. driftscan's own options take paths, never secret values (``--sign-key``
names a key *file*), but a wrapper script may add anything; so values of options whose
name says secret (``--token``, ``--password``, ``--client-key-data`` …), ``NAME=value``
pairs with such names, credentials in URLs and bearer-token-shaped strings (JWTs) are
replaced by ``<redacted>``. Paths stay: they say which file was used, not what is in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["REDACTED", "command_line", "printable"]

REDACTED = "<redacted>"

_SECRET_NAME = re.compile(
    r"(token|passw(or)?d|passwd|secret|credential|api[-_]?key|private[-_]?key"
    r"|key[-_]?data|auth(orization)?)",
    re.IGNORECASE,
)
_PATH_NAME = re.compile(r"(file|path|dir)$", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@",
                           re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def _secret_option(name: str) -> bool:
    """True for ``--token``, ``--db-password`` …, but not ``--token-file`` (a path)."""
    bare = name.lstrip("-")
    return bool(_SECRET_NAME.search(bare)) and not _PATH_NAME.search(bare)


def _scrub(value: str) -> str:
    value = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", value)
    return _JWT.sub(REDACTED, value)


def command_line(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` with every secret value replaced by ``<redacted>``.

    Handles ``--opt value``, ``--opt=value`` and ``NAME=value`` forms; the option names
    themselves are kept so the reader sees that a secret was passed.
    """
    result: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            result.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and "=" not in arg and _secret_option(arg):
            result.append(arg)
            hide_next = True
            continue
        name, eq, _value = arg.partition("=")
        if eq and _secret_option(name) and not name.startswith(("/", ".")):
            result.append(f"{name}={REDACTED}")
            continue
        result.append(_scrub(arg))
    return tuple(result)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control characters (escape sequences, bidi overrides) for a terminal.

    Values read from a report file (digests, paths, times) reach the terminal through
    ``report verify``, ``diff`` and ``report --history``; a hostile file must not be able
    to move the cursor or recolour the screen.
    """
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
