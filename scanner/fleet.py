"""``driftscan scan --context A --context B`` and ``--all-contexts``: one report for a fleet.

Each context is scanned in a thread of its own, with its own apiserver connection and,
with ``--registry-check``, its own registry client: a scan mostly waits on its apiserver,
so the clusters' waits overlap. Each cluster's report is built exactly as a one-cluster
scan builds it; :func:`merge` then tags every workload, finding and gap with its cluster
(the kubeconfig context), adds up the summary and lists the clusters. A cluster that
cannot be scanned at all (unreachable apiserver, rejected credentials, every LIST
forbidden) becomes a gap of that cluster, so the report is incomplete (exit code 3) and
never silently smaller.

Called by ``scanning.run``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scanner import __version__, detectors, errors, findings
from scanner.report import building
from scanner.report import document as report_model
from scanner.sources import kubeconfig, loading

if TYPE_CHECKING:
    from scanner.oci import resolver

__all__ = ["MAX_PARALLEL", "Outcome", "contexts", "merge", "scan"]

MAX_PARALLEL = 8
"""Clusters scanned at once; more wait for a free slot."""

Outcome = report_model.Report | errors.DriftscanError
"""One cluster's report, or why it could not be scanned."""

_CLUSTER_FAILURES = (errors.ClusterUnreachable, errors.PermissionGap)
"""Errors that lose one cluster, not the fleet: they become that cluster's gap."""


def contexts(request: loading.LoadRequest, names: Sequence[str],
             all_contexts: bool) -> tuple[str, ...]:
    """The contexts to scan: ``names`` (``--context``, in order) or every one defined.

    Raises:
        errors.InputError: both ways of naming them, a dump scan, or a name the
            kubeconfig does not define (a typo is a usage error, not a gap).
        errors.ClusterUnreachable: the kubeconfig is unusable.
    """
    if request.files:
        raise errors.InputError("--context and --all-contexts scan live clusters, not --from",
                                hint="drop --from, or the contexts")
    if all_contexts and names:
        raise errors.InputError("--all-contexts and --context exclude each other",
                                hint="pick one")
    path = kubeconfig.path_of(request.kubeconfig)
    defined = kubeconfig.context_names(path)
    if all_contexts:
        if not defined:
            raise errors.InputError(f"kubeconfig {path} defines no context",
                                    hint="pass --kubeconfig PATH to one that does")
        return tuple(defined)
    wanted = tuple(dict.fromkeys(names))
    unknown = [c for c in wanted if c not in defined]
    if unknown:
        raise errors.InputError(
            f"context {', '.join(repr(c) for c in unknown)} not found in kubeconfig {path}",
            hint=f"pass --context, one of: {', '.join(defined) or '(none defined)'}")
    return wanted


def scan(
    request: loading.LoadRequest,
    names: Sequence[str],
    one: Callable[[loading.LoadRequest, resolver.Resolver | None], report_model.Report],
    *,
    make_resolver: Callable[[], resolver.Resolver] | None = None,
) -> report_model.Report:
    """Scan every context of ``names`` in parallel with ``one`` and merge the reports.

    ``one`` is the single-cluster scan (``scanning.scan_unsealed``); it gets the request
    with ``context`` set and a registry client of its own (or None).
    """
    outcomes: dict[int, Outcome | BaseException] = {}
    slots = threading.BoundedSemaphore(MAX_PARALLEL)

    def run(index: int, name: str) -> None:
        with slots:
            try:
                outcomes[index] = one(dataclasses.replace(request, context=name),
                                      make_resolver() if make_resolver else None)
            except BaseException as e:  # a cluster's gap, or re-raised in the caller's thread
                outcomes[index] = e

    # Daemon threads, joined in short steps: Ctrl-C (or SIGTERM) ends the command at once
    # instead of waiting for every apiserver's --request-timeout.
    threads = [threading.Thread(target=run, args=(i, name), name=f"fleet-{i}", daemon=True)
               for i, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    results: list[Outcome] = []
    for index in range(len(names)):
        outcome = outcomes[index]
        if isinstance(outcome, BaseException) and not isinstance(outcome, _CLUSTER_FAILURES):
            raise outcome
        results.append(outcome)
    return merge(list(zip(names, results, strict=True)),
                 asked=(request.namespaces, request.all_namespaces))


def merge(outcomes: Sequence[tuple[str, Outcome]],
          asked: tuple[tuple[str, ...], bool] = ((), False)) -> report_model.Report:
    """One report from each cluster's report (or failure), in the order of ``outcomes``.

    Workloads are sorted worst first across clusters, ties by kind, cluster, namespace
    and name. Rules and controls are the same for every cluster and listed once; each
    cluster's provenance moves to its entry in ``clusters``. ``asked`` (``-n`` namespaces,
    ``-A``) is the scope the report states when no cluster answered.
    """
    workloads: list[report_model.WorkloadEntry] = []
    gaps: list[report_model.GapEntry] = []
    clusters: list[report_model.ClusterEntry] = []
    scopes: list[report_model.SourceEntry] = []
    for name, outcome in outcomes:
        if isinstance(outcome, errors.DriftscanError):
            reason = outcome.message + (f" ({outcome.hint})" if outcome.hint else "")
            gaps.append(report_model.GapEntry("Cluster", None, reason, cluster=name))
            clusters.append(report_model.ClusterEntry(name, None, False, False, 0, 0, None))
            continue
        scopes.append(outcome.source)
        workloads.extend(_tagged(w, name) for w in outcome.workloads)
        gaps.extend(dataclasses.replace(g, cluster=name) for g in outcome.gaps)
        clusters.append(report_model.ClusterEntry(
            name=name, server=outcome.source.server, reachable=True,
            complete=not outcome.gaps, workloads=outcome.summary.workloads,
            pods=outcome.summary.pods, provenance=outcome.provenance))
    workloads.sort(key=lambda w: (-w.score, w.kind, w.cluster or "", w.namespace, w.name))
    severities = {s.value: 0 for s in findings.Severity}
    for w in workloads:
        for f in w.findings:
            severities[f.severity] += 1
    summary = report_model.Summary(
        workloads=len(workloads),
        with_findings=sum(1 for w in workloads if w.findings),
        by_severity=severities,
        max_score=max((w.score for w in workloads), default=0),
        pods=sum(c.pods for c in clusters),
        complete=not gaps,
    )
    # The fleet's scope when every cluster had the same (-n/-A); else each cluster's own
    # is in its provenance.
    scope = scopes[0] if scopes and all(
        (s.namespaces, s.all_namespaces) == (scopes[0].namespaces, scopes[0].all_namespaces)
        for s in scopes) else None
    namespaces, all_namespaces = ((scope.namespaces, scope.all_namespaces) if scope
                                  else asked if not scopes else ((), False))
    return report_model.Report(
        schema=report_model.SCHEMA,
        generated_at=building.now(),
        tool=report_model.ToolEntry("driftscan", __version__),
        source=report_model.SourceEntry(
            type="live", context=None, files=(),
            namespaces=namespaces, all_namespaces=all_namespaces, server=None),
        summary=summary,
        gaps=tuple(gaps),
        workloads=tuple(workloads),
        rules=building.rule_entries(detectors.RULES),
        controls=building.control_entries(detectors.RULES),
        clusters=tuple(clusters),
    )


def _tagged(w: report_model.WorkloadEntry, cluster: str) -> report_model.WorkloadEntry:
    return dataclasses.replace(
        w, cluster=cluster,
        findings=tuple(dataclasses.replace(f, cluster=cluster,
                                           pin=f.pin.in_cluster(cluster) if f.pin else None)
                       for f in w.findings))
