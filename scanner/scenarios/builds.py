"""Publishing a scenario's image builds to the cluster's registry.

A ``push`` step publishes build B under REPOSITORY:TAG. Which kind of image that is
depends on who pulls it:

* KWOK fake nodes start nothing, so a synthetic image (config + one marker layer,
  ``synthetic.build_image``) is enough: its digest is real registry truth.
* kind and real clusters start the containers, so each build is a runnable base image
  plus the marker layer (``images_kind.RunnableBuilds``).

Either way the same build label gives the same digest. ``running`` picks the publisher
with :func:`for_cluster`; ``steps`` calls :meth:`Publisher.push`. The publisher remembers
every manifest it put into a repository, so cleanup can delete exactly those
(:meth:`Publisher.pushed`, :meth:`Publisher.delete`) from a registry others share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from scanner.clusters import base, images_kind
from scanner.oci import client, credentials, synthetic

__all__ = ["Publisher", "RegistryBuilds", "for_cluster", "is_kwok"]

KWOK_ANNOTATION = "kwok.x-k8s.io/node"


class Publisher(Protocol):
    """Pushes builds; ``push`` returns the manifest digest."""

    kind: str

    def push(self, repository: str, tag: str, label: str) -> str:
        """Publish the build labelled ``label`` as ``repository:tag``; return its digest."""
        ...

    def pushed(self) -> list[tuple[str, str]]:
        """``(repository, digest)`` of every manifest pushed so far, in push order."""
        ...

    def delete(self, repository: str, digest: str) -> None:
        """Delete a manifest this publisher pushed (and so every tag pointing at it)."""
        ...


class RegistryBuilds:
    """Builds images with ``make`` and pushes them; re-tags builds already in a repository."""

    def __init__(self, registry_client: client.Client, make: Callable[[str], Any],
                 kind: str) -> None:
        """``make(label)`` returns a ``synthetic.Image`` (or index) for the label."""
        self.client = registry_client
        self.make = make
        self.kind = kind
        self._in_repository: dict[tuple[str, str], str] = {}
        self._pushed: list[tuple[str, str]] = []

    def push(self, repository: str, tag: str, label: str) -> str:
        """Push (or re-tag, when the build is already in ``repository``) and return the digest.

        Raises:
            errors.RegistryError: the registry refused or did not answer.
        """
        known = self._in_repository.get((repository, label))
        if known is not None:
            # The re-tag: point the tag at a manifest the repository already holds.
            return self.client.tag(repository, known, tag)
        image = self.make(label)
        digest = synthetic.push_image(self.client, repository, tag, image)
        self._in_repository[(repository, label)] = digest
        # An index's platform manifests go in by digest before it; note them first.
        children = image.images if isinstance(image, synthetic.ImageIndex) else ()
        for manifest in (*(c.digest for c in children), digest):
            if (repository, manifest) not in self._pushed:
                self._pushed.append((repository, manifest))
        return digest

    def pushed(self) -> list[tuple[str, str]]:
        """``(repository, digest)`` of every manifest pushed so far, in push order."""
        return list(self._pushed)

    def delete(self, repository: str, digest: str) -> None:
        """Delete one pushed manifest by digest; the tags pointing at it go with it.

        Raises:
            errors.RegistryError: the registry refused (many refuse deletes unless
                configured to allow them) or did not answer; ``failures.NotFound`` when
                the manifest is already gone.
        """
        self.client.delete_manifest(repository, digest)
        self._in_repository = {k: v for k, v in self._in_repository.items()
                               if not (k[0] == repository and v == digest)}
        if (repository, digest) in self._pushed:
            self._pushed.remove((repository, digest))


def is_kwok(nodes: Sequence[dict[str, Any]]) -> bool:
    """True when every node is a KWOK fake node (nothing really runs)."""
    return bool(nodes) and all(
        (n.get("metadata", {}).get("annotations") or {}).get(KWOK_ANNOTATION) == "fake"
        for n in nodes)


def for_cluster(handle: base.ClusterHandle, nodes: Sequence[dict[str, Any]]) -> Publisher:
    """The publisher that fits the cluster: synthetic on KWOK, runnable elsewhere."""
    # The test cluster's registry takes only its own user: its credentials come with the
    # handle (kwok), so every push goes through the client's auth path. Another registry
    # (--provider existing) gets the user's own docker login.
    docker_config = credentials.load_docker_config(
        handle.docker_config / "config.json" if handle.docker_config is not None else None)
    registry_client = client.client_for(handle.registry, docker_config=docker_config)
    if is_kwok(nodes):
        return RegistryBuilds(registry_client, synthetic.build_image, "synthetic")
    if handle.provider == "kind":
        runnable = images_kind.RunnableBuilds.for_cluster(handle)
    else:
        # kwok with real nodes (or another cluster): a base made here when it fits.
        platform = _platform(nodes)
        local = images_kind.LOCAL_BASE if images_kind.local_base_fits(platform) else None
        runnable = images_kind.RunnableBuilds(handle.registry, platform, base_image=local,
                                              target_client=registry_client)
    return RegistryBuilds(runnable.target, runnable.build, "runnable")


def _platform(nodes: Sequence[dict[str, Any]]) -> synthetic.Platform:
    """The platform most nodes report (``linux/amd64`` when they do not say)."""
    counts: dict[str, int] = {}
    for n in nodes:
        info = (n.get("status") or {}).get("nodeInfo") or {}
        key = f"{info.get('operatingSystem') or 'linux'}/{info.get('architecture') or 'amd64'}"
        counts[key] = counts.get(key, 0) + 1
    best = max(counts, key=lambda k: counts[k]) if counts else "linux/amd64"
    return synthetic.Platform.parse(best)
