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
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["is_directory", "write_pieces", "write_text"]

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


def write_pieces(path: str | Path, pieces: Iterable[str]) -> None:
    """As :func:`write_text`, for a text produced piece by piece (a streamed page).

    The pieces go to the temporary file as they come, so the whole text is never in memory.

    Raises:
        OSError: the folder or file cannot be written (nothing was changed).
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = target.stat()
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with target.open("w", encoding="utf-8") as handle:
            for piece in pieces:
                handle.write(piece)
        return
    mode = (stat.S_IMODE(existing.st_mode) if existing is not None
            else 0o666 & ~_umask())
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=_BUFFER) as handle:
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


def is_directory(output: str) -> bool:
    """Whether ``-o OUTPUT`` names a directory: a trailing slash or an existing folder.

    Asked before a scan writes anything; only ``--format html`` writes a report directory.
    """
    return output.endswith(("/", "\\")) or Path(output).is_dir()
