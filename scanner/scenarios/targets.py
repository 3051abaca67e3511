"""Where scenarios run: a cluster handed to the engine, and taken back after.

``running`` asks a :class:`Clusters` source for a :class:`Target` once per run (or once
per scenario with ``--isolate``) and releases it at the end. Three sources:

* :class:`ProviderClusters` — the kwok or kind provider; starts the cluster when it is
  not running and stops it again at release (unless ``--keep-cluster``); a cluster that
  was already running is reused as it is — no node added, a line says so — and left
  running (scenarios that need more nodes than it has are aborted with the reason).
* :class:`ExistingCluster` — a context of the user's kubeconfig, named explicitly, plus
  a registry its nodes pull from; nothing is started or stopped.
* :class:`GivenCluster` — a ready ``ClusterHandle`` (tests pass the session cluster).

What a target allows follows from who owns it: ``drain-node`` may cordon any node only on
a cluster the run started (:attr:`Target.started`); elsewhere only nodes the scenario
added. Images a scenario pushed are deleted at cleanup where the registry is shared
(:attr:`Target.shared_registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scanner import errors
from scanner.clusters import base, providers

__all__ = ["Clusters", "ExistingCluster", "GivenCluster", "ProviderClusters", "Target"]


@dataclass(frozen=True)
class Target:
    """A running cluster the engine may use."""

    handle: base.ClusterHandle
    context: str | None = None
    """Kubeconfig context (``None``: the kubeconfig's current one)."""
    stops_at_release: bool = False
    """The run started it and stops it when done (so leftovers need no waiting for)."""
    started: bool = False
    """The run started this cluster (also with ``--keep-cluster``): every node in it is the
    run's own, so a scenario may cordon any of them. False for a cluster that was already
    running and for ``--provider existing``."""
    real_nodes: int = 0
    """Real nodes (kubelet + containerd) the run asked for; its pods go there
    (``scenarios.realnodes``)."""

    @property
    def shared_registry(self) -> bool:
        """True unless the registry is a kwok or kind test cluster's own.

        kwok and kind clusters run a registry of their own that goes away with the cluster;
        any other registry (``--provider existing``) may hold images of others, so the
        engine deletes what a scenario pushed there at cleanup.
        """
        return self.handle.provider not in ("kwok", "kind")

    def describe(self) -> dict[str, Any]:
        """Plain data for the journal."""
        return {"name": self.handle.name, "provider": self.handle.provider,
                "kubeconfig": str(self.handle.kubeconfig), "context": self.context,
                "registry": self.handle.registry, "pull_registry": self.handle.pull_registry}


class Clusters(Protocol):
    """Hands out clusters to a run."""

    provider: str

    def acquire(self, scenario: str | None, nodes: int, say: base.Say) -> Target:
        """A cluster with at least ``nodes`` nodes (for ``scenario`` when isolating)."""
        ...

    def release(self, target: Target, say: base.Say) -> None:
        """Give the cluster back (stop it when this run started it)."""
        ...


class GivenCluster:
    """A cluster someone else runs; never started or stopped here."""

    def __init__(self, handle: base.ClusterHandle, context: str | None = None, *,
                 started: bool = False) -> None:
        """Use ``handle`` (and ``context`` of its kubeconfig) for every scenario.

        ``started``: the caller started the cluster for this run alone (a test session's
        throw-away cluster), so its nodes count as the run's (see ``Target.started``).
        """
        self.handle = handle
        self.context = context
        self.started = started
        self.provider = handle.provider

    def acquire(self, scenario: str | None, nodes: int, say: base.Say) -> Target:
        """The given cluster."""
        return Target(self.handle, self.context, started=self.started)

    def release(self, target: Target, say: base.Say) -> None:
        """Nothing to do."""


class ProviderClusters:
    """kwok or kind clusters named ``name`` (``name-SCENARIO`` when isolating)."""

    def __init__(self, provider: str, name: str, *, keep: bool = False,
                 real_nodes: int = 0) -> None:
        """``provider`` is ``kwok`` or ``kind`` (``auto`` already resolved).

        ``real_nodes``: kwok only — start that many real nodes beside the fake ones.
        """
        self.provider = provider
        self.name = name
        self.keep = keep
        self.real_nodes = real_nodes

    def cluster_name(self, scenario: str | None) -> str:
        """The cluster for ``scenario`` (the shared one for ``None``)."""
        return self.name if scenario is None else f"{self.name}-{scenario}"[:50].rstrip("-")

    def acquire(self, scenario: str | None, nodes: int, say: base.Say) -> Target:
        """Start the cluster, or reuse it when it already runs.

        Raises:
            errors.ProviderError: it cannot start (the hint says what to install or run).
        """
        extra = {"real_nodes": self.real_nodes} if self.real_nodes else {}
        provider = providers.get(self.provider, self.cluster_name(scenario), **extra)
        try:
            handle = provider.handle()
        except errors.ProviderError:
            handle = provider.up(nodes, say)
            return Target(handle, stops_at_release=not self.keep, started=True,
                          real_nodes=self.real_nodes)
        if self.real_nodes:
            # Its fake nodes would be tainted for the run: not a cluster the run owns.
            raise errors.InputError(
                f"--real-nodes needs a cluster the run starts; {self.provider} cluster "
                f"{handle.name!r} is already running",
                hint=f"stop it first (driftscan cluster down --provider {self.provider} "
                     f"--name {handle.name}), or run under another --name")
        # Not the run's cluster: change nothing in it, not even its number of nodes.
        have = f" with {len(handle.nodes)} nodes" if handle.nodes else ""
        say(f"{self.provider} cluster {handle.name!r} is already running{have}: used as it "
            "is, no node added (scenarios that need more nodes are aborted)")
        return Target(handle)

    def release(self, target: Target, say: base.Say) -> None:
        """Stop the cluster when this run started it and ``--keep-cluster`` is not set."""
        if target.stops_at_release:
            providers.get(self.provider, target.handle.name).down(say)
        else:
            say(f"{self.provider} cluster {target.handle.name!r} left running")


class ExistingCluster:
    """A context of the user's kubeconfig; scenarios touch only their own namespaces."""

    provider = "existing"

    def __init__(self, *, context: str, registry: str, kubeconfig: Path | None = None,
                 pull_registry: str | None = None) -> None:
        """Use ``context`` and push builds to ``registry`` (pods pull ``pull_registry``)."""
        if not context:
            raise errors.InputError("--provider existing needs --context NAME",
                                    hint="name the kubeconfig context explicitly; driftscan "
                                         "never picks the current one for scenario runs")
        if not registry:
            raise errors.InputError("--provider existing needs --registry HOST:PORT",
                                    hint="a registry this machine pushes to and the cluster's "
                                         "nodes pull from (add --pull-registry if they name "
                                         "it differently)")
        self.context = context
        self.registry = registry
        self.pull_registry = pull_registry or ""
        self.kubeconfig = kubeconfig or _default_kubeconfig()

    def acquire(self, scenario: str | None, nodes: int, say: base.Say) -> Target:
        """A handle on the named context."""
        handle = base.ClusterHandle(name=self.context, provider=self.provider,
                                    kubeconfig=self.kubeconfig, registry=self.registry,
                                    state_dir=self.kubeconfig.parent,
                                    registry_in_cluster=self.pull_registry)
        return Target(handle, self.context)

    def release(self, target: Target, say: base.Say) -> None:
        """Nothing to stop."""


def _default_kubeconfig() -> Path:
    import os

    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"
