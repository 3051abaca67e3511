"""What ``driftscan watch`` knows about the cluster, kept current one change at a time.

The watcher's informers hand every LIST and watch event to :class:`State`, which parses
the object into the same compact records a scan reads (``sources.parsing``) and files
them per namespace. A change to a pod, a ReplicaSet, a ControllerRevision or a
controller marks the record as *touched*; a change to a Service, a node, or a container
naming a host (a "calls" edge, which may cross namespaces) marks the whole namespace —
and the namespaces it names — dirty. A change that leaves the parsed record equal (a
status heartbeat, a new ``resourceVersion``) marks nothing.

:meth:`State.recompute` then runs the scan's own pipeline (snapshot → graph → detectors →
scoring → report entries) for the touched workloads and those sharing a Service with
them; the graph spans their namespaces and the namespaces whose workloads call into
them, so every edge a detector follows is there. Results are kept per workload. Every
detector, the score and the report entry of a workload depend only on its own
namespace's objects, the nodes, the registry's answers and its callers, so the kept
results equal those of a full scan (a test checks it after random change sequences).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scanner import detectors, findings, graph, images, model
from scanner.detectors import rules
from scanner.report import building
from scanner.report import document as report_model
from scanner.sources import parsing

__all__ = ["FindingKey", "Result", "State", "View", "gap_key"]

T = TypeVar("T")
FindingKey = tuple[str, str, str, str, str, str]
"""(rule, severity, namespace, kind, workload, container) — a ``driftscan_finding`` series."""


def gap_key(gap: model.Gap) -> tuple[str, str, str]:
    """How a scan sorts its source's gaps."""
    return (gap.kind, gap.namespace or "", gap.reason)


Ref = model.WorkloadRef


@dataclass(frozen=True)
class Result:
    """One namespace's detection result, per workload, and the indexes a change needs."""

    found: Mapping[Ref, tuple[findings.Finding, ...]]
    entries: Mapping[Ref, report_model.WorkloadEntry]
    builds: Mapping[Ref, Mapping[tuple[str, str, str, str], int]]
    """(namespace, kind, workload, container) → distinct digests its live pods run."""
    missing: tuple[model.Gap, ...]
    """Owners that pods of this namespace name but the input lacks."""
    refers: frozenset[str]
    """Namespaces the hosts of this namespace's containers may name."""
    pod_refs: Mapping[str, Ref]
    """Pod name → its workload."""
    members: Mapping[str, frozenset[Ref]]
    """Service name → the workloads of the pods it selects."""

    def finding_keys(self) -> frozenset[FindingKey]:
        """The ``driftscan_finding`` series of this namespace."""
        return frozenset(
            (f.rule, f.severity, w.namespace, w.kind, w.name, f.container or "")
            for w in self.entries.values() for f in w.findings)

    def all_builds(self) -> dict[tuple[str, str, str, str], int]:
        """Every workload's builds."""
        return {k: v for b in self.builds.values() for k, v in b.items()}


@dataclass(frozen=True)
class View:
    """An immutable picture of the state, handed to the HTTP threads."""

    source: model.SourceInfo
    results: Mapping[str, Result]
    source_gaps: tuple[model.Gap, ...]
    """LIST, object and namespace gaps, sorted as a scan sorts them, then registry gaps."""
    pods: int
    rule_set: rules.RuleSet = field(default=detectors.RULES)

    def report(self, facts: model.Provenance | None = None,
               command_line: Sequence[str] = ()) -> report_model.Report:
        """The ``driftscan/report/v1`` document of this view (unsealed)."""
        found = [f for r in self.results.values() for fs in r.found.values() for f in fs]
        entries = [e for r in self.results.values() for e in r.entries.values()]
        missing = sorted((g for r in self.results.values() for g in r.missing),
                         key=lambda g: (g.kind, g.namespace or ""))
        return building.assemble(self.source, facts or model.Provenance(), found, entries,
                                 [*self.source_gaps, *missing], self.pods, self.rule_set,
                                 command_line=command_line)

    def finding_keys(self) -> frozenset[FindingKey]:
        """Every ``driftscan_finding`` series."""
        return frozenset().union(*(r.finding_keys() for r in self.results.values()))

    def gap_count(self) -> int:
        """Gaps of the source plus owners missing from the input."""
        return len(self.source_gaps) + sum(len(r.missing) for r in self.results.values())


class State:
    """Parsed records per namespace, the per-namespace results, and what is dirty."""

    def __init__(self, source: model.SourceInfo, rule_set: rules.RuleSet = detectors.RULES):
        self.source = source
        self.rule_set = rule_set
        self._spaces: dict[str, parsing.Collector] = {}
        self._nodes: dict[str, model.NodeRecord] = {}
        self._object_gaps: dict[tuple[str, str, str], model.Gap] = {}
        self._list_gaps: dict[tuple[str, str | None], tuple[model.Gap, ...]] = {}
        self._namespace_gaps: tuple[model.Gap, ...] = ()
        self._registry: tuple[tuple[model.RegistryTag, ...], tuple[model.RegistryIndex, ...],
                              tuple[model.Gap, ...]] = ((), (), ())
        self._results: dict[str, Result] = {}
        self._dirty: set[str] = set()
        """Namespaces to recompute whole."""
        self._touched: dict[str, list[Any]] = {}
        """Namespace → records (old and new) whose workloads alone need recomputing."""
        self._gaps_changed = False

    # -- changes ----------------------------------------------------------------------------

    def apply(self, kind: str, event: str, obj: Mapping[str, Any], path: str = "") -> None:
        """One watch event (``ADDED``, ``MODIFIED`` or ``DELETED``) for an object of ``kind``."""
        namespace, name = _identity(obj)
        if event == "DELETED":
            self._remove(kind, namespace, name)
        else:
            self._put(kind, namespace, name, obj, path)

    def replace(self, kind: str, namespace: str | None, objects: Iterable[Mapping[str, Any]],
                path: str = "") -> None:
        """A full LIST of ``kind`` in ``namespace`` (None: cluster-wide) replaces what was held.

        Objects that are gone are removed (the informer missed their DELETED while
        disconnected); the rest are put as if ADDED or MODIFIED.
        """
        objects = list(objects)
        listed = {_identity(obj) for obj in objects}
        self.put_all(kind, objects, path)
        self.prune(kind, namespace, listed)

    def put_all(self, kind: str, objects: Iterable[Mapping[str, Any]], path: str = "") -> None:
        """Objects of one LIST page, put as if ADDED or MODIFIED."""
        for obj in objects:
            ns, name = _identity(obj)
            self._put(kind, ns, name, obj, path)

    def prune(self, kind: str, namespace: str | None, listed: Iterable[tuple[str, str]]
              ) -> None:
        """Drop what is held of ``kind`` in ``namespace`` (None: everywhere) and not listed."""
        listed = set(listed)
        for ns, name in self._held(kind, namespace):
            if (ns, name) not in listed:
                self._remove(kind, ns, name)

    def set_list_gaps(self, kind: str, namespace: str | None, gaps: Sequence[model.Gap]) -> None:
        """The gaps of the latest LIST of ``kind`` in ``namespace`` (forbidden, not served)."""
        if tuple(gaps) != self._list_gaps.get((kind, namespace), ()):
            self._list_gaps[(kind, namespace)] = tuple(gaps)
            self._gaps_changed = True

    def set_namespace_gaps(self, gaps: Sequence[model.Gap]) -> None:
        """Namespaces asked for that do not exist or cannot be checked."""
        if tuple(gaps) != self._namespace_gaps:
            self._namespace_gaps = tuple(gaps)
            self._gaps_changed = True

    def set_registry(self, tags: Sequence[model.RegistryTag],
                     indexes: Sequence[model.RegistryIndex], gaps: Sequence[model.Gap]) -> None:
        """The answers of a registry check: every namespace is recomputed against them."""
        registry = (tuple(tags), tuple(indexes), tuple(gaps))
        if registry != self._registry:
            self._registry = registry
            self._gaps_changed = True
            self._dirty.update(self._spaces)

    def mark_all_dirty(self) -> None:
        """Recompute everything at the next :meth:`recompute` (after an error)."""
        self._dirty.update(self._spaces)
        self._gaps_changed = True

    def namespaces(self) -> frozenset[str]:
        """Namespaces holding at least one object."""
        return frozenset(ns for ns, c in self._spaces.items() if c.namespaces())

    @property
    def dirty(self) -> bool:
        """True when :meth:`recompute` has work to do."""
        return bool(self._dirty or self._touched) or self._gaps_changed

    # -- recomputing ------------------------------------------------------------------------

    def recompute(self) -> frozenset[str]:
        """Detect again for the workloads changes touched; returns their namespaces.

        The graph is built over the whole of each namespace concerned (and the namespaces
        whose workloads call into it), so every edge a detector follows is there; the
        detectors and the report entries then run for the touched workloads only, and
        for the workloads that share a Service with them (a traffic split counts them).
        """
        whole = set(self._dirty)
        touched = {ns: records for ns, records in self._touched.items() if ns not in whole}
        self._dirty.clear()
        self._touched.clear()
        self._gaps_changed = False
        whole.update(ns for ns in touched if ns not in self._results)
        touched = {ns: records for ns, records in touched.items() if ns not in whole}
        dirty = frozenset(whole | set(touched))
        if not dirty:
            return dirty
        include = set(dirty)
        include.update(ns for ns, r in self._results.items() if r.refers & dirty)
        snap = self.snapshot(include)
        g = graph.build(snap)
        refs: set[Ref] = {r for r in graph.workloads(g) if r.namespace in whole}
        for ns, records in touched.items():
            refs |= self._affected(ns, records, g)
        chosen = sorted(refs, key=lambda r: (r.kind, r.namespace, r.name))
        graph.focus(g, chosen)
        chosen = graph.workloads(g)
        found = detectors.detect(snap, g, rule_set=self.rule_set)
        entries = building.workload_entries(g, found, self.rule_set, chosen)
        found_by: dict[Ref, list[findings.Finding]] = {}
        for f in found:
            found_by.setdefault(f.workload, []).append(f)
        builds = _builds(g, chosen)
        missing = [gap for gap in graph.missing_owners(g) if gap.namespace in dirty]
        for ns in dirty:
            collector = self._spaces.get(ns)
            if collector is None or not collector.namespaces():
                self._spaces.pop(ns, None)
                self._results.pop(ns, None)
                continue
            old = self._results.get(ns) if ns in touched else None
            ns_found = _kept(old.found, refs) if old else {}
            ns_entries = _kept(old.entries, refs) if old else {}
            ns_builds = _kept(old.builds, refs) if old else {}
            for entry, ref in ((e, Ref(e.kind, e.namespace, e.name)) for e in entries):
                if ref.namespace == ns:
                    ns_entries[ref] = entry
                    ns_found[ref] = tuple(found_by.get(ref, ()))
                    ns_builds[ref] = builds.get(ref, {})
            self._results[ns] = Result(
                found=ns_found, entries=ns_entries, builds=ns_builds,
                missing=tuple(gap for gap in missing if gap.namespace == ns),
                refers=_refers(collector),
                pod_refs=_pod_refs(g, ns, collector),
                members=_members(g, ns, collector),
            )
        return dirty

    def _affected(self, ns: str, records: list[Any], g: graph.Graph) -> set[Ref]:
        """The workloads whose result changed records of ``ns`` may change."""
        old = self._results[ns]
        collector = self._spaces.get(ns)
        refs: set[Ref] = set()
        pods: set[str] = set()
        owners: set[tuple[str, str]] = set()
        for record in records:
            if isinstance(record, model.PodRecord):
                pods.add(record.name)
            elif isinstance(record, model.Revision):
                owners.add((record.kind, record.name))
                if record.owner is not None:
                    refs.add(Ref(record.owner.kind, ns, record.owner.name))
            elif isinstance(record, model.Workload):
                owners.add((record.kind, record.name))
                refs.add(record.ref)
                if record.owner is not None:
                    refs.add(Ref(record.owner.kind, ns, record.owner.name))
        if owners and collector is not None:
            pods.update(p.name for p in collector.pods.values()
                        if p.owner is not None and (p.owner.kind, p.owner.name) in owners)
            pods.update(name for name, ref in old.pod_refs.items()
                        if (ref.kind, ref.name) in owners)
        for name in pods:
            for ref in (old.pod_refs.get(name), graph.workload_of(g, ns, name)):
                if ref is not None:
                    refs.add(ref)
        shared: set[Ref] = set()
        new_members = _members(g, ns, collector) if collector is not None else {}
        for members in (old.members, new_members):
            for group in members.values():
                if group & refs:
                    shared |= group
        return refs | shared

    def view(self) -> View:
        """An immutable picture for readers on other threads."""
        source_gaps = sorted(
            [*(g for gaps in self._list_gaps.values() for g in gaps),
             *self._object_gaps.values(), *self._namespace_gaps], key=gap_key)
        pods = sum(len(c.pods) for c in self._spaces.values())
        return View(self.source, dict(self._results), (*source_gaps, *self._registry[2]),
                    pods, self.rule_set)

    def snapshot(self, namespaces: Iterable[str] | None = None) -> model.Snapshot:
        """The records of ``namespaces`` (all when None) and every node, as a scan sees them."""
        merged = parsing.Collector()
        for ns in (self._spaces if namespaces is None else namespaces):
            collector = self._spaces.get(ns)
            if collector is not None:
                merged.merge(collector)
        merged.nodes.update(self._nodes)
        snap = merged.snapshot(self.source, _stamp())
        tags, indexes, _ = self._registry
        return dataclasses.replace(snap, registry_tags=tags, registry_indexes=indexes)

    # -- records ----------------------------------------------------------------------------

    def _held(self, kind: str, namespace: str | None) -> list[tuple[str, str]]:
        if kind == "Node":
            held = [("", name) for name in self._nodes]
        else:
            held = []
            spaces = self._spaces.values() if namespace is None else (
                [self._spaces[namespace]] if namespace in self._spaces else [])
            for collector in spaces:
                for table in _TABLES[kind]:
                    held.extend((k[-2], k[-1]) for k in getattr(collector, table)
                                if table in _BY_NAME or k[0] == kind)
        held.extend((ns, name) for (k, ns, name) in self._object_gaps
                    if k == kind and (namespace is None or ns == namespace))
        return held

    def _remove(self, kind: str, namespace: str, name: str) -> None:
        if self._object_gaps.pop((kind, namespace, name), None) is not None:
            self._gaps_changed = True
        if kind == "Node":
            if self._nodes.pop(name, None) is not None:
                self._touch_node(name)
            return
        collector = self._spaces.get(namespace)
        if collector is None:
            return
        for table in _TABLES[kind]:
            old = getattr(collector, table).pop(_key(table, kind, namespace, name), None)
            if old is not None:
                self._touch(namespace, old)

    def _put(self, kind: str, namespace: str, name: str, obj: Mapping[str, Any],
             path: str) -> None:
        single = parsing.Collector()
        try:
            single.add(kind, obj)
        except parsing.ObjectProblem as e:
            self._remove(kind, namespace, name)
            self._object_gaps[(kind, namespace, name)] = model.Gap(
                kind, namespace or None,
                f"{kind} {(namespace + '/') if namespace else ''}{name or '(no name)'} from GET"
                f" {path} is malformed and was not read: {e}")
            self._gaps_changed = True
            return
        if self._object_gaps.pop((kind, namespace, name), None) is not None:
            self._gaps_changed = True
        if kind == "Node":
            node = next(iter(single.nodes.values()), None)
            if node is not None and self._nodes.get(node.name) != node:
                self._nodes[node.name] = node
                self._touch_node(node.name)
            return
        new = next(((table, record) for table in _TABLES[kind]
                    for record in getattr(single, table).values()), None)
        collector = self._spaces.setdefault(namespace, parsing.Collector())
        for table in _TABLES[kind]:
            records = getattr(collector, table)
            key = _key(table, kind, namespace, name)
            old = records.get(key)
            if old is None:
                continue
            if new is not None and new[0] == table and new[1] == old:
                return  # the same record: a heartbeat or a field driftscan does not read
            del records[key]
            self._touch(namespace, old)
        if new is not None:
            table, record = new
            getattr(collector, table)[_key(table, kind, namespace, name)] = record
            self._touch(namespace, record)

    def _touch(self, namespace: str, record: Any) -> None:
        hosts = list(_record_hosts(record))
        if hosts or isinstance(record, model.ServiceRecord):
            # Services and "calls" edges reach across workloads (and namespaces).
            self._dirty.add(namespace)
            self._dirty.update(_named_namespaces(hosts))
        else:
            self._touched.setdefault(namespace, []).append(record)

    def _touch_node(self, name: str) -> None:
        for ns, collector in self._spaces.items():
            if any(p.node == name for p in collector.pods.values()):
                self._dirty.add(ns)


# --- helpers ------------------------------------------------------------------------------


def _identity(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    namespace, name = meta.get("namespace"), meta.get("name")
    return (namespace if isinstance(namespace, str) else "",
            name if isinstance(name, str) else "")


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_TABLES: Mapping[str, tuple[str, ...]] = {
    "Pod": ("pods",),
    "Service": ("services",),
    "ReplicaSet": ("workloads", "revisions"),  # bare: a workload; owned: a revision
    "ControllerRevision": ("revisions",),
    "Node": (),
    **{kind: ("workloads",) for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job",
                                         "CronJob", "ReplicationController")},
}
"""The ``parsing.Collector`` dicts an object of each kind may be filed in."""
_BY_NAME = frozenset({"pods", "services"})
"""Dicts keyed (namespace, name); the others are keyed (kind, namespace, name)."""


def _key(table: str, kind: str, namespace: str, name: str) -> tuple[str, ...]:
    return (namespace, name) if table in _BY_NAME else (kind, namespace, name)


def _record_hosts(record: Any) -> Iterable[str]:
    if isinstance(record, model.PodRecord):
        return record.hosts
    containers = getattr(record, "containers", ())
    return [h for c in containers for h in getattr(c, "hosts", ())]


def _named_namespaces(hosts: Iterable[str]) -> set[str]:
    """Namespaces a host may name (``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``)."""
    found = set()
    for host in hosts:
        parts = host.split(".")
        if len(parts) >= 2:
            found.add(parts[1])
    return found


def _refers(collector: parsing.Collector) -> frozenset[str]:
    hosts: list[str] = []
    for pod in collector.pods.values():
        hosts.extend(pod.hosts)
    for records in (collector.workloads, collector.revisions):
        for record in records.values():
            hosts.extend(_record_hosts(record))
    return frozenset(_named_namespaces(hosts))


def _builds(g: graph.Graph, refs: Iterable[Ref]
            ) -> dict[Ref, dict[tuple[str, str, str, str], int]]:
    """Per workload: (namespace, kind, workload, container) → distinct live digests."""
    result: dict[Ref, dict[tuple[str, str, str, str], int]] = {}
    for ref in refs:
        counts: dict[tuple[str, str, str, str], set[str]] = {}
        for use in graph.digest_uses(g, ref, live_only=True):
            key = (ref.namespace, ref.kind, ref.name, use.container.name)
            seen = counts.setdefault(key, set())
            if use.image_id.kind is not images.ImageIDKind.EMPTY:
                seen.add(use.image_id.key)
        result[ref] = {k: len(v) for k, v in sorted(counts.items())}
    return result


def _kept(results: Mapping[Ref, T], recomputed: set[Ref]) -> dict[Ref, T]:
    return {r: v for r, v in results.items() if r not in recomputed}


def _pod_refs(g: graph.Graph, ns: str, collector: parsing.Collector) -> dict[str, Ref]:
    found = {}
    for _, name in collector.pods:
        ref = graph.workload_of(g, ns, name)
        if ref is not None:
            found[name] = ref
    return found


def _members(g: graph.Graph, ns: str, collector: parsing.Collector
             ) -> dict[str, frozenset[Ref]]:
    """Service name → the workloads of the pods it selects."""
    members: dict[str, frozenset[Ref]] = {}
    for (_, name), service in collector.services.items():
        refs = {graph.workload_of(g, ns, pod) for pod in graph.selected_pods(g, service)}
        members[name] = frozenset(r for r in refs if r is not None)
    return members
