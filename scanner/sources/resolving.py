"""Ask the registries what the snapshot's tags name now (``scan --registry-check``).

``scanning`` calls :func:`resolve` after loading a snapshot; it returns the snapshot with
``registry_tags`` and ``registry_indexes`` filled in and a ``registry`` gap for every tag
it could not resolve, which the ``latent-drift`` detector then reads without any I/O.

What is looked up: every image without a digest in a workload's template or in a live
pod's spec, once per ``(registry, repository, tag)``, concurrently, through one
``oci.resolver.Resolver`` (credentials from docker ``config.json``, cached per run). The
manifest ``HEAD`` accepts indexes, so a multi-arch tag yields its index digest, the value
containerd reports as ``imageID``. To never compare an index digest with a platform
manifest digest, the edge also reads:

* the index a tag names, for the platform manifests it lists (a pod reporting one of
  them runs the current build);
* when a tag names a single manifest, each differing digest the pods run, in case it is
  an index that lists that manifest (then the pods run the current build too).

Unreachable registries, refused credentials and missing tags become gaps whose reason
names the image and the workloads that use it; they never fail the scan.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable

from scanner import errors, images, model
from scanner.oci import resolver

__all__ = ["GAP_KIND", "references", "resolve"]

GAP_KIND = "registry"
_CONTENT_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_MAX_USERS_SHOWN = 3

_Key = tuple[str, str, str]
"""(registry, repository, tag)."""


def _unpinned(image: str) -> images.ImageRef | None:
    ref = images.try_parse(image)
    if ref is None or ref.is_pinned:
        return None
    return ref


def _key(ref: images.ImageRef) -> _Key:
    return (ref.registry, ref.repository, ref.effective_tag or images.DEFAULT_TAG)


def references(snapshot: model.Snapshot) -> dict[_Key, list[tuple[str, str]]]:
    """Every tag the snapshot's templates and live pods name, with its users.

    Returns:
        ``(registry, repository, tag)`` → ``[(namespace, "Kind/ns/name container c")]``.
    """
    users: dict[_Key, list[tuple[str, str]]] = defaultdict(list)
    for w in snapshot.workloads:
        for spec in w.containers:
            ref = _unpinned(spec.image)
            if ref is not None:
                users[_key(ref)].append((w.namespace, f"{w.ref} container {spec.name}"))
    for pod in snapshot.pods:
        if not pod.live:
            continue
        for c in pod.containers:
            ref = _unpinned(c.image)
            if ref is not None:
                users[_key(ref)].append(
                    (pod.namespace, f"Pod/{pod.namespace}/{pod.name} container {c.name}"))
    return dict(users)


def _running(snapshot: model.Snapshot) -> dict[_Key, set[str]]:
    """Registry digests that live pods run, per tag their spec names."""
    found: dict[_Key, set[str]] = defaultdict(set)
    for pod in snapshot.pods:
        if not pod.live:
            continue
        for c in pod.containers:
            ref = _unpinned(c.image)
            image_id = images.parse_image_id(c.image_id)
            if ref is not None and image_id.comparable and image_id.digest:
                found[_key(ref)].add(image_id.digest)
    return found


def _gap(key: _Key, resolution: resolver.Resolution, users: list[tuple[str, str]]) -> model.Gap:
    namespaces = {ns for ns, _ in users}
    names = sorted({who for _, who in users})
    shown = ", ".join(names[:_MAX_USERS_SHOWN])
    if len(names) > _MAX_USERS_SHOWN:
        shown += f" and {len(names) - _MAX_USERS_SHOWN} more"
    registry, repository, tag = key
    hint = f" ({resolution.hint})" if resolution.hint else ""
    reason = (
        f"{registry}/{repository}:{tag} not resolved ({resolution.status.value}):"
        f" {resolution.message}{hint}; latent drift not checked for {shown}"
    )
    return model.Gap(GAP_KIND, namespaces.pop() if len(namespaces) == 1 else None, reason)


def _read_indexes(tag_resolver: resolver.Resolver, wanted: Iterable[tuple[str, str, str]],
                  ) -> tuple[list[model.RegistryIndex], dict[tuple[str, str, str], str]]:
    """GET each ``(registry, repository, digest)``; keep the indexes with their children."""
    targets = sorted(set(wanted))
    indexes: list[model.RegistryIndex] = []
    failures: dict[tuple[str, str, str], str] = {}
    if not targets:
        return indexes, failures

    def read(target: tuple[str, str, str]) -> model.RegistryIndex | str | None:
        registry_host, repository, digest = target
        try:
            manifest = tag_resolver.client(registry_host).get_manifest(repository, digest)
        except errors.DriftscanError as e:
            return e.message
        if not manifest.is_index:
            return None
        entries = manifest.json().get("manifests")
        # Only well-formed digests: the children end up in reports and comparisons.
        children = tuple(
            entry["digest"]
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str)
            and _CONTENT_DIGEST.fullmatch(entry["digest"])
        )
        return model.RegistryIndex(registry_host, repository, digest, children)

    with concurrent.futures.ThreadPoolExecutor(min(8, len(targets)), "registry-index") as pool:
        for target, outcome in zip(targets, pool.map(read, targets), strict=True):
            if isinstance(outcome, model.RegistryIndex):
                indexes.append(outcome)
            elif isinstance(outcome, str):
                failures[target] = outcome
    return indexes, failures


def resolve(snapshot: model.Snapshot, tag_resolver: resolver.Resolver) -> model.Snapshot:
    """The snapshot plus what each of its tags names now, and gaps for the failures."""
    users = references(snapshot)
    results = tag_resolver.resolve_all(sorted(users))
    running = _running(snapshot)
    tags: list[model.RegistryTag] = []
    gaps: list[model.Gap] = []
    to_read: list[tuple[str, str, str]] = []
    for key, resolution in results.items():
        if not resolution.ok or not resolution.digest:
            gaps.append(_gap(key, resolution, users[key]))
            continue
        registry_host, repository, tag = key
        tags.append(model.RegistryTag(registry_host, repository, tag, resolution.digest,
                                      resolution.is_index))
        if resolution.is_index:
            to_read.append((registry_host, repository, resolution.digest))
        else:
            to_read.extend((registry_host, repository, d)
                           for d in running.get(key, ()) if d != resolution.digest)
    indexes, failures = _read_indexes(tag_resolver, to_read)
    index_tags = {(t.registry, t.repository, t.digest): t for t in tags if t.index}
    for target, message in sorted(failures.items()):
        tag_record = index_tags.get(target)
        if tag_record is None:
            continue  # a running build the registry no longer serves: still a difference
        key = (tag_record.registry, tag_record.repository, tag_record.tag)
        gaps.append(model.Gap(
            GAP_KIND, None,
            f"{target[0]}/{target[1]}:{tag_record.tag} names index {target[2]}, which could"
            f" not be read ({message}); latent drift not checked for"
            f" {', '.join(sorted({who for _, who in users[key]})[:_MAX_USERS_SHOWN])}",
        ))
    return dataclasses.replace(
        snapshot,
        registry_tags=tuple(sorted(tags, key=lambda t: (t.registry, t.repository, t.tag))),
        registry_indexes=tuple(sorted(indexes, key=lambda i: (i.registry, i.repository,
                                                               i.digest))),
        gaps=(*snapshot.gaps, *gaps),
    )
