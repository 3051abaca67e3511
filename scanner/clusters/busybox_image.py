"""Runnable builds made on this machine from busybox-static: no public registry needed.

Containers on real nodes really start, so a build must hold a program. The base layer
holds the host's statically linked ``/bin/busybox`` and links to it (``sh``, ``sleep``,
``true``, …), packed deterministically (fixed owners, modes and mtimes; gzip mtime 0):
the same host binary gives the same layer digest on every run. A build is that layer
plus ``synthetic``'s marker layer, so distinct build labels still give distinct digests.

The entrypoint sleeps for ever, ignores any arguments (``sh -c '…' sh ARGS…``: a pod
spec's ``args`` written for the real program do not stop it) and exits at SIGTERM (a
shell as PID 1 with a trap; ``sleep`` as PID 1 would ignore it and every pod would take
its whole grace period to stop). The pause (sandbox) image is built the same way.
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
from pathlib import Path

from scanner import errors
from scanner.oci import synthetic

__all__ = ["BUSYBOX", "ENTRYPOINT", "PAUSE_LABEL", "available", "base_layer", "build",
           "build_index", "pause_image"]

BUSYBOX = Path(os.environ.get("DRIFTSCAN_BUSYBOX", "/bin/busybox"))
"""The statically linked busybox copied into the base layer (Debian's busybox-static)."""
ENTRYPOINT = ("/bin/sh", "-c", "trap 'exit 0' TERM INT; /bin/sleep 2147483647 & wait", "sh")
PAUSE_LABEL = "driftscan-pause"
_LINKS = ("sh", "sleep", "true", "false", "cat", "echo", "ls", "env", "nc", "wget")


def available() -> bool:
    """True when the busybox binary exists and is statically linked (runs in any rootfs)."""
    try:
        head = BUSYBOX.read_bytes()[:4096]
    except OSError:
        return False
    # A dynamic ELF names its interpreter (/lib64/ld-linux…) near the start.
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"/lib/ld-" not in head


@functools.cache
def base_layer() -> synthetic.Layer:
    """``/bin/busybox``, its links and an empty ``/tmp``, as one deterministic layer.

    Raises:
        errors.ToolMissing: busybox-static is not installed.
    """
    if not available():
        raise errors.ToolMissing(
            f"{BUSYBOX} is missing or not statically linked; real nodes run builds made "
            "from it", hint="apt-get install busybox-static (or run with --real-nodes 0)")
    data = BUSYBOX.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for folder, mode in (("bin", 0o755), ("tmp", 0o1777), ("etc", 0o755)):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            tar.addfile(entry)
        binary = tarfile.TarInfo("bin/busybox")
        binary.size, binary.mode = len(data), 0o755
        tar.addfile(binary, io.BytesIO(data))
        for name in _LINKS:
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
    return synthetic.Layer.from_tar(buffer.getvalue())


def build(build_label: str,
          platform: synthetic.Platform = synthetic.DEFAULT_PLATFORM) -> synthetic.Image:
    """The runnable build ``build_label``: busybox base + marker layer."""
    return synthetic.build_image(build_label, base_layers=(base_layer(),), platform=platform,
                                 entrypoint=ENTRYPOINT)


def build_index(build_label: str,
                platforms: tuple[synthetic.Platform, ...]) -> synthetic.ImageIndex:
    """A multi-arch runnable build (each platform's image holds this host's busybox)."""
    return synthetic.build_index(build_label, platforms, base_layers=(base_layer(),),
                                 entrypoint=ENTRYPOINT)


def pause_image() -> synthetic.Image:
    """The sandbox image for containerd: sleeps until the sandbox is stopped."""
    return build(PAUSE_LABEL)
