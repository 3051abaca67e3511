"""Carry out one step of a scenario against the cluster and its registry.

``running`` calls :func:`execute` for every step with the scenario's :class:`Workspace`
(its namespace, API connection, build publisher and what the scenario has created so
far). A step returns an :class:`Outcome` (what it did, structured output for the journal)
or raises :class:`StepFailed`; polling steps (waits, drains, new nodes) stop at their
deadline with ``timed_out`` set and the last state they saw.

Every write stays inside the scenario's namespace, and every push inside a repository
under it (``{{ namespace }}/…``), except the node steps: ``add-node`` creates a node the
engine labels and removes at cleanup; ``drain-node`` cordons a node the engine uncordons at
cleanup (only if it was schedulable before) — a node the scenario added, or, on a cluster
the run started (``Workspace.may_drain_any``), any node.
"""

from __future__ import annotations

import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from scanner import errors
from scanner.report import document as report_model
from scanner.scenarios import builds, kubeapi, records, waits
from scanner.scenarios import definitions as d

__all__ = ["Outcome", "StepFailed", "Workspace", "execute", "poll"]

POLL_INTERVAL = 0.25
LABEL_RUN = "scenarios.driftscan.io/run"
LABEL_SCENARIO = "scenarios.driftscan.io/scenario"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
MANAGED_BY = "driftscan"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


class StepFailed(errors.ScenarioFailed):
    """A step could not do its work; ``timed_out`` when a deadline passed."""

    def __init__(self, message: str, *, timed_out: bool = False,
                 output: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.output = output or {}


@dataclass
class Outcome:
    """What a step did."""

    detail: str
    output: dict[str, Any] = field(default_factory=dict)
    report: report_model.Report | None = None


@dataclass
class Workspace:
    """One scenario's namespace and everything the steps create or remember."""

    scenario: d.Scenario
    namespace: str
    run_id: str
    kube: kubeapi.Kube
    publisher: builds.Publisher
    registry: str
    """Registry prefix pods pull from (``{{ registry }}``)."""
    scan: Callable[[], report_model.Report]
    can_add_nodes: bool = False
    may_drain_any: bool = False
    """The run started the cluster: ``drain-node`` may cordon any of its nodes. Otherwise
    only nodes in ``nodes_added``."""
    builds: dict[str, records.BuildRecord] = field(default_factory=dict)
    nodes_added: dict[str, str] = field(default_factory=dict)
    """Scenario's node name → the node's real name."""
    cordoned: list[str] = field(default_factory=list)
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Fits each applied manifest to the nodes (``realnodes.adapt`` on real nodes)."""
    add_node: Callable[[str], None] | None = None
    """Starts a real node of that name (a run on real nodes); None: a KWOK node object."""
    remove_node: Callable[[str], None] | None = None
    """Stops and deletes a node ``add_node`` started."""

    def values(self) -> d.Values:
        """Placeholder values as of now."""
        return d.Values(self.registry, self.namespace,
                        {name: b.digest for name, b in self.builds.items()})

    def fill(self, text: str) -> str:
        """Substitute the placeholders in ``text``."""
        return d.substitute(text, self.values())

    def describe(self, step: d.Step) -> str:
        """The step's description with the placeholders known so far filled in."""
        try:
            return self.fill(step.describe())
        except errors.ScenarioFailed:
            return step.describe()

    def labels(self) -> dict[str, str]:
        """Labels on everything the engine creates for this scenario."""
        return {LABEL_MANAGED: MANAGED_BY, LABEL_RUN: self.run_id,
                LABEL_SCENARIO: self.scenario.name}


def poll(what: str, probe: Callable[[], waits.Check], timeout: float,
         interval: float = POLL_INTERVAL) -> waits.Check:
    """Call ``probe`` until it is done; ``StepFailed`` at the deadline or when it fails."""
    deadline = time.monotonic() + timeout
    while True:
        check = probe()
        if check.done:
            return check
        if check.failed:
            raise StepFailed(f"{what}: {check.detail}", output={"last_seen": check.detail})
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"timed out after {timeout:g}s waiting for {what}; last seen: "
                             f"{check.detail}", timed_out=True,
                             output={"last_seen": check.detail})
        time.sleep(min(interval, left))


def execute(step: d.Step, ws: Workspace, timeout: float) -> Outcome:
    """Carry out ``step`` within ``timeout`` seconds.

    Raises:
        StepFailed: the step could not do its work, or its deadline passed.
        errors.DriftscanError: the cluster or the registry stopped answering.
    """
    match step.action:
        case d.Apply() as a:
            return _apply(a, ws, timeout)
        case d.Push() as a:
            return _push(a, ws, timeout)
        case d.SetImage() as a:
            return _set_image(a, ws, timeout)
        case d.Scale() as a:
            return _scale(a, ws, timeout)
        case d.DeletePods() as a:
            return _delete_pods(a, ws, timeout)
        case d.AddNode() as a:
            return _add_node(a, ws, timeout)
        case d.DrainNode() as a:
            return _drain_node(a, ws, timeout)
        case d.Pause() | d.Resume() as a:
            return _pause(a, ws, timeout)
        case d.WaitRollout() | d.WaitPods() | d.WaitCondition() | d.WaitReplicaSets() as a:
            return _wait(a, ws, timeout)
        case d.Sleep() as a:
            return _sleep(a, ws, timeout)
        case d.Scan() as a:
            return _scan(a, ws, timeout)
        case _ as unknown:
            typing.assert_never(unknown)


# --- actions -----------------------------------------------------------------------------


def _apply(a: d.Apply, ws: Workspace, timeout: float) -> Outcome:
    applied = []
    for path in a.files:
        text = ws.fill(ws.scenario.manifests[path])
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            ws.kube.apply(ws.adapt(doc) if ws.adapt else doc, ws.namespace)
            applied.append(f"{doc['kind']}/{doc['metadata']['name']}")
    return Outcome(f"applied {', '.join(applied)}", {"objects": applied})


def _push(a: d.Push, ws: Workspace, timeout: float) -> Outcome:
    repository = ws.fill(a.repository)
    if not repository.startswith(f"{ws.namespace}/"):
        raise StepFailed(f"repository {repository} is not under the scenario's namespace "
                         f"({ws.namespace}/…); a scenario pushes only to repositories it "
                         "creates")
    record = ws.builds.get(a.build)
    label = record.label if record else f"{ws.namespace}/{a.build}"
    digest = ws.publisher.push(repository, a.tag, label)
    if record is None:
        record = ws.builds[a.build] = records.BuildRecord(a.build, label, digest)
    reference = f"{ws.registry}/{repository}:{a.tag}"
    record.pushed_as.append(reference)
    return Outcome(f"{reference} now points at build {a.build} ({digest[:19]}…)",
                   {"build": a.build, "reference": reference, "digest": digest})


def _container_path(obj: dict[str, Any], container: str) -> tuple[str, str]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            if c.get("name") == container:
                return f"/spec/template/spec/{key}/{i}", str(c.get("image", ""))
    raise StepFailed(f"{obj.get('kind')}/{obj['metadata']['name']} has no container "
                     f"{container!r}")


def _set_image(a: d.SetImage, ws: Workspace, timeout: float) -> Outcome:
    image = ws.fill(a.image)
    obj = ws.kube.read(a.workload.kind, ws.namespace, a.workload.name)
    path, old = _container_path(obj, a.container)
    ws.kube.patch(a.workload.kind, ws.namespace, a.workload.name, [
        {"op": "test", "path": f"{path}/name", "value": a.container},
        {"op": "replace", "path": f"{path}/image", "value": image},
    ], json_patch=True)
    return Outcome(f"{a.workload} container {a.container}: {old} → {image}",
                   {"workload": str(a.workload), "container": a.container, "from": old,
                    "to": image})


def _scale(a: d.Scale, ws: Workspace, timeout: float) -> Outcome:
    obj = ws.kube.read(a.workload.kind, ws.namespace, a.workload.name)
    before = int(obj.get("spec", {}).get("replicas", 1))
    ws.kube.scale(a.workload.kind, ws.namespace, a.workload.name, a.replicas)
    return Outcome(f"{a.workload} scaled {before} → {a.replicas}",
                   {"workload": str(a.workload), "from": before, "to": a.replicas})


def _oldest_first(pods: list[Any]) -> list[Any]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                       p["metadata"]["name"]))


def _delete_pods(a: d.DeletePods, ws: Workspace, timeout: float) -> Outcome:
    alive = _oldest_first(waits.live(ws.kube.objects("Pod", ws.namespace, a.selector)))
    if not alive:
        raise StepFailed(f"no live pod matches {a.selector}")
    if a.count is not None and len(alive) < a.count:
        raise StepFailed(f"only {len(alive)} live pod(s) match {a.selector}; "
                         f"cannot delete {a.count}")
    chosen = alive if a.count is None else alive[:a.count]
    names = [p["metadata"]["name"] for p in chosen]
    for name in names:
        ws.kube.delete_pod(ws.namespace, name)
    nodes = Counter(p.get("spec", {}).get("nodeName", "") for p in chosen)
    return Outcome(f"deleted {len(names)} pod(s): {', '.join(names)}",
                   {"pods": names, "nodes": dict(nodes)})


def node_name(ws: Workspace, name: str) -> str:
    """The real node name for the scenario's ``name``: unique per run, within 63 chars."""
    suffix = ws.namespace.rsplit("-", 1)[-1]
    return f"ds-{suffix}-{name}"[:63].rstrip("-")


def _add_node(a: d.AddNode, ws: Workspace, timeout: float) -> Outcome:
    real = node_name(ws, a.name)
    if ws.add_node is not None:
        ws.nodes_added[a.name] = real  # before it starts: cleanup stops a half-started one
        ws.add_node(real)
        ws.kube.patch_node(real, {"metadata": {"labels": ws.labels()}})
        return Outcome(f"real node {real} (kubelet + containerd) joined and is Ready",
                       {"node": real})
    if not ws.can_add_nodes:
        raise StepFailed("add-node needs a kwok cluster (its nodes are API objects); this "
                         "cluster's nodes are real machines")
    ws.kube.create_node({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": real, "annotations": {KWOK_ANNOTATION: "fake"},
                     "labels": {**ws.labels(), "type": "kwok",
                                "kubernetes.io/hostname": real, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64",
                                "node-role.kubernetes.io/worker": ""}},
        "spec": {}})
    ws.nodes_added[a.name] = real

    def ready() -> waits.Check:
        node = ws.kube.node(real) or {}
        ok = any(c.get("type") == "Ready" and c.get("status") == "True"
                 for c in node.get("status", {}).get("conditions") or [])
        # The node lifecycle controller lifts the not-ready taint shortly after Ready;
        # until then the scheduler (and nodeTaintsPolicy: Honor spreads) skip the node.
        taints = [t.get("key") for t in node.get("spec", {}).get("taints") or []
                  if t.get("effect") in ("NoSchedule", "NoExecute")]
        if ok and not taints:
            return waits.Check(True, "Ready and schedulable")
        return waits.Check(False, f"tainted {', '.join(taints)}" if ok else "not Ready yet")

    poll(f"node {real} to become Ready and schedulable", ready, timeout)
    return Outcome(f"node {real} joined and is Ready", {"node": real})


def _drain_node(a: d.DrainNode, ws: Workspace, timeout: float) -> Outcome:
    if a.node is not None:
        node = ws.nodes_added[a.node]
    elif a.hosting is None:
        raise StepFailed("drain-node names neither a node nor the pods it hosts")
    else:
        placed = Counter(p.get("spec", {}).get("nodeName") for p in
                         waits.live(ws.kube.objects("Pod", ws.namespace, a.hosting)))
        placed.pop(None, None)
        placed.pop("", None)
        if not placed:
            raise StepFailed(f"no live pod matching {a.hosting} runs on a node")
        node = str(sorted(placed.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0])
    if node not in ws.nodes_added.values() and not ws.may_drain_any:
        raise StepFailed(f"node {node} was not added by this scenario and the run did not "
                         "start this cluster; drain-node leaves nodes it did not create alone")
    current = ws.kube.node(node)
    if current is None:
        raise StepFailed(f"node {node} does not exist")
    if not current.get("spec", {}).get("unschedulable"):
        ws.kube.set_unschedulable(node, True)
        ws.cordoned.append(node)
    evicted = []
    for pod in waits.live(ws.kube.objects("Pod", ws.namespace)):
        if pod.get("spec", {}).get("nodeName") != node:
            continue
        owners = pod["metadata"].get("ownerReferences") or []
        if any(o.get("kind") == "DaemonSet" for o in owners):
            continue  # as `kubectl drain --ignore-daemonsets`
        evicted.append(pod["metadata"]["name"])
    pending = list(evicted)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [name for name in pending if not ws.kube.evict(ws.namespace, name)]
        if pending and time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout:g}s evicting {', '.join(pending)} from "
                             f"{node}: a PodDisruptionBudget refuses", timed_out=True)
        if pending:
            time.sleep(1.0)

    def gone() -> waits.Check:
        left = [p["metadata"]["name"] for p in waits.live(ws.kube.objects("Pod", ws.namespace))
                if p["metadata"]["name"] in evicted]
        return waits.Check(not left, f"{len(left)} evicted pod(s) still terminating")

    poll(f"evicted pods to leave {node}", gone, max(1.0, deadline - time.monotonic()))
    return Outcome(f"cordoned {node} and evicted {len(evicted)} pod(s)",
                   {"node": node, "evicted": evicted})


def _pause(a: d.Pause | d.Resume, ws: Workspace, timeout: float) -> Outcome:
    paused = isinstance(a, d.Pause)
    ws.kube.patch(a.workload.kind, ws.namespace, a.workload.name, {"spec": {"paused": paused}})
    return Outcome(f"{a.workload} {'paused' if paused else 'resumed'}",
                   {"workload": str(a.workload), "paused": paused})


def _wait(a: d.WaitRollout | d.WaitPods | d.WaitCondition | d.WaitReplicaSets, ws: Workspace,
          timeout: float) -> Outcome:
    if isinstance(a, d.WaitRollout):
        w = a.workload
        check = poll(f"the rollout of {w}",
                     lambda: waits.rollout(ws.kube.read(w.kind, ws.namespace, w.name)), timeout)
    elif isinstance(a, d.WaitPods):
        digest = None
        if a.build is not None:
            if a.build not in ws.builds:
                raise StepFailed(f"build {a.build!r} has not been pushed")
            digest = ws.builds[a.build].digest
        want = a
        check = poll(a.describe().removeprefix("wait for "),
                     lambda: waits.pods(ws.kube.objects("Pod", ws.namespace, want.selector), want,
                                        digest), timeout)
    elif isinstance(a, d.WaitCondition):
        cond = a
        check = poll(f"{a.workload} condition {a.type}={a.status}",
                     lambda: waits.condition(ws.kube.read(cond.workload.kind, ws.namespace,
                                                          cond.workload.name), cond), timeout)
    else:
        rs_want = a

        def probe() -> waits.Check:
            owner = ws.kube.read("Deployment", ws.namespace, rs_want.workload.name)
            return waits.replicasets(ws.kube.objects("ReplicaSet", ws.namespace),
                                     owner["metadata"]["uid"], rs_want)

        check = poll(a.describe().removeprefix("wait for "), probe, timeout)
    return Outcome(check.detail, {"seen": check.detail})


def _sleep(a: d.Sleep, ws: Workspace, timeout: float) -> Outcome:
    time.sleep(a.seconds)
    return Outcome(f"slept {a.seconds:g}s")


def _scan(a: d.Scan, ws: Workspace, timeout: float) -> Outcome:
    report = ws.scan()
    found = sum(len(w.findings) for w in report.workloads)
    return Outcome(f"{len(report.workloads)} workload(s), {report.summary.pods} pod(s), "
                   f"{found} finding(s)", {"label": a.label}, report=report)


