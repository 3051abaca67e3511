"""Rules that compare what pods run with what the registry serves now: ``latent-drift``.

Every live pod of a container runs digest D1 (or a few builds), but the tag in the
template now names D2, which no pod runs: the next pod the controller creates
(scale-up, eviction, node loss, and with ``Always`` any restart) pulls D2, and the
workload starts serving two builds although nobody changed its spec.

The detector does no I/O. It reads the registry's answers that ``sources.resolving``
put in the snapshot (``registry_tags``, ``registry_indexes``) when the scan ran with
``--registry-check``; without them it finds nothing. Digests are compared like with
like: a tag naming a multi-arch index is compared with the index digest containerd
reports, and a pod reporting a platform manifest counts as running the current build
only when the index lists that manifest (or, for a tag naming a single manifest, when
the pod's digest is an index listing it). A tag whose index could not be read is not
judged (the edge recorded a gap instead).
"""

from __future__ import annotations

from scanner import evidence, findings, graph, images, model
from scanner.detectors import common, rules

__all__ = ["DETECTORS", "LATENT_DRIFT", "latent_drift"]

LATENT_DRIFT = rules.Rule(
    id="latent-drift",
    severity=findings.Severity.MEDIUM,
    title="Tag now names a build no pod runs",
    rationale=(
        "The registry's tag was moved after the pods pulled it: every pod still runs the "
        "old build, so nothing looks wrong, but the next pod created by a scale-up, an "
        "eviction, a node replacement (or, with imagePullPolicy Always, a restart) pulls "
        "the new build and the workload silently serves two versions."
    ),
    remediation=(
        "Pin the image to the digest you mean to run (image:tag@sha256:…): the build that "
        "runs now to keep it, or the tag's new digest to roll it out deliberately."
    ),
    family="resolutions",
    controls=("NIST-800-53:CM-3", "NIST-800-53:SI-7", "SOC2:CC7.1"),
    needs=rules.Needs.REGISTRY,
    concern=rules.Concern.DRIFT,
)

_Tags = dict[tuple[str, str, str], model.RegistryTag]
_Indexes = dict[tuple[str, str, str], tuple[str, ...]]


def _same_build(running: str, tag: model.RegistryTag, indexes: _Indexes) -> bool:
    """Whether a pod reporting ``running`` runs the build ``tag`` names now."""
    if running == tag.digest:
        return True
    if tag.index:
        return running in indexes.get((tag.registry, tag.repository, tag.digest), ())
    return tag.digest in indexes.get((tag.registry, tag.repository, running), ())


def latent_drift(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container when the tag names a build that no live pod of it runs."""
    tags: _Tags = {(t.registry, t.repository, t.tag): t for t in snapshot.registry_tags}
    indexes: _Indexes = {(i.registry, i.repository, i.digest): i.manifests
                         for i in snapshot.registry_indexes}
    if not tags:
        return []
    result = []
    for ref in graph.workloads(g):
        live = graph.digest_uses(g, ref, live_only=True)
        for spec in graph.template(g, ref):
            parsed = images.try_parse(spec.image)
            if parsed is None or parsed.is_pinned:
                continue
            tag = tags.get((parsed.registry, parsed.repository,
                            parsed.effective_tag or images.DEFAULT_TAG))
            if tag is None:
                continue  # not resolved: the registry gap says why
            if tag.index and (tag.registry, tag.repository, tag.digest) not in indexes:
                continue  # platform manifests unknown: cannot compare safely
            uses = [u for u in live if u.container.name == spec.name
                    and u.container.image == spec.image and u.image_id.comparable]
            counts = common.count_by_digest(uses)
            if not counts or any(_same_build(d, tag, indexes) for d in counts):
                continue
            result.append(_finding(ref, spec, tag, uses, counts))
    return result


def _finding(ref: model.WorkloadRef, spec: model.ContainerSpec, tag: model.RegistryTag,
             uses: list[graph.DigestUse], counts: dict[str, int]) -> findings.Finding:
    policy = spec.pull_policy or images.default_pull_policy(images.parse(spec.image))
    triggers = "scale-up, eviction or node replacement"
    if policy == "Always":
        triggers += ", or any container restart"
    kind = "init container" if spec.role.is_init else "container"
    what = "index" if tag.index else "manifest"
    pin = common.pick(ref, spec.name, spec.image, uses, tag_digest=tag.digest)
    keep = common.pin_sentence(pin, ref)
    message = (
        f"{kind} {spec.name}: {spec.image} now names {images.short_digest(tag.digest)} ({what}) in"
        f" the registry, but live pods run {common.describe_digests(counts)}; the next"
        f" pod ({triggers}) will run a different build"
    )
    return common.finding(
        LATENT_DRIFT,
        ref,
        message,
        container=spec.name,
        observed=counts,
        pin=pin,
        evidence=evidence.LatentDrift(
            image=spec.image,
            tag=tag.tag,
            registry_digest=tag.digest,
            registry_digest_is_index=tag.index,
            running_digests=dict(counts.items()),
            pods_by_digest={d: tuple(p) for d, p in common.pods_by_digest(uses).items()},
            pull_policy=policy,
        ),
        remediation=(
            f"{keep} To roll out the tag's new build on purpose instead, set the image to"
            f" {spec.image.split('@', 1)[0]}@{tag.digest}."
        ),
    )


DETECTORS = (rules.Detector(LATENT_DRIFT, latent_drift),)
