"""The provider interface every test cluster implements, and the handle it returns.

A provider is idempotent: ``up`` on a running cluster returns its handle, ``down`` on a
stopped one does nothing. Its state lives under ``.driftscan/clusters/NAME/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ClusterHandle", "ComponentStatus", "Provider", "Say", "load_state", "save_state",
           "state_root"]

Say = Callable[[str], None]
"""Progress callback: one human-readable line per call."""


def state_root() -> Path:
    """Folder that holds every cluster's state (``DRIFTSCAN_STATE_DIR`` or ``./.driftscan``)."""
    return Path(os.environ.get("DRIFTSCAN_STATE_DIR", ".driftscan")).resolve() / "clusters"


def load_state(path: Path) -> dict[str, Any] | None:
    """A provider's ``state.json``, or None when it is missing or unreadable."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state.json`` atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


@dataclass(frozen=True)
class ClusterHandle:
    """What a caller needs to use a running cluster."""

    name: str
    provider: str
    kubeconfig: Path
    registry: str
    """``HOST:PORT`` of the cluster's registry as seen from this machine."""
    state_dir: Path
    nodes: tuple[str, ...] = ()
    registry_in_cluster: str = ""
    """Registry address as the cluster's nodes pull from it (kind differs from loopback)."""
    docker_config: Path | None = None
    """Folder with a ``config.json`` holding the registry's credentials (``DOCKER_CONFIG``);
    None when the registry takes anonymous requests."""

    @property
    def pull_registry(self) -> str:
        """Registry prefix to write into pod specs."""
        return self.registry_in_cluster or self.registry


@dataclass(frozen=True)
class ComponentStatus:
    """One process or container of a cluster."""

    name: str
    running: bool
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """A way to run a test cluster."""

    name: str

    def up(self, nodes: int, say: Say) -> ClusterHandle:
        """Start the cluster (or return the running one) and wait until it is ready."""
        ...

    def down(self, say: Say) -> None:
        """Stop everything the provider started and remove its state."""
        ...

    def status(self) -> list[ComponentStatus]:
        """Each component and whether it runs."""
        ...

    def handle(self) -> ClusterHandle:
        """The running cluster's handle; ``ProviderError`` when it is not up."""
        ...

    def add_node(self, name: str) -> None:
        """Add one node to the running cluster."""
        ...
