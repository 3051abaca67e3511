"""Write output files atomically: a temporary file beside the target, then one rename.

Every command that writes a report (``scan -o``, ``manifests -o``, ``report -o``, the
scenario runner's outputs) renders the whole text first and then calls
:func:`write_text`, so a crash while rendering, a full disk or Ctrl-C leaves the last
good file in place, never an empty or half-written one. A symlink is written through
to its target (the link stays a link); a target that is not a regular file
(``/dev/stdout``, a FIFO) cannot be renamed over and is written directly.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["is_directory", "write_bytes", "write_pieces", "write_text"]

_BUFFER = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one rename; parent folders are created.

    A new file gets the mode the umask allows (0644 usually); an existing one keeps its
    mode.

    Raises:
        OSError: the folder or file cannot be written (nothing was changed).
    """
    write_pieces(path, (text,))


def write_bytes(path: str | Path, data: bytes) -> None:
    """As :func:`write_text`, for text already encoded as UTF-8 (no decode, no re-encode).

    Raises:
        OSError: the folder or file cannot be written (nothing was changed).
    """
    _write(path, (data,), binary=True)


def write_pieces(path: str | Path, pieces: Iterable[str]) -> None:
    """As :func:`write_text`, for a text produced piece by piece (a streamed page).

    The pieces go to the temporary file as they come, so the whole text is never in memory.

    Raises:
        OSError: the folder or file cannot be written (nothing was changed).
    """
    _write(path, pieces, binary=False)


def _write(path: str | Path, pieces: Iterable[str] | Iterable[bytes], *, binary: bool) -> None:
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = target.stat()
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with _open(target.open("wb"), binary) as handle:
            for piece in pieces:
                handle.write(piece)
        return
    mode = (stat.S_IMODE(existing.st_mode) if existing is not None
            else 0o666 & ~_umask())
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with _open(os.fdopen(fd, "wb", buffering=_BUFFER), binary) as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open(raw: BinaryIO, binary: bool) -> Any:
    """``raw`` itself for bytes, or a UTF-8 text layer over it (newlines untranslated)."""
    if binary:
        return raw
    return io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)


def is_directory(output: str) -> bool:
    """Whether ``-o OUTPUT`` names a directory: a trailing slash or an existing folder.

    Asked before a scan writes anything; only ``--format html`` writes a report directory.
    """
    return output.endswith(("/", "\\")) or Path(output).is_dir()
