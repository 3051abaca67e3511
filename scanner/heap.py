"""The Python heap during a scan: the cycle collector is paused while records pile up."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["without_cycle_collection"]


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
