"""One entry point that builds a ``Snapshot`` from dump files or from a live cluster.

``scanning`` (and so ``driftscan scan``) calls :func:`load` with what the user asked for;
it picks the dump reader when files are given and the live lister otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner import errors, model
from scanner.sources import dump, progress

__all__ = ["LoadRequest", "load"]


@dataclass(frozen=True)
class LoadRequest:
    """What to scan: dump files, or a cluster reached through a kubeconfig context."""

    files: tuple[str, ...] = ()
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    request_timeout: float | None = None
    """Seconds each apiserver request may take, retries included (live default: 30)."""


def load(request: LoadRequest, observer: progress.ListObserver | None = None) -> model.Snapshot:
    """Build the snapshot ``request`` describes.

    Args:
        request: files (dump mode) or kubeconfig/context (live mode), and namespaces.
        observer: hears about LIST progress in live mode.

    Returns:
        The snapshot.

    Raises:
        errors.InputError: contradictory options, or unusable dump files.
        errors.ClusterUnreachable: live mode and the apiserver cannot be reached.
        errors.PermissionGap: live mode and RBAC forbids every LIST.
    """
    if request.namespaces and request.all_namespaces:
        raise errors.InputError(
            "-n/--namespace and -A/--all-namespaces exclude each other", hint="pick one"
        )
    if request.files:
        if request.kubeconfig or request.context:
            raise errors.InputError(
                "--from reads saved dumps; --kubeconfig/--context apply to live scans only",
                hint="drop one of them",
            )
        namespaces = () if request.all_namespaces else request.namespaces
        return dump.load(request.files, namespaces)
    from scanner.sources import live  # the kubernetes client loads only for live scans

    options = live.LiveOptions(
        kubeconfig=request.kubeconfig,
        context=request.context,
        namespaces=tuple(dict.fromkeys(request.namespaces)),
        all_namespaces=request.all_namespaces,
        request_timeout=request.request_timeout or live.DEFAULT_REQUEST_TIMEOUT,
    )
    return live.load(options, observer)
