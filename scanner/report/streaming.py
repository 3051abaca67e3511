"""Writing pages piece by piece: lazily built sequences and files replaced whole.

``report.html`` builds its rows and sections as the template reaches them (:class:`Lazy`)
and hands the pieces jinja2 generates to :func:`write_atomically`, so no page is ever held
as one string; ``report.html_directory`` and ``report.validation`` write their pages the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from scanner import errors, writing

__all__ = ["Lazy", "write_atomically"]

T = TypeVar("T")


class Lazy(Generic[T]):
    """A sequence the template walks once, built item by item while the page streams out.

    Its length is known up front (for headings and counts) so nothing has to be held to
    count it: the page's memory grows with one item at a time, not with the cluster.
    """

    def __init__(self, count: int, items: Callable[[], Iterator[T]]) -> None:
        self._count = count
        self._items = items

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[T]:
        return self._items()


def write_atomically(path: str | Path, pieces: Iterable[str]) -> None:
    """Write ``pieces`` to a temporary file beside ``path``, then rename it over ``path``.

    See :func:`scanner.writing.write_pieces`: a reader never sees half a page, and a
    failure leaves any earlier file in place.

    Raises:
        errors.InputError: the folder or the file cannot be written.
    """
    try:
        writing.write_pieces(path, pieces)
    except OSError as e:
        raise errors.InputError(f"cannot write {path}: {e.strerror}") from e
