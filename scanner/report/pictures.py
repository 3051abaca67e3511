"""What each workload's picture shows: revisions → pods → builds, with Services and callers.

``report.html`` calls :func:`workload` for every workload section; this module decides
which boxes and lines explain the workload (from the report model only) and
``report.svg`` draws them. A picture is drawn only where it explains something: more
than one build of a container, or more than one revision with live pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from scanner import images
from scanner.report import document as report_model
from scanner.report import svg

__all__ = ["MAX_PODS", "workload"]

MAX_PODS = 16
"""Above this many pods, pods are grouped per revision, build and liveness."""
_MAX_CONTAINERS = 3
_NO_BUILD = "#a0aec0"
_SERVICE = "#2f855a"
_TRAFFIC = "#68d391"


@dataclass(frozen=True)
class _Build:
    container: str
    digest: str
    colour: str
    pods: tuple[str, ...]
    pinned: bool


@dataclass(frozen=True)
class _PodBox:
    id: str
    label: str
    title: str
    colour: str
    dashed: bool
    members: tuple[str, ...]


def workload(w: report_model.WorkloadEntry) -> Markup | None:
    """The workload's picture, or None where it would show nothing a table does not."""
    builds = _builds(w)
    multi = [name for name, bs in builds.items() if len(bs) > 1]
    if not multi and sum(1 for r in w.revisions if r.live_pods) < 2:
        return None
    shown = (multi or [n for n, bs in builds.items() if bs][:1])[:_MAX_CONTAINERS]
    build_of = {p: b for b in builds[shown[0]] for p in b.pods} if shown else {}
    revisions: list[tuple[str, str, tuple[str, ...]]] = [
        (r.name, f"#{r.number} {r.name}" if r.number is not None else r.name, r.pods)
        for r in w.revisions
    ]
    live = {p for r in w.revisions for p in r.live_pods}
    if not revisions:  # a report written before revisions were recorded
        every = tuple(sorted({p for n in shown for b in builds[n] for p in b.pods}))
        revisions, live = [("", "", every)], set(every)
    grouped = sum(len(pods) for _, _, pods in revisions) > MAX_PODS
    nodes: list[svg.GraphNode] = []
    edges: list[svg.GraphEdge] = []
    box_of: dict[str, str] = {}
    for name, label, pods in revisions:
        if name:
            n_live = sum(p in live for p in pods)
            nodes.append(svg.GraphNode(
                f"r:{name}", 2, label,
                "" if n_live == len(pods) else f"{name}: {n_live} live of {len(pods)} pod(s)",
                dashed=n_live == 0))
        for box in _pod_boxes(name, pods, live, build_of, grouped):
            nodes.append(svg.GraphNode(box.id, 3, box.label, box.title, box.colour, box.dashed))
            box_of.update((p, box.id) for p in box.members)
            if name:
                edges.append(svg.GraphEdge(f"r:{name}", box.id))
    for container in shown:
        prefix = f"{container}: " if len(shown) > 1 else ""
        for b in builds[container]:
            bid = f"d:{container}:{b.digest}"
            nodes.append(svg.GraphNode(
                bid, 4, f"{prefix}{images.short_digest(b.digest)}{' pin' if b.pinned else ''}",
                "", b.colour))
            for box_id in dict.fromkeys(box_of[p] for p in b.pods if p in box_of):
                edges.append(svg.GraphEdge(box_id, bid, b.colour))
    _services(w, box_of, nodes, edges)
    nodes.sort(key=lambda n: n.column)
    return svg.workload_graph(
        nodes, edges, label=f"{w.kind} {w.namespace}/{w.name}: revisions, pods and builds"
    )


def _builds(w: report_model.WorkloadEntry) -> dict[str, list[_Build]]:
    result: dict[str, list[_Build]] = {}
    for c in w.containers:
        pinned = {f.pin.digest for f in w.findings if f.pin and f.pin.container == c.name}
        result[c.name] = [
            _Build(c.name, d.digest, svg.digest_colour(i), d.pods, d.digest in pinned)
            for i, d in enumerate(c.digests)
        ]
    return result


def _pod_boxes(revision: str, pods: Sequence[str], live: set[str],
               build_of: Mapping[str, _Build], grouped: bool) -> list[_PodBox]:
    if not grouped:
        return [
            _PodBox(
                f"p:{p}", _pod_label(revision, p),
                p + ("" if p in live else " (not live)")
                + ("" if p in build_of else ": no imageID yet"),
                build_of[p].colour if p in build_of else _NO_BUILD, p not in live, (p,))
            for p in pods
        ]
    groups: dict[tuple[str, bool], list[str]] = {}
    for p in pods:
        b = build_of.get(p)
        groups.setdefault((b.digest if b else "", p in live), []).append(p)
    boxes = []
    for (digest, is_live), members in groups.items():
        b = build_of.get(members[0])
        state = "live" if is_live else "not live"
        names = ", ".join(members[:10]) + (", …" if len(members) > 10 else "")
        boxes.append(_PodBox(
            f"g:{members[0]}", f"{len(members)} {state} pod{'s' if len(members) != 1 else ''}",
            f"{len(members)} {state} pod(s) on {digest or 'no imageID yet'}: {names}",
            b.colour if b else _NO_BUILD, not is_live, tuple(members)))
    return boxes


def _pod_label(revision: str, pod: str) -> str:
    """``pod x7k2p`` for ``web-5d9f8c7b6-x7k2p`` under revision ``web-5d9f8c7b6``."""
    if revision and pod.startswith(revision + "-") and len(pod) > len(revision) + 1:
        return "pod " + pod[len(revision) + 1:]
    return pod


def _services(w: report_model.WorkloadEntry, box_of: Mapping[str, str],
              nodes: list[svg.GraphNode], edges: list[svg.GraphEdge]) -> None:
    callers: set[str] = set()
    for s in w.services:
        sid = f"s:{s.name}"
        nodes.append(svg.GraphNode(
            sid, 1, s.name, f"Service {s.name}" if len(s.name) > svg.MAX_LABEL else "",
            _SERVICE))
        ready = set(s.ready_pods)
        traffic: dict[str, bool] = {}
        for p in s.pods:
            if p in box_of:
                traffic[box_of[p]] = traffic.get(box_of[p], False) or p in ready
        for box_id, gets_traffic in traffic.items():
            edges.append(svg.GraphEdge(sid, box_id, _TRAFFIC, dashed=not gets_traffic))
        for caller in s.callers:
            cid = f"c:{caller}"
            if caller not in callers:
                callers.add(caller)
                kind, _, rest = caller.partition("/")
                nodes.append(svg.GraphNode(cid, 0, rest.partition("/")[2] or caller,
                                           f"{kind} {rest} calls Service {s.name}"))
            edges.append(svg.GraphEdge(cid, sid))
