"""The ownership, placement and traffic graph of a snapshot, and the questions asked of it.

The graph links workload → revision (ReplicaSet / ControllerRevision / pod template) →
pod → node, pod → digest (one edge per container), service → pod (selector match) and
workload → service ("calls": an env value or argument names the service's DNS name).
Detectors, scoring and the report ask it questions through the functions below, which
return plain records. The scan keeps the edges those questions follow as adjacency
indexes (ownership is the revision groups; selects and calls are maps both ways), which
costs a fraction of a general graph library; :func:`as_networkx` builds the whole graph
as a ``networkx.MultiDiGraph`` for anyone who wants to walk it, and networkx is imported
only then and never leaves this module.

Workload = the top controller reached through controlling ``ownerReferences``: Pod →
ReplicaSet → Deployment, Pod → Job → CronJob, StatefulSet, DaemonSet, an unknown owner
kept by kind and name (Argo ``Rollout``, operators' CRs), or the pod itself. When the
input lacks an owner driftscan reads (a pods-only dump), ownership stops at it and
:func:`missing_owners` reports that as a gap.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scanner import images, initializers, model

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "DigestUse",
    "Graph",
    "RevisionGroup",
    "as_networkx",
    "build",
    "callers",
    "digest_uses",
    "focus",
    "missing_owners",
    "newest_revision",
    "node",
    "pods",
    "revision_key",
    "revisions",
    "selected_pods",
    "service_callers",
    "services_selecting",
    "template",
    "traffic_by_digest",
    "workload",
    "workload_of",
    "workloads",
]

_TEMPLATE_HASH = "pod-template-hash"
_REVISION_HASH = "controller-revision-hash"
_READ_KINDS = frozenset(
    {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob",
     "ReplicationController"}
)
_CALLS = "calls"


@initializers.fast_init
@dataclass(frozen=True)
class RevisionGroup:
    """Pods of one workload that share a pod template revision."""

    key: str
    """``pod-template-hash``, ``controller-revision-hash``, or ``template-<hash>``."""
    name: str
    """The ReplicaSet or ControllerRevision name, or ``key`` when there is no record."""
    number: int | None
    record: model.Revision | None
    pods: tuple[model.PodRecord, ...]

    @property
    def live_pods(self) -> tuple[model.PodRecord, ...]:
        """Pods not finished and not being deleted."""
        return tuple(p for p in self.pods if p.live)


@initializers.fast_init
@dataclass(frozen=True)
class DigestUse:
    """One container of one pod and the build (``imageID``) it runs."""

    pod: model.PodRecord
    container: model.ContainerRecord
    image_id: images.ImageID
    revision: str


@dataclass
class _Entry:
    ref: model.WorkloadRef
    record: model.Workload | None
    pods: list[model.PodRecord]
    revision_records: list[model.Revision]


class Graph:
    """An opaque, read-only view of one snapshot; query it with this module's functions."""

    def __init__(self, snapshot: model.Snapshot) -> None:
        self.snapshot = snapshot
        self._selects: dict[tuple[str, str], list[str]] = {}
        """(namespace, service) → names of the pods its selector matches, sorted."""
        self._selected_by: dict[tuple[str, str], list[str]] = defaultdict(list)
        """(namespace, pod) → names of the services selecting it."""
        self._calls: dict[tuple[str, str], set[model.WorkloadRef]] = defaultdict(set)
        """(namespace, service) → workloads whose env or args name it."""
        self._entries: dict[model.WorkloadRef, _Entry] = {}
        self._pod_workload: dict[tuple[str, str], model.WorkloadRef] = {}
        self._pod_revision: dict[tuple[str, str], str] = {}
        self._nodes = {n.name: n for n in snapshot.nodes}
        self._missing: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._groups: dict[model.WorkloadRef, tuple[RevisionGroup, ...]] = {}
        self._uses: dict[model.WorkloadRef, list[DigestUse]] = {}
        self._live_uses: dict[model.WorkloadRef, list[DigestUse]] = {}
        self._selecting: dict[model.WorkloadRef, list[model.ServiceRecord]] = {}
        """Filled on demand: the detectors and the report both ask for each workload."""
        self._sorted_refs: tuple[model.WorkloadRef, ...] | None = None
        self._pods_by_name = {(p.namespace, p.name): p for p in snapshot.pods}
        self._services = {(s.namespace, s.name): s for s in snapshot.services}
        self._build()

    # -- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        snap = self.snapshot
        records = {(w.kind, w.namespace, w.name): w for w in snap.workloads}
        revisions = {(r.namespace, r.name): r for r in snap.revisions if r.kind == "ReplicaSet"}
        for w in snap.workloads:
            if self._is_top(w):
                self._entry(w.ref, w)
        # The pods of one ReplicaSet share its top workload: look it up once per owner.
        tops: dict[tuple[str, str, str], model.WorkloadRef] = {}
        for pod in snap.pods:
            owner = pod.owner
            if owner is None or owner.kind == "Node":  # the pod is its own workload
                ref = self._owner_of(pod, records, revisions)
            else:
                ref_key = (owner.kind, pod.namespace, owner.name)
                found = tops.get(ref_key)
                if found is None:
                    found = tops[ref_key] = self._owner_of(pod, records, revisions)
                ref = found
            entry = self._entry(ref, None)
            entry.pods.append(pod)
            key = (pod.namespace, pod.name)
            self._pod_workload[key] = ref
            self._pod_revision[key] = revision_key(pod)
        for r in snap.revisions:
            if r.owner is None:
                continue
            top = self._top_of(r.namespace, r.owner.kind, r.owner.name, records)
            if top in self._entries:
                self._entries[top].revision_records.append(r)
        for ref, entry in self._entries.items():
            entry.pods.sort(key=lambda p: p.name)
            self._groups[ref] = _groups(entry, self._pod_revision)
        self._link()

    @staticmethod
    def _is_top(w: model.Workload) -> bool:
        return not (w.kind == "Job" and w.owner is not None and w.owner.kind == "CronJob")

    def _top_of(
        self,
        namespace: str,
        kind: str,
        name: str,
        records: dict[tuple[str, str, str], model.Workload],
    ) -> model.WorkloadRef:
        if kind == "Job":
            job = records.get(("Job", namespace, name))
            if job is not None and job.owner is not None and job.owner.kind == "CronJob":
                return model.WorkloadRef("CronJob", namespace, job.owner.name)
        return model.WorkloadRef(kind, namespace, name)

    def _owner_of(
        self,
        pod: model.PodRecord,
        records: dict[tuple[str, str, str], model.Workload],
        revisions: dict[tuple[str, str], model.Revision],
    ) -> model.WorkloadRef:
        owner = pod.owner
        ns = pod.namespace
        if owner is None or owner.kind == "Node":
            return model.WorkloadRef("Pod", ns, pod.name)
        top = model.WorkloadRef(owner.kind, ns, owner.name)
        if owner.kind == "ReplicaSet":
            rs = revisions.get((ns, owner.name))
            if rs is not None and rs.owner is not None:
                top = self._top_of(ns, rs.owner.kind, rs.owner.name, records)
        else:
            top = self._top_of(ns, owner.kind, owner.name, records)
        if top.kind in _READ_KINDS and (top.kind, ns, top.name) not in records:
            self._missing[(top.kind, ns)].append(top.name)
        return top

    def _entry(self, ref: model.WorkloadRef, record: model.Workload | None) -> _Entry:
        entry = self._entries.get(ref)
        if entry is None:
            entry = _Entry(ref, record, [], [])
            self._entries[ref] = entry
        elif record is not None:
            entry.record = record
        return entry

    def _link(self) -> None:
        by_label: dict[tuple[str, tuple[str, str]], set[str]] = defaultdict(set)
        for pod in self.snapshot.pods:
            for pair in pod.labels:
                by_label[(pod.namespace, pair)].add(pod.name)
        for svc in self.snapshot.services:
            if not svc.selector:
                continue
            matched: set[str] | None = None
            for pair in svc.selector:
                names = by_label.get((svc.namespace, pair), set())
                matched = set(names) if matched is None else matched & names
                if not matched:
                    break
            selected = sorted(matched or ())
            self._selects[(svc.namespace, svc.name)] = selected
            for name in selected:
                self._selected_by[(svc.namespace, name)].append(svc.name)
        dns = _service_names(self.snapshot.services)
        for ref, entry in self._entries.items():
            for host in _hosts(entry):
                for svc in dns.get((ref.namespace, host), ()) or dns.get((None, host), ()):
                    self._calls[(svc.namespace, svc.name)].add(ref)


def _service_names(
    services: Iterable[model.ServiceRecord],
) -> dict[tuple[str | None, str], list[model.ServiceRecord]]:
    """Map (caller namespace or None for any, host) to the services that host names."""
    names: dict[tuple[str | None, str], list[model.ServiceRecord]] = defaultdict(list)
    for svc in services:
        names[(svc.namespace, svc.name)].append(svc)
        for suffix in ("", ".svc", ".svc.cluster.local"):
            names[(None, f"{svc.name}.{svc.namespace}{suffix}")].append(svc)
    return names


def _hosts(entry: _Entry) -> set[str]:
    if entry.record is not None:
        return {h for c in entry.record.containers for h in c.hosts}
    return {h for p in entry.pods for h in p.hosts}


def revision_key(pod: model.PodRecord) -> str:
    """The revision a pod belongs to: its hash label, else a hash of its spec images."""
    for label in (_TEMPLATE_HASH, _REVISION_HASH):
        value = pod.label(label)
        if value:
            return value
    text = "\n".join(sorted(f"{c.role.value}/{c.name}={c.image}" for c in pod.containers))
    return "template-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _groups(entry: _Entry,
            pod_revisions: Mapping[tuple[str, str], str]) -> tuple[RevisionGroup, ...]:
    by_key: dict[str, list[model.PodRecord]] = defaultdict(list)
    for pod in entry.pods:
        by_key[pod_revisions[(pod.namespace, pod.name)]].append(pod)
    records: dict[str, model.Revision] = {}
    for r in entry.revision_records:
        records[r.hash] = r
        records[r.name] = r
    groups: dict[str, RevisionGroup] = {}
    for key, pods_ in by_key.items():
        record = records.get(key)
        groups[key] = RevisionGroup(
            key=key,
            name=record.name if record else key,
            number=record.number if record else None,
            record=record,
            pods=tuple(pods_),  # in name order: the entry's pods are sorted
        )
    for r in entry.revision_records:
        if r.hash not in groups and r.name not in groups:
            key = r.name if entry.ref.kind == "StatefulSet" else r.hash
            groups[key] = RevisionGroup(key=key, name=r.name, number=r.number, record=r, pods=())

    def order(g: RevisionGroup) -> tuple[int, str, str]:
        first = min((p.created for p in g.pods), default="")
        number = g.number if g.number is not None else -1
        return (number, first or (g.record.created if g.record else ""), g.key)

    return tuple(sorted(groups.values(), key=order))


# --- queries -------------------------------------------------------------------------------


def build(snapshot: model.Snapshot) -> Graph:
    """Link the snapshot's objects."""
    return Graph(snapshot)


def workloads(g: Graph) -> list[model.WorkloadRef]:
    """Every workload, sorted by kind, namespace, name."""
    if g._sorted_refs is None:  # every detector asks; sort once, by a plain tuple key
        g._sorted_refs = tuple(sorted(g._entries, key=lambda r: (r.kind, r.namespace, r.name)))
    return list(g._sorted_refs)


def focus(g: Graph, refs: Iterable[model.WorkloadRef]) -> None:
    """Make :func:`workloads` list only ``refs`` (those in the graph); every edge stays.

    Detectors walk :func:`workloads`, so after this they check only these workloads —
    what ``driftscan watch`` asks after a change touched a few of them.
    """
    wanted = {r for r in refs if r in g._entries}
    g._sorted_refs = tuple(sorted(wanted, key=lambda r: (r.kind, r.namespace, r.name)))


def workload_of(g: Graph, namespace: str, pod: str) -> model.WorkloadRef | None:
    """The workload a pod belongs to, or None when the graph has no such pod."""
    return g._pod_workload.get((namespace, pod))


def workload(g: Graph, ref: model.WorkloadRef) -> model.Workload | None:
    """The controller object of ``ref``, or None (bare pods, unknown or missing owners)."""
    entry = g._entries.get(ref)
    return entry.record if entry else None


def pods(g: Graph, ref: model.WorkloadRef) -> tuple[model.PodRecord, ...]:
    """All pods of the workload (live or not), sorted by name."""
    entry = g._entries.get(ref)
    return tuple(entry.pods) if entry else ()


def revisions(g: Graph, ref: model.WorkloadRef) -> tuple[RevisionGroup, ...]:
    """The workload's revisions, oldest first (by revision number, then first pod)."""
    return g._groups.get(ref, ())


def newest_revision(g: Graph, ref: model.WorkloadRef) -> RevisionGroup | None:
    """The revision a rollout is heading to: StatefulSet ``updateRevision``, else the newest."""
    groups = revisions(g, ref)
    record = workload(g, ref)
    if record is not None and record.update_revision:
        for group in groups:
            if record.update_revision in (group.key, group.name):
                return group
    return groups[-1] if groups else None


def template(g: Graph, ref: model.WorkloadRef) -> tuple[model.ContainerSpec, ...]:
    """The containers the workload declares (its pod template, else its first pod's spec)."""
    record = workload(g, ref)
    if record is not None:
        return record.containers
    group_list = revisions(g, ref)
    for group in reversed(group_list):
        if group.record is not None and group.record.containers:
            return group.record.containers
    for pod in pods(g, ref):
        return tuple(
            model.ContainerSpec(c.name, c.role, c.image, c.pull_policy) for c in pod.containers
        )
    return ()


def digest_uses(g: Graph, ref: model.WorkloadRef, *, live_only: bool) -> list[DigestUse]:
    """Every (pod, container) of the workload with its parsed ``imageID``."""
    uses = g._uses.get(ref)
    if uses is None:
        uses = []
        for pod in pods(g, ref):
            rev = g._pod_revision[(pod.namespace, pod.name)]
            for c in pod.containers:
                uses.append(DigestUse(pod, c, images.parse_image_id(c.image_id), rev))
        g._uses[ref] = uses
    if not live_only:
        return list(uses)
    live = g._live_uses.get(ref)
    if live is None:
        live = g._live_uses[ref] = [u for u in uses if u.pod.live]
    return list(live)


def node(g: Graph, name: str) -> model.NodeRecord | None:
    """A node by name."""
    return g._nodes.get(name)


def services_selecting(g: Graph, ref: model.WorkloadRef) -> list[model.ServiceRecord]:
    """Services whose selector matches at least one pod of the workload."""
    known = g._selecting.get(ref)
    if known is None:
        found: set[tuple[str, str]] = set()
        for pod in pods(g, ref):
            for name in g._selected_by.get((pod.namespace, pod.name), ()):
                found.add((pod.namespace, name))
        known = g._selecting[ref] = [g._services[k] for k in sorted(found)]
    return list(known)


def traffic_by_digest(
    g: Graph, service: model.ServiceRecord, container: str
) -> dict[str, int]:
    """Ready, live pods behind ``service`` per digest of ``container`` (its traffic split)."""
    shares: dict[str, int] = defaultdict(int)
    pods_by_name = g._pods_by_name
    for name in g._selects.get((service.namespace, service.name), ()):
        pod = pods_by_name[(service.namespace, name)]
        if not (pod.live and pod.ready):
            continue
        for c in pod.containers:
            if c.name == container and c.image_id:
                shares[images.parse_image_id(c.image_id).key] += 1
    return dict(sorted(shares.items()))


def selected_pods(g: Graph, service: model.ServiceRecord) -> list[str]:
    """Names of the pods (in the service's namespace) its selector matches, sorted."""
    return list(g._selects.get((service.namespace, service.name), ()))


def service_callers(g: Graph, service: model.ServiceRecord) -> list[model.WorkloadRef]:
    """Workloads whose env values or args name ``service`` (its "calls" edges), sorted."""
    return sorted(g._calls.get((service.namespace, service.name), ()))


def callers(g: Graph, ref: model.WorkloadRef) -> list[model.WorkloadRef]:
    """Workloads that call a service selecting this workload's pods (its blast radius)."""
    result: set[model.WorkloadRef] = set()
    for svc in services_selecting(g, ref):
        result.update(c for c in g._calls.get((svc.namespace, svc.name), ()) if c != ref)
    return sorted(result)


def as_networkx(g: Graph) -> nx.MultiDiGraph:
    """The whole graph as a ``networkx.MultiDiGraph`` (built on each call).

    Nodes: ``("workload", ref)``, ``("revision", ref, key)``, ``("pod", ns, name)``,
    ``("node", name)``, ``("digest", key)``, ``("service", ns, name)``. Edge keys:
    ``owns``, ``runs-on``, the container name (pod → digest), ``selects``, ``calls``.
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    for ref in g._entries:
        wnode = ("workload", ref)
        graph.add_node(wnode)
        for group in g._groups[ref]:
            rnode = ("revision", ref, group.key)
            graph.add_edge(wnode, rnode, key="owns")
            for pod in group.pods:
                pnode = ("pod", pod.namespace, pod.name)
                graph.add_edge(rnode, pnode, key="owns")
                if pod.node:
                    graph.add_edge(pnode, ("node", pod.node), key="runs-on")
                for c in pod.containers:
                    if c.image_id:
                        digest = images.parse_image_id(c.image_id).key
                        graph.add_edge(pnode, ("digest", digest), key=c.name)
    for svc in g.snapshot.services:
        if not svc.selector:
            continue
        snode = ("service", svc.namespace, svc.name)
        graph.add_node(snode)
        for name in g._selects.get((svc.namespace, svc.name), ()):
            graph.add_edge(snode, ("pod", svc.namespace, name), key="selects")
    for (namespace, name), refs in g._calls.items():
        for ref in refs:
            graph.add_edge(("workload", ref), ("service", namespace, name), key=_CALLS)
    return graph


def missing_owners(g: Graph) -> list[model.Gap]:
    """Owners that pods name but the input lacks, one gap per kind and namespace."""
    gaps = []
    for (kind, namespace), names in sorted(g._missing.items()):
        unique = sorted(set(names))
        example = ", ".join(unique[:3]) + (", …" if len(unique) > 3 else "")
        gaps.append(
            model.Gap(
                kind=kind,
                namespace=namespace,
                reason=f"{len(unique)} {kind}(s) that own pods are not in the input ({example});"
                f" ownership and rollout state stop there — include {kind.lower()}s",
            )
        )
    return gaps
