"""Helpers every detector shares: workload × container × revision views, pins, evidence.

Pure functions over ``graph`` queries; no I/O. The digest to pin is the one most live
pods of the relevant revision run (ties go to the build of the newest pod, then to the
lexically smaller digest), so advice is deterministic and never invented: when no pod
reports a registry digest, there is no pin.
"""

from __future__ import annotations

import functools
import shlex
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner import evidence, findings, graph, images, initializers, model
from scanner.detectors import rules

__all__ = [
    "ContainerUses",
    "by_container",
    "containers",
    "count_by_digest",
    "describe_digests",
    "finding",
    "kubectl_resource",
    "pick_digest",
    "pin_for",
    "pin_reason",
    "pin_sentence",
    "pick",
    "tag_digest",
    "pods_by_digest",
    "traffic_evidence",
]


@initializers.fast_init
@dataclass(frozen=True)
class ContainerUses:
    """The live uses of one container name across a workload's pods."""

    name: str
    role: model.ContainerRole
    uses: tuple[graph.DigestUse, ...]

    @functools.cached_property
    def comparable(self) -> tuple[graph.DigestUse, ...]:
        """Uses whose imageID is a registry digest."""
        return tuple(u for u in self.uses if u.image_id.comparable)

    def digests(self) -> set[str]:
        """Distinct registry digests among live pods."""
        return {u.image_id.key for u in self.comparable}

    def spec_image(self) -> str:
        """The spec image of the newest pod (what the template now says)."""
        newest = max(self.uses, key=lambda u: (u.pod.created, u.pod.name))
        return newest.container.image


def by_container(uses: Iterable[graph.DigestUse]) -> list[ContainerUses]:
    """Group uses by container name, in a stable order (init containers first)."""
    grouped: dict[str, list[graph.DigestUse]] = defaultdict(list)
    for use in uses:
        grouped[use.container.name].append(use)
    views = [
        ContainerUses(name, group[0].container.role, tuple(group))
        for name, group in grouped.items()
    ]
    return sorted(views, key=lambda v: (not v.role.is_init, v.name))


def containers(g: graph.Graph, ref: model.WorkloadRef) -> list[ContainerUses]:
    """Live uses of each container of the workload.

    Worked out once per graph and workload: the digest, rollout and tag rules all ask.
    """
    per_graph = _VIEWS.get(g)
    if per_graph is None:
        per_graph = _VIEWS[g] = {}
    views = per_graph.get(ref)
    if views is None:
        views = per_graph[ref] = tuple(by_container(graph.digest_uses(g, ref, live_only=True)))
    return list(views)


_VIEWS: weakref.WeakKeyDictionary[graph.Graph, dict[model.WorkloadRef,
                                                    tuple[ContainerUses, ...]]] = (
    weakref.WeakKeyDictionary())


def pods_by_digest(uses: Iterable[graph.DigestUse]) -> dict[str, list[str]]:
    """Pod names per comparable digest, sorted."""
    result: dict[str, list[str]] = defaultdict(list)
    for use in uses:
        if use.image_id.comparable:
            result[use.image_id.key].append(use.pod.name)
    return {d: sorted(p) for d, p in sorted(result.items())}


def count_by_digest(uses: Iterable[graph.DigestUse]) -> dict[str, int]:
    """Number of pods per comparable digest, in digest order."""
    result: dict[str, int] = defaultdict(int)
    for use in uses:
        if use.image_id.comparable:
            result[use.image_id.key] += 1
    return dict(sorted(result.items()))


def pick(ref: model.WorkloadRef, container: str, image: str,
         uses: Sequence[graph.DigestUse], *, among: str = "",
         tag_digest: str | None = None) -> findings.Pin | None:
    """Pin ``container`` to the digest :func:`pick_digest` picks, saying why."""
    digest = pick_digest(uses)
    if digest is None:
        return None
    reason = pin_reason(uses, digest, among=among, tag_digest=tag_digest)
    return pin_for(ref, container, image, digest, reason)


def tag_digest(snapshot: model.Snapshot, image: str) -> str | None:
    """What the registry said ``image``'s tag names (``--registry-check``), else None."""
    if not snapshot.registry_tags:
        return None
    parsed = images.try_parse(image)
    if parsed is None or parsed.is_pinned:
        return None
    wanted = (parsed.registry, parsed.repository, parsed.effective_tag or images.DEFAULT_TAG)
    for tag in snapshot.registry_tags:
        if (tag.registry, tag.repository, tag.tag) == wanted:
            return tag.digest
    return None


def pick_digest(uses: Sequence[graph.DigestUse]) -> str | None:
    """The digest to pin to: most pods, then the newest pod's, then the smallest."""
    counts: dict[str, int] = defaultdict(int)
    newest: dict[str, str] = {}
    for use in uses:
        if not use.image_id.comparable:
            continue
        key = use.image_id.key
        counts[key] += 1
        newest[key] = max(newest.get(key, ""), use.pod.created)
    if not counts:
        return None
    most = max(counts.values())
    tied = [d for d, n in counts.items() if n == most]
    if len(tied) == 1:  # the usual answer: no tie to break
        return tied[0]
    return min(tied, key=lambda d: (_inverted(newest[d]), d))


def _inverted(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


def describe_digests(counts: dict[str, int]) -> str:
    """``sha256:aaaa… on 3 pods, sha256:bbbb… on 1 pod``."""
    parts = []
    for digest, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        parts.append(f"{images.short_digest(digest)} on {n} pod{'s' if n != 1 else ''}")
    return ", ".join(parts)


_KUBECTL_KINDS = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "CronJob": "cronjob",
    "Pod": "pod",
}


def kubectl_resource(ref: model.WorkloadRef) -> str | None:
    """``deployment/web`` for kinds kubectl can change, None otherwise (Jobs, CRDs)."""
    kind = _KUBECTL_KINDS.get(ref.kind)
    return f"{kind}/{ref.name}" if kind else None


def pin_reason(uses: Sequence[graph.DigestUse], digest: str, *, among: str = "",
               tag_digest: str | None = None) -> str:
    """Why :func:`pick_digest` chose ``digest`` among ``uses``, in words a reader can check.

    ``run by 20 of 25 pods; the tag now names sha256:dc83…`` — the count always; then what
    the registry said the tag names (``--registry-check``), or else the build of the
    newest pod (the last one to pull the tag) when that is another one.

    Args:
        uses: the uses the digest was picked from.
        digest: the picked digest.
        among: what the uses are, for the count (``" of the newest revision"``).
        tag_digest: what the tag names now, when a registry said so.
    """
    counts = count_by_digest(uses)
    total = sum(counts.values())
    if not total or digest not in counts:
        return ""
    text = f"run by {counts[digest]} of {total} pod{'s' if total != 1 else ''}{among}"
    rivals = sorted(d for d, n in counts.items() if d != digest and n == counts[digest])
    if rivals:
        text += (f" (a tie with {images.short_digest(rivals[0])},"
                 " won by the build of the newest pod)")
    if tag_digest is not None:
        if tag_digest == digest:
            return text + "; the tag names it too"
        return text + f"; the tag now names {images.short_digest(tag_digest)}"
    comparable = [u for u in uses if u.image_id.comparable]
    newest = max(comparable, key=lambda u: (u.pod.created, u.pod.name)).image_id.key
    if newest != digest and not rivals:
        text += f"; the newest pod, the last to pull the tag, runs {images.short_digest(newest)}"
    return text


def kubectl(*args: str) -> str:
    """A ``kubectl`` command line, every argument shell-quoted (images may hold anything)."""
    return shlex.join(("kubectl", *args))


def rollout_command(verb: str, ref: model.WorkloadRef) -> str | None:
    """``kubectl rollout VERB deployment/web -n NS``; None for kinds kubectl cannot roll."""
    resource = kubectl_resource(ref)
    return kubectl("rollout", verb, resource, "-n", ref.namespace) if resource else None


def pin_for(
    ref: model.WorkloadRef, container: str, image: str, digest: str | None,
    reason: str = "",
) -> findings.Pin | None:
    """Pinning advice for ``container`` of ``ref`` to ``digest`` (None without a digest).

    ``reason`` says why that digest (:func:`pin_reason`).
    """
    if digest is None:
        return None
    parsed = images.try_parse(image)
    base = image.split("@", 1)[0] if parsed is not None else image
    pinned = f"{base}@{digest}"
    resource = kubectl_resource(ref)
    # Names and images come from the cluster: quote them so a copied command runs
    # exactly one kubectl, whatever they hold.
    command = (
        kubectl("set", "image", resource, "-n", ref.namespace, f"{container}={pinned}")
        if resource
        else None
    )
    return findings.Pin(container, image, digest, pinned, command, reason)


def pin_sentence(pin: findings.Pin | None, ref: model.WorkloadRef) -> str:
    """One sentence telling how to apply ``pin``."""
    if pin is None:
        return "No pod reports a registry digest to pin to; resolve the tag's digest first."
    why = f" ({pin.reason})" if pin.reason else ""
    if pin.command:
        return f"Pin {pin.container} to {pin.digest}{why}: `{pin.command}`."
    if ref.kind == "Job":
        return (
            f"Job templates are immutable: recreate the Job with image {pin.pinned_image}"
            f"{why}."
        )
    return (
        f"Set the image of {pin.container} to {pin.pinned_image}{why} in the {ref.kind}"
        f" {ref.name} spec."
    )


def traffic_evidence(
    g: graph.Graph, ref: model.WorkloadRef, container: str
) -> tuple[evidence.ServiceTraffic, ...]:
    """Per selecting Service: how its ready endpoints split across builds of ``container``."""
    return tuple(
        evidence.ServiceTraffic(svc.name, dict(graph.traffic_by_digest(g, svc, container).items()))
        for svc in graph.services_selecting(g, ref)
    )


def finding(
    rule: rules.Rule,
    ref: model.WorkloadRef,
    message: str,
    *,
    container: str | None = None,
    observed: Iterable[str] = (),
    pin: findings.Pin | None = None,
    evidence: evidence.Evidence,
    remediation: str = "",
) -> findings.Finding:
    """Build a finding of ``rule`` (at its default severity) with sorted observed digests."""
    return findings.Finding(
        rule=rule.id,
        severity=rule.severity,
        workload=ref,
        message=message,
        container=container,
        observed=tuple(sorted(set(observed))),
        expected=pin.digest if pin else None,
        evidence=evidence,
        remediation=remediation,
        pin=pin,
    )
