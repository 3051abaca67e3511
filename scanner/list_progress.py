"""A rich progress display for live scans: one line per LIST, updated per page, on stderr.

``scanning`` hands a :class:`ListProgress` to ``sources.live`` as its observer when stderr
is a terminal; LIST threads call it concurrently, so every update takes a lock.
"""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["ListProgress"]


class ListProgress:
    """Shows each kind (and namespace) being listed and how many objects arrived."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[items]} objects"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[tuple[str, str | None], TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ListProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    @staticmethod
    def _label(kind: str, namespace: str | None) -> str:
        return f"listing {kind}s" + (f" in {namespace}" if namespace else "")

    def started(self, kind: str, namespace: str | None) -> None:
        """Add a line for this LIST."""
        with self._lock:
            self._tasks[(kind, namespace)] = self._progress.add_task(
                self._label(kind, namespace), total=None, items=0
            )

    def page(self, kind: str, namespace: str | None, items: int) -> None:
        """Update the object count."""
        with self._lock:
            task = self._tasks.get((kind, namespace))
            if task is not None:
                self._progress.update(task, items=items)

    def finished(self, kind: str, namespace: str | None, items: int, gap: str | None) -> None:
        """Mark the LIST done, or failed with the gap's reason."""
        with self._lock:
            task = self._tasks.get((kind, namespace))
            if task is None:
                return
            label = self._label(kind, namespace)
            description = f"[red]{label}: {gap}[/red]" if gap else f"{label} done"
            self._progress.update(task, description=description, items=items, total=1,
                                  completed=1)
