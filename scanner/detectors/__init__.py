"""Detectors: pure functions ``(Snapshot, Graph) -> list[Finding]``, one module per rule family.

:data:`RULES` holds every rule in a fixed order; :func:`detect` runs them, applies the
``driftscan.io/ignore`` opt-out annotation of each workload, and returns findings sorted
most severe first. Detectors never import sources, clusters, report or the kubernetes
client (a test enforces it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from scanner import findings, graph, model
from scanner.detectors import digests, resolutions, rollouts, rules, tags, updates

__all__ = ["IGNORE_ANNOTATION", "RULES", "detect", "ignored_rules"]

IGNORE_ANNOTATION = model.IGNORE_ANNOTATION

RULES = rules.RuleSet(
    [
        *digests.DETECTORS,
        *rollouts.DETECTORS,
        *updates.DETECTORS,
        *tags.DETECTORS,
        *resolutions.DETECTORS,
    ]
)
"""Every rule driftscan checks (``latent-drift`` finds something only after a scan with
``--registry-check`` put the registry's answers in the snapshot)."""

_ALL = "*"


def detect(
    snapshot: model.Snapshot,
    g: graph.Graph,
    *,
    rule_set: rules.RuleSet = RULES,
    severity_overrides: Mapping[str, findings.Severity] | None = None,
) -> list[findings.Finding]:
    """Run every detector and return its findings, most severe first.

    Args:
        snapshot: what the scan saw.
        g: the snapshot's graph (``graph.build(snapshot)``).
        rule_set: the detectors to run.
        severity_overrides: re-tier rules by id without touching code.

    Returns:
        Findings not opted out by the workload's ``driftscan.io/ignore`` annotation.
    """
    overrides = dict(severity_overrides or {})
    result: list[findings.Finding] = []
    for detector in rule_set:
        for finding in detector.check(snapshot, g):
            if _ignored(g, finding.workload, finding.rule):
                continue
            if finding.rule in overrides:
                finding = dataclasses.replace(finding, severity=overrides[finding.rule])
            result.append(finding)
    return sorted(result, key=lambda f: f.sort_key())


def ignored_rules(g: graph.Graph, ref: model.WorkloadRef) -> frozenset[str]:
    """Rule ids the workload opts out of (``*`` means all)."""
    record = graph.workload(g, ref)
    if record is not None:
        return record.ignored_rules
    if ref.kind == "Pod":
        for pod in graph.pods(g, ref):
            return pod.ignored_rules
    return frozenset()


def _ignored(g: graph.Graph, ref: model.WorkloadRef, rule_id: str) -> bool:
    ignored = ignored_rules(g, ref)
    return rule_id in ignored or _ALL in ignored
