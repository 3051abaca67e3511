r"""Read untrusted input (files, folders' files, stdin) as UTF-8 text under a size cap.

``sources.dump`` (``scan --from``) and ``sources.manifests`` (``manifests``, ``pin``)
call :func:`text`. The cap is checked while reading, chunk by chunk, so ``/dev/zero``, a
FIFO or an endless pipe is refused after ``limit`` bytes instead of filling memory; NUL
bytes (binary data, never in JSON or YAML) are refused as soon as they are seen. Stdin is
read as bytes and decoded here, so non-UTF-8 input is one clear refusal instead of a
``UnicodeDecodeError`` (strict locales) or lone surrogates that crash the first writer
(``surrogateescape`` locales).
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHUNK", "Refused", "data", "text"]

CHUNK = 1 << 20
"""Bytes read at a time."""


class Refused(ValueError):
    """Input that is not readable text: too large, binary, not UTF-8, or unreadable.

    ``message`` says why without the name; callers add the name and their hint.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def text(path: str | Path, limit: int) -> str:
    """The UTF-8 text of ``path`` (``"-"`` is stdin), refused past ``limit`` bytes.

    Raises:
        Refused: larger than ``limit``, NUL bytes, not UTF-8, or an OS error (the
            ``strerror``; a missing file says "no such file").
    """
    return _decode(data(path, limit))


def data(path: str | Path, limit: int) -> bytes:
    """The exact bytes of ``path`` (``"-"`` is stdin), refused past ``limit`` bytes.

    Raises:
        Refused: larger than ``limit``, NUL bytes, or an OS error.
    """
    if str(path) == "-":
        binary = getattr(sys.stdin, "buffer", None)
        if binary is None:  # replaced by a text stream (tests, embedding programs)
            return _read(io.BytesIO(sys.stdin.read(limit + 1).encode(
                "utf-8", "surrogateescape")), limit)
        return _read(binary, limit)
    try:
        with Path(path).open("rb") as handle:
            return _read(handle, limit)
    except FileNotFoundError as e:
        raise Refused("no such file") from e
    except IsADirectoryError as e:
        raise Refused("is a directory") from e
    except OSError as e:
        raise Refused(f"cannot read ({e.strerror or e})") from e


def _read(handle: BinaryIO, limit: int) -> bytes:
    size = _file_size(handle)
    if size is not None and size <= limit:
        # A regular file within the limit: one read of its size, without chunk copies.
        data = handle.read(size + 1)
        if len(data) <= size:
            if b"\0" in data:
                raise Refused("not a text file (binary data: NUL bytes)")
            return data
        handle.seek(0)  # it grew while being read: read it chunk by chunk after all
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = handle.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        if b"\0" in chunk:
            raise Refused("not a text file (binary data: NUL bytes)")
        size += len(chunk)
        if size > limit:
            raise Refused(f"larger than {_size(limit)}; refusing to read further")
        chunks.append(chunk)


def _file_size(handle: BinaryIO) -> int | None:
    """The size of ``handle``'s file when it is a regular file, else None (pipes, ttys)."""
    try:
        status = os.fstat(handle.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused(f"not a text file (not UTF-8: invalid byte at offset {e.start})") from e


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,} bytes"
