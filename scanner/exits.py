"""The exit codes every command shares, in one place.

====  =====================================================================================
code  meaning
====  =====================================================================================
0     complete and clean: nothing at or above ``--fail-on``
1     findings at or above ``--fail-on`` (``diff``: *new* findings), a missed scenario
      expectation, or a report that fails ``report verify`` (changed, or wrongly signed)
2     usage or environment error: the message says what to do
3     incomplete: no finding reaches ``--fail-on``, but something could not be read (gaps,
      unreadable files, unreachable registries), so the result cannot be called clean;
      ``--allow-gaps`` turns this into 0. ``cluster status``: the cluster is not (fully)
      running
130   interrupted (Ctrl-C)
====  =====================================================================================

Findings at ``--fail-on`` win over incompleteness: 1 already fails a CI job, and the gaps
are still listed in every output.
"""

from __future__ import annotations

__all__ = ["CLEAN", "ERROR", "FINDINGS", "INCOMPLETE", "INTERRUPTED", "VERIFY_FAILED",
           "for_result"]

CLEAN = 0
FINDINGS = 1
ERROR = 2
INCOMPLETE = 3
INTERRUPTED = 130
VERIFY_FAILED = FINDINGS
"""``report verify``: the digest or signature does not match (the file cannot be trusted)."""


def for_result(*, fails: bool, incomplete: bool, allow_gaps: bool = False) -> int:
    """The exit code of a scan-like command.

    Args:
        fails: a finding is at or above ``--fail-on``.
        incomplete: the result has gaps or unreadable input.
        allow_gaps: the user asked for gaps not to change the exit code.
    """
    if fails:
        return FINDINGS
    if incomplete and not allow_gaps:
        return INCOMPLETE
    return CLEAN
