"""Rules about how a pod template names its images: the preconditions of drift.

* ``floating-tag`` — no digest and the tag is ``latest`` or absent.
* ``mutable-tag`` — a tag other than ``latest`` but no digest.
* ``pull-policy-divergence`` — an unpinned image with ``IfNotPresent`` (each node keeps
  whatever the tag meant when it first pulled) or ``Always`` (every container restart
  may pull a different build).

They read the workload's template (a bare pod's own spec, ephemeral containers included:
DESIGN.md counts them), one finding per container. ``driftscan manifests`` runs the same
three detectors on snapshots built from YAML.
The effective pull policy is the stored one, else Kubernetes' default: ``Always`` for
``latest`` or no tag, ``IfNotPresent`` otherwise.
"""

from __future__ import annotations

from collections import defaultdict

from scanner import findings, graph, images, model
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
)

PULL_POLICY_DIVERGENCE = rules.Rule(
    id="pull-policy-divergence",
    severity=findings.Severity.LOW,
    title="Pull policy lets an unpinned tag diverge",
    rationale=(
        "With IfNotPresent each node runs whatever the tag meant when that node first "
        "pulled it, so node caches diverge after a re-push; with Always every container "
        "(re)start may pull a newer build into a pod that was fine. Either way, pods of "
        "one template end up on different builds."
    ),
    remediation=(
        "Pin the image by digest; then the pull policy no longer decides which build runs."
    ),
    family="tags",
    controls=("NIST-800-53:CM-2", "NIST-800-53:SI-7"),
)


def _template_views(
    g: graph.Graph, ref: model.WorkloadRef
) -> list[tuple[model.ContainerSpec, images.ImageRef, list[graph.DigestUse]]]:
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


def _evidence(
    spec: model.ContainerSpec, policy: str, uses: list[graph.DigestUse]
) -> dict[str, findings.JSONValue]:
    return {
        "image": spec.image,
        "init": spec.role.is_init,
        "pull_policy": policy,
        "running_digests": dict(common.count_by_digest(uses).items()),
        "nodes": sorted({u.pod.node for u in uses if u.pod.node}),
    }


def effective_pull_policy(spec: model.ContainerSpec, parsed: images.ImageRef) -> str:
    """The stored ``imagePullPolicy``, or the default the apiserver would store."""
    if spec.pull_policy:
        return spec.pull_policy
    return "Always" if parsed.is_floating else "IfNotPresent"


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
    pin = common.pin_for(ref, spec.name, spec.image, common.pick_digest(uses))
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
        evidence=_evidence(spec, effective_pull_policy(spec, parsed), uses),
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
                             f"container {spec.name}: image {spec.image} has {tag} and no"
                             " digest")
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
                             f"container {spec.name}: image {spec.image} is a tag without"
                             " a digest")
            )
    return result


def pull_policy_divergence(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per unpinned container whose pull policy is IfNotPresent or Always."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        for spec, parsed, uses in _template_views(g, ref):
            policy = effective_pull_policy(spec, parsed)
            if policy == "IfNotPresent":
                nodes = len({u.pod.node for u in uses if u.pod.node})
                why = (
                    f"each of {nodes} nodes keeps the build it first pulled"
                    if nodes > 1
                    else "each node keeps the build it first pulled"
                )
            elif policy == "Always":
                why = "every container restart may pull a different build"
            else:
                continue
            result.append(
                _tag_finding(PULL_POLICY_DIVERGENCE, g, ref, spec, parsed, uses,
                             f"container {spec.name}: {spec.image} with imagePullPolicy"
                             f" {policy}: {why}")
            )
    return result


DETECTORS = (
    rules.Detector(FLOATING_TAG, floating_tag),
    rules.Detector(MUTABLE_TAG, mutable_tag),
    rules.Detector(PULL_POLICY_DIVERGENCE, pull_policy_divergence),
)
