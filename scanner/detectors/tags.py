"""Rules about how a pod template names its images: the preconditions of drift.

* ``floating-tag`` — no digest and the tag is ``latest`` or absent.
* ``mutable-tag`` — a tag other than ``latest`` but no digest.
* ``pull-policy-divergence`` — an unpinned image whose pull policy is *not* Kubernetes'
  default for its tag, which adds a risk the two tag rules do not state: ``IfNotPresent``
  or ``Never`` on ``latest`` (each node keeps whichever build it pulled first, so new pods
  on warm and cold nodes differ) and ``Always`` on a versioned tag (a container restart
  can change the build of a pod that is already running). With the default policy the
  tag rule alone says it all, so this rule stays silent: it never just repeats one.

They read the workload's template (a bare pod's own spec, ephemeral containers and image
volumes included), one finding per container. ``driftscan manifests`` runs the same
three detectors on snapshots built from YAML.
The effective pull policy is the stored one, else Kubernetes' default: ``Always`` for
``latest`` or no tag, ``IfNotPresent`` otherwise.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections import defaultdict

from scanner import evidence, findings, graph, images, model
from scanner.detectors import common, rules

__all__ = ["DETECTORS", "FLOATING_TAG", "MUTABLE_TAG", "PULL_POLICY_DIVERGENCE"]

FLOATING_TAG = rules.Rule(
    id="floating-tag",
    severity=findings.Severity.MEDIUM,
    title="Image uses latest or no tag",
    rationale=(
        "`latest` (or no tag, which means latest) moves with every push. Each pod start "
        "may resolve it to a different build, and nothing in the spec says which build "
        "was meant, so neither drift nor a rollback target can be reasoned about."
    ),
    remediation="Reference the image by digest: image:tag@sha256:… (or image@sha256:…).",
    family="tags",
    controls=("NIST-800-53:CM-2", "NIST-800-53:SI-7", "SLSA-1.0:verify-artifacts"),
    needs=rules.Needs.TEMPLATE,
    concern=rules.Concern.HYGIENE,
)

MUTABLE_TAG = rules.Rule(
    id="mutable-tag",
    severity=findings.Severity.LOW,
    title="Image uses a tag without a digest",
    rationale=(
        "A tag such as :1.4 can be re-pushed. Pods created before and after the push run "
        "different builds under the same spec, and the Deployment never notices because "
        "its template did not change."
    ),
    remediation=(
        "Pin the tag to the digest you tested: image:tag@sha256:…; automate it with "
        "`driftscan pin` or an admission policy that resolves digests."
    ),
    family="tags",
    controls=("NIST-800-53:CM-2", "NIST-800-53:SI-7", "SLSA-1.0:verify-artifacts"),
    needs=rules.Needs.TEMPLATE,
    concern=rules.Concern.HYGIENE,
)

PULL_POLICY_DIVERGENCE = rules.Rule(
    id="pull-policy-divergence",
    severity=findings.Severity.LOW,
    title="Non-default pull policy adds drift to an unpinned tag",
    rationale=(
        "Fires only where the pull policy differs from Kubernetes' default for the tag, "
        "since that adds a risk the tag rules do not state. IfNotPresent (or Never) on "
        "latest: each node keeps whichever build it pulled first, so a new pod's build "
        "depends on the node it lands on. Always on a versioned tag: a container restart "
        "pulls whatever the tag names now, so a pod that was fine can change build "
        "without any rollout. With the default policy the tag finding says it all."
    ),
    remediation=(
        "Pin the image by digest; then the pull policy no longer decides which build runs."
    ),
    family="tags",
    controls=("NIST-800-53:CM-2", "NIST-800-53:SI-7"),
    needs=rules.Needs.TEMPLATE,
    concern=rules.Concern.HYGIENE,
)


_View = tuple[model.ContainerSpec, images.ImageRef, list[graph.DigestUse]]


def _template_views(g: graph.Graph, ref: model.WorkloadRef) -> list[_View]:
    """Each unpinned template container with its parsed image and its live pods' uses.

    Worked out once per graph and workload: the three tag rules all ask.
    """
    per_graph = _VIEWS.get(g)
    if per_graph is None:
        per_graph = _VIEWS[g] = {}
    views = per_graph.get(ref)
    if views is None:
        views = per_graph[ref] = tuple(_views_of(g, ref))
    return list(views)


def _views_of(g: graph.Graph, ref: model.WorkloadRef) -> list[_View]:
    uses: dict[str, list[graph.DigestUse]] = defaultdict(list)
    for use in graph.digest_uses(g, ref, live_only=True):
        if use.image_id.comparable:
            uses[use.container.name].append(use)
    result = []
    for spec in graph.template(g, ref):
        parsed = images.try_parse(spec.image)
        if parsed is None or parsed.is_pinned:
            continue
        matching = [u for u in uses.get(spec.name, []) if u.container.image == spec.image]
        result.append((spec, parsed, matching))
    return result


_VIEWS: weakref.WeakKeyDictionary[graph.Graph, dict[model.WorkloadRef, tuple[_View, ...]]] = (
    weakref.WeakKeyDictionary())


def _what(spec: model.ContainerSpec) -> str:
    """``container NAME`` or ``image volume NAME``."""
    if spec.role is model.ContainerRole.VOLUME:
        return f"image volume {spec.name.removeprefix('volume:')}"
    return f"container {spec.name}"


def _evidence(
    spec: model.ContainerSpec, policy: str, uses: list[graph.DigestUse],
    digests: dict[str, int],
) -> evidence.TagUse:
    return evidence.TagUse(
        image=spec.image,
        init=spec.role.is_init,
        pull_policy=policy,
        running_digests=dict(digests),
        nodes=tuple(sorted({u.pod.node for u in uses if u.pod.node})),
    )


def effective_pull_policy(spec: model.ContainerSpec, parsed: images.ImageRef) -> str:
    """The stored ``imagePullPolicy``, or the default the apiserver would store."""
    if spec.pull_policy:
        return spec.pull_policy
    return images.default_pull_policy(parsed)


def _tag_finding(
    rule: rules.Rule,
    g: graph.Graph,
    ref: model.WorkloadRef,
    spec: model.ContainerSpec,
    parsed: images.ImageRef,
    uses: list[graph.DigestUse],
    message: str,
) -> findings.Finding:
    del g
    pin = common.pick(ref, spec.name, spec.image, uses)
    if pin is not None and spec.role is model.ContainerRole.VOLUME:
        pin = dataclasses.replace(pin, command=None)  # `kubectl set image` sets containers
    digests = common.count_by_digest(uses)
    running = (
        f"; live pods run {common.describe_digests(digests)}" if digests else ""
    )
    return common.finding(
        rule,
        ref,
        message + running,
        container=spec.name,
        observed=digests,
        pin=pin,
        evidence=_evidence(spec, effective_pull_policy(spec, parsed), uses, digests),
        remediation=common.pin_sentence(pin, ref),
    )


def floating_tag(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container whose image has no digest and a ``latest`` or absent tag."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        for spec, parsed, uses in _template_views(g, ref):
            if not parsed.is_floating:
                continue
            tag = "no tag (latest)" if parsed.tag is None else "tag latest"
            result.append(
                _tag_finding(FLOATING_TAG, g, ref, spec, parsed, uses,
                             f"{_what(spec)}: image {spec.image} has {tag} and no digest")
            )
    return result


def mutable_tag(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container whose image has a non-latest tag and no digest."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        for spec, parsed, uses in _template_views(g, ref):
            if parsed.is_floating:
                continue
            result.append(
                _tag_finding(MUTABLE_TAG, g, ref, spec, parsed, uses,
                             f"{_what(spec)}: image {spec.image} is a tag without a digest")
            )
    return result


def pull_policy_divergence(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per unpinned container whose pull policy is not the default for its tag."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        for spec, parsed, uses in _template_views(g, ref):
            policy = effective_pull_policy(spec, parsed)
            if parsed.is_floating and policy in ("IfNotPresent", "Never"):
                nodes = len({u.pod.node for u in uses if u.pod.node})
                why = (
                    f"each of {nodes} nodes keeps the build of latest it first pulled"
                    if nodes > 1
                    else "each node keeps the build of latest it first pulled"
                )
            elif not parsed.is_floating and policy == "Always":
                why = "a container restart pulls whatever the tag names now"
            else:
                continue  # Kubernetes' default for the tag: the tag finding says it all
            result.append(
                _tag_finding(PULL_POLICY_DIVERGENCE, g, ref, spec, parsed, uses,
                             f"{_what(spec)}: {spec.image} with pull policy {policy}: {why}")
            )
    return result


DETECTORS = (
    rules.Detector(FLOATING_TAG, floating_tag),
    rules.Detector(MUTABLE_TAG, mutable_tag),
    rules.Detector(PULL_POLICY_DIVERGENCE, pull_policy_divergence),
)
