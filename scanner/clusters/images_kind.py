"""Runnable synthetic builds for kind clusters: a real base image plus a build marker.

On kwok nothing runs, so a synthetic image is just config + marker layer. On kind the
kubelet really starts the container, so each build must be runnable. This module copies
a small runnable base (``registry.k8s.io/pause:3.10`` by default: one static binary that
sleeps until it is stopped) into the cluster's local registry once, then makes every
build from it with ``synthetic.derive_image``: the base's layers and entrypoint plus one
marker layer holding the build label. Different labels give different digests, the
same label the same digest, and pods become Ready.

Called by the scenario engine when its cluster handle says ``provider == "kind"``::

    builds = images_kind.RunnableBuilds.for_cluster(handle)
    digest = builds.push("shop/web", "v1", build_label="v1")
    # pods use f"{handle.pull_registry}/shop/web:v1"

The base is fetched once per cluster and platform: later runs find it in the local
registry under ``driftscan/base/pause:3.10-linux-amd64`` and need no internet access.
``DRIFTSCAN_KIND_BASE_IMAGE`` names another base (a mirror, or an image with a shell).
``LOCAL_BASE`` (what :meth:`RunnableBuilds.for_cluster` picks when that is unset and the
host has busybox-static for the nodes' platform) is made on this machine instead
(``busybox_image``): no registry outside the cluster is needed at all.
"""

from __future__ import annotations

import json
import os
import re

from scanner import errors, images
from scanner.clusters import base, busybox_image
from scanner.oci import client, credentials, failures, synthetic

__all__ = ["BASE_IMAGE", "LOCAL_BASE", "RunnableBuilds", "cache_location", "cluster_platform",
           "local_base_fits"]

BASE_IMAGE = "registry.k8s.io/pause:3.10"
LOCAL_BASE = "local:busybox"
"""A base built here from busybox-static rather than fetched."""


def local_base_fits(platform: synthetic.Platform) -> bool:
    """True when this host's busybox-static can be the base for ``platform``'s nodes."""
    import platform as host

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.machine(), host.machine())
    return (busybox_image.available() and platform.os == "linux"
            and platform.architecture == arch)
CACHE_PREFIX = "driftscan/base"


def cluster_platform(handle: base.ClusterHandle) -> synthetic.Platform:
    """The nodes' OCI platform, as the kind provider recorded it in ``state.json``.

    Falls back to ``linux/amd64`` when the state does not say (an older state file).
    """
    try:
        state = json.loads((handle.state_dir / "state.json").read_text())
        text = str(state.get("platform") or "linux/amd64")
    except (OSError, ValueError, AttributeError):
        text = "linux/amd64"
    return synthetic.Platform.parse(text)


def cache_location(base_image: str, platform: synthetic.Platform) -> tuple[str, str]:
    """Repository and tag under which the local registry keeps a copy of ``base_image``.

    ``registry.k8s.io/pause:3.10`` for ``linux/amd64`` becomes
    ``("driftscan/base/pause", "3.10-linux-amd64")``.
    """
    ref = images.parse(base_image)
    name = ref.repository.rsplit("/", 1)[-1]
    version = ref.tag or (ref.digest or "latest").replace(":", "-")[:40]
    tag = re.sub(r"[^\w.-]", "-", f"{version}-{platform}")[:128]
    return f"{CACHE_PREFIX}/{name}", tag


class RunnableBuilds:
    """Publishes runnable builds (base image + marker layer) to one local registry."""

    def __init__(self, target: str, platform: synthetic.Platform, *,
                 base_image: str | None = None, target_client: client.Client | None = None,
                 source_client: client.Client | None = None) -> None:
        """Prepare the publisher (no network yet).

        Args:
            target: ``HOST:PORT`` of the local registry as this machine reaches it.
            platform: The nodes' platform; the base's matching manifest is used.
            base_image: Runnable base (default ``DRIFTSCAN_KIND_BASE_IMAGE`` or
                ``BASE_IMAGE``).
            target_client: Client for ``target`` (tests inject one).
            source_client: Client for the base image's registry (tests inject one).
        """
        self.platform = platform
        self.base_image = base_image or os.environ.get("DRIFTSCAN_KIND_BASE_IMAGE") or BASE_IMAGE
        self.target = target_client or client.Client(target)
        self._source_client = source_client
        self._base: synthetic.Image | None = None

    @classmethod
    def for_cluster(cls, handle: base.ClusterHandle) -> RunnableBuilds:
        """A publisher for a running kind cluster's local registry and node platform."""
        platform = cluster_platform(handle)
        local = (LOCAL_BASE if not os.environ.get("DRIFTSCAN_KIND_BASE_IMAGE")
                 and local_base_fits(platform) else None)
        return cls(handle.registry, platform, base_image=local)

    def base(self) -> synthetic.Image:
        """The base image for the nodes' platform, copied into the local registry once.

        Raises:
            errors.RegistryError: Neither the local copy nor the base's own registry
                could provide it (the hint says how to work offline).
        """
        if self._base is not None:
            return self._base
        if self.base_image == LOCAL_BASE:
            self._base = busybox_image.build("base", self.platform)
            return self._base
        repository, tag = cache_location(self.base_image, self.platform)
        try:
            if self.target.manifest_exists(repository, tag):
                self._base = synthetic.fetch_image(self.target, repository, tag,
                                                  platform=self.platform)
                return self._base
        except failures.NotFound:
            pass  # the tag exists but lost a blob: copy it again below
        ref = images.parse(self.base_image)
        source = self._source_client or client.client_for(
            ref.registry, docker_config=credentials.load_docker_config())
        try:
            fetched = synthetic.fetch_image(source, ref.repository,
                                           ref.digest or ref.effective_tag or "latest",
                                           platform=self.platform)
        except errors.RegistryError as e:
            raise errors.RegistryError(
                f"cannot copy the runnable base image {self.base_image} ({self.platform}) "
                f"into {self.target.registry}: {e.message}",
                hint="allow this machine to reach the base's registry once, or set "
                     "DRIFTSCAN_KIND_BASE_IMAGE to a runnable image it can reach") from e
        synthetic.push_image(self.target, repository, tag, fetched)
        self._base = fetched
        return fetched

    def build(self, build_label: str) -> synthetic.Image:
        """The runnable image for ``build_label`` (not pushed)."""
        return synthetic.derive_image(self.base(), build_label)

    def push(self, repository: str, tag: str, *, build_label: str) -> str:
        """Publish ``build_label`` as ``repository:tag`` (moving the tag); return its digest."""
        return synthetic.push_image(self.target, repository, tag, self.build(build_label))
