"""``driftscan watch``: start the watcher and its endpoints, run until SIGTERM or Ctrl-C.

SIGTERM (a pod being stopped, a service manager) is the normal end: the server closes
and the exit code is 0. Ctrl-C (SIGINT) ends with 130, as every command does. A
kubeconfig, context or apiserver problem at start, or an address that cannot be bound,
is one ``error:`` line and exit 2.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from scanner import exits
from scanner.watching import metrics as watch_metrics
from scanner.watching import server, watcher

__all__ = ["WatchCommand", "run"]


@dataclass(frozen=True)
class WatchCommand:
    """Everything ``driftscan watch`` accepts."""

    options: watcher.WatchOptions
    listen: str = server.DEFAULT_LISTEN
    insecure_registries: tuple[str, ...] = ()
    command_line: tuple[str, ...] = ()


def run(command: WatchCommand, say: Callable[[str], None]) -> int:
    """Watch until stopped; returns the exit code.

    Raises:
        errors.DriftscanError: bad ``--listen``, unusable kubeconfig, unreachable apiserver.
    """
    host, port = server.parse_listen(command.listen)
    tag_resolver = None
    if command.options.registry_interval:
        from scanner.oci import credentials, resolver

        docker_config = credentials.load_docker_config()
        for note in docker_config.notes:
            say(f"warning: {docker_config.source}: {note}")
        tag_resolver = resolver.Resolver(docker_config=docker_config,
                                         insecure_hosts=command.insecure_registries)
    metrics = watch_metrics.Metrics(registry_check=tag_resolver is not None)
    watch = watcher.Watcher(command.options, metrics.hooks(), tag_resolver)
    metrics.bind(lambda: watch.status)
    endpoints = server.Endpoints(host, port, lambda: watch.status, metrics,
                                 command.command_line)
    if not server.is_loopback(host):
        say(f"warning: --listen {command.listen} is reachable from other hosts; the"
            " endpoints show workload names and images to anyone who can connect")
    terminated = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum: int, frame: FrameType | None) -> None:
            terminated.set()
            watch.stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        watch.start()
        endpoints.start()
        bound_host, bound_port = endpoints.address
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        say(f"driftscan watch: serving http://{shown}:{bound_port}/metrics")
        while not watch.stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        watch.stop.set()
        say("interrupted")
        return exits.INTERRUPTED
    finally:
        watch.stop.set()
        endpoints.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sys.stderr.flush()
    return exits.CLEAN
