"""Starting, watching and stopping the background processes of a local test cluster.

Each process runs in its own session (so it outlives the ``driftscan cluster up``
command that started it), writes to ``logs/NAME.log`` and is remembered by pid and
command line, so ``stop`` never signals a pid the kernel has since handed to another
program.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner import errors
from scanner.clusters import toolchain

__all__ = ["Process", "alive", "free_port", "kill_all", "log_tail", "port_open", "signals_held",
           "start", "stop", "stop_all"]


@dataclass(frozen=True)
class Process:
    """A started process: its name, pid and the executable it ran."""

    name: str
    pid: int
    executable: str
    log: str

    def to_json(self) -> dict[str, str | int]:
        """Plain form for the cluster's state file."""
        return {"name": self.name, "pid": self.pid, "executable": self.executable,
                "log": self.log}

    @classmethod
    def from_json(cls, data: dict[str, str | int]) -> Process:
        """Inverse of ``to_json``."""
        return cls(str(data["name"]), int(data["pid"]), str(data["executable"]),
                   str(data["log"]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start(name: str, argv: list[str], log_dir: Path, *, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Process:
    """Start ``argv`` in the background with output to ``log_dir/NAME.log``."""
    executable = argv[0]
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        raise errors.ToolMissing(f"{name}: {executable} is not built", hint=toolchain.hint())
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})}, cwd=cwd)
    return Process(name, proc.pid, executable, str(log))


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def _reap(pid: int) -> None:
    # A process this interpreter started stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def alive(p: Process) -> bool:
    """True when ``p.pid`` still runs ``p.executable`` (and is not a zombie)."""
    _reap(p.pid)
    cmd = _cmdline(p.pid)
    for _ in range(25):
        # Right after exec the kernel has not yet published the new argv; wait for it.
        if cmd or not Path(f"/proc/{p.pid}").exists():
            break
        time.sleep(0.02)
        cmd = _cmdline(p.pid)
    if not cmd:
        return False
    try:
        state = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and any(os.path.basename(c) == os.path.basename(p.executable)
                                for c in cmd[:2])


_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT, SIGTERM and SIGHUP to the end of the block (then they are raised).

    Python runs signal handlers in the main thread, so swapping the handlers there holds
    the signals whichever thread the kernel delivers them to; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in _HELD}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for number in caught:
            signal.raise_signal(number)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` is left (zombies of ours reaped)."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(p: Process, timeout: float = 10.0) -> None:
    """Send SIGTERM to the process group, then SIGKILL if it has not exited in time."""
    stop_all([p], timeout)


def stop_all(procs: Sequence[Process], timeout: float = 10.0) -> None:
    """Stop every process at once: SIGTERM to each group, then SIGKILL to what is left.

    Signalled together, the processes shut down in parallel, so stopping them takes as
    long as the slowest one rather than the sum of all of them.
    """
    _signal_all(procs, ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)))


def kill_all(procs: Sequence[Process]) -> None:
    """SIGKILL every process group at once and wait (briefly) until they are gone."""
    _signal_all(procs, ((signal.SIGKILL, 5.0),))


def _signal_all(procs: Sequence[Process], steps: Sequence[tuple[int, float]]) -> None:
    left = [p for p in procs if alive(p)]
    for sig, wait in steps:
        for p in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, sig)
        deadline = time.monotonic() + wait
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            # The whole group, not only its leader: a child a component forked counts.
            left = [p for p in left if _group_alive(p.pid)]
        if not left:
            return
    names = ", ".join(f"{p.name} (pid {p.pid})" for p in left)
    pids = " ".join(str(p.pid) for p in left)
    raise errors.ProviderError(f"{names} did not stop", hint=f"kill it by hand: kill -9 {pids}")


def log_tail(path: str | Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])
