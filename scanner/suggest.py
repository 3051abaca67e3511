""""Did you mean …?" for a mistyped name, shared by every command that takes one.

``cli`` (rule ids), scenario validation (fields, rule ids, step kinds, builds, labels)
call :func:`did_you_mean` and append its text to their one-line error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely meant (a typo, a missing letter), or None."""
    options = sorted(set(choices))
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:
        found = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'digest-drift'?"`` or "" when nothing is close."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match else ""
