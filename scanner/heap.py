"""The Python heap during a scan: the cycle collector is paused while records pile up."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

__all__ = ["exit_now", "leave_to_exit", "left", "one_shot", "without_cycle_collection"]

_LEFT: list[object] = []
_ONE_SHOT = False


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector for one scan (reference counting still frees memory).

    A scan (live, dump or manifests) decodes millions of short-lived, acyclic objects
    (pages, YAML nodes) while its records pile up; every collection the allocations
    trigger walks that growing heap, which cost as much as all the parsing. Nothing a
    scan keeps holds a reference cycle, so when the pause ends what it built is frozen
    out of the collector's sight rather than walked once more (a full walk of a
    10,000-pod scan's records costs a quarter second).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def one_shot() -> None:
    """Say that this process ends when its command returns (the ``driftscan`` program).

    Only then does :func:`leave_to_exit` keep anything: a program or a test that calls
    the commands in-process frees their objects as usual.
    """
    global _ONE_SHOT
    _ONE_SHOT = True


def leave_to_exit(*objects: object) -> None:
    """Keep ``objects`` alive until the process ends, for :func:`exit_now` to skip freeing.

    A scan's report and what it was built from are hundreds of thousands of objects;
    freeing them one by one just before the process ends costs a tenth of a 10,000-pod
    offline scan, and the operating system takes the memory back at once anyway.
    """
    if _ONE_SHOT:
        _LEFT.extend(objects)


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` after flushing stdout and stderr, without teardown.

    Used by the ``driftscan`` program once a command that left objects to the exit has
    returned: its files are written and closed, its threads joined.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush to
            stream.flush()
    os._exit(code)


def left() -> bool:
    """Whether a command left objects to the exit (see :func:`leave_to_exit`)."""
    return bool(_LEFT)
