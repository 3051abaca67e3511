"""The observer a source reports listing progress to (terminal display, tests, nothing).

``live.load`` calls it from worker threads, so implementations must be thread-safe.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ListObserver", "NullObserver"]


class ListObserver(Protocol):
    """Hears about each page of each LIST call."""

    def started(self, kind: str, namespace: str | None) -> None:
        """A LIST of ``kind`` (in ``namespace``, or cluster-wide for None) began."""

    def page(self, kind: str, namespace: str | None, items: int) -> None:
        """One more page arrived; ``items`` is the running count for this LIST."""

    def finished(self, kind: str, namespace: str | None, items: int, gap: str | None) -> None:
        """The LIST ended with ``items`` objects; ``gap`` says why it was incomplete."""


class NullObserver:
    """An observer that ignores everything."""

    def started(self, kind: str, namespace: str | None) -> None:
        """Ignore."""

    def page(self, kind: str, namespace: str | None, items: int) -> None:
        """Ignore."""

    def finished(self, kind: str, namespace: str | None, items: int, gap: str | None) -> None:
        """Ignore."""
