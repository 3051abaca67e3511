from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scanner import graph, model
from tests.unit import helpers

D1, D2 = ("sha256:" + ch * 64 for ch in "12")


def _pod(name: str, owner: dict[str, Any] | None, image_id: str, *, ready: bool = True,
         labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
         ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "app", "imageID": image_id,
                                              "ready": ready}]}}


def _snapshot(tmp_path: Path, *items: dict[str, Any]) -> model.Snapshot:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"kind": "List", "items": list(items)}))
    return helpers.load(path)


def test_unknown_owner_kind_is_kept_by_kind_and_name(tmp_path: Path) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "canary-abc", "namespace": "ns",
                       "labels": {"pod-template-hash": "abc"},
                       "ownerReferences": [{"kind": "Rollout", "name": "canary",
                                            "controller": True}]},
          "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}
    pods = [_pod(f"canary-abc-{i}", {"kind": "ReplicaSet", "name": "canary-abc"},
                 f"app@{d}", labels={"pod-template-hash": "abc"})
            for i, d in enumerate([D1, D2])]
    snap = _snapshot(tmp_path, rs, *pods)
    g, found = helpers.analyse(snap)
    ref = model.WorkloadRef("Rollout", "ns", "canary")
    assert graph.workloads(g) == [ref]
    assert graph.missing_owners(g) == []
    drift = [f for f in found if f.rule == "digest-drift"][0]
    assert drift.workload == ref
    assert drift.pin is not None and drift.pin.command is None
    assert drift.remediation.startswith("Set the image of app to app:1@")


def test_mirror_pods_and_bare_pods_are_their_own_workloads(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path,
                     _pod("etcd-n1", {"kind": "Node", "name": "n1"}, f"etcd@{D1}"),
                     _pod("apiserver-n1", {"kind": "Node", "name": "n1"}, f"etcd@{D1}"),
                     _pod("bare", None, f"app@{D1}",
                          annotations={"driftscan.io/ignore": "*"}))
    g, found = helpers.analyse(snap)
    # Two mirror pods of one node stay two workloads: the node owns them, it is no workload.
    assert graph.workloads(g) == [model.WorkloadRef("Pod", "ns", "apiserver-n1"),
                                  model.WorkloadRef("Pod", "ns", "bare"),
                                  model.WorkloadRef("Pod", "ns", "etcd-n1")]
    assert {f.workload.name for f in found} == {"apiserver-n1", "etcd-n1"}  # not "bare": "*"
    report = helpers.report_for(snap)
    bare = next(w for w in report.workloads if w.name == "bare")
    assert bare.ignored_rules == ("*",)


def test_missing_deployment_and_job_owners_are_gaps(tmp_path: Path) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-abc", "namespace": "ns",
                       "ownerReferences": [{"kind": "Deployment", "name": "web",
                                            "controller": True}]},
          "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}
    snap = _snapshot(tmp_path, rs,
                     _pod("web-abc-1", {"kind": "ReplicaSet", "name": "web-abc"}, f"app@{D1}"),
                     _pod("job-1", {"kind": "Job", "name": "job"}, f"app@{D1}"))
    g = graph.build(snap)
    assert graph.workloads(g) == [model.WorkloadRef("Deployment", "ns", "web"),
                                  model.WorkloadRef("Job", "ns", "job")]
    assert [(gap.kind, gap.namespace) for gap in graph.missing_owners(g)] == [
        ("Deployment", "ns"), ("Job", "ns")]


def test_services_traffic_and_callers(tmp_path: Path) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "ns"},
           "spec": {"selector": {"app": "api"}}}
    caller = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "front", "namespace": "ns"},
              "spec": {"template": {"spec": {"containers": [
                  {"name": "front", "image": "front:1",
                   "env": [{"name": "API_URL", "value": "http://api.ns.svc.cluster.local:80/v1"}]}]}}}}
    other = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "batch", "namespace": "ns"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "b", "image": "b:1", "args": ["--target=api:8080"]}]}}}}
    pods = [
        _pod("api-1", None, f"api@{D1}", labels={"app": "api"}),
        _pod("api-2", None, f"api@{D2}", labels={"app": "api"}),
        _pod("api-3", None, f"api@{D2}", labels={"app": "api"}, ready=False),
    ]
    snap = _snapshot(tmp_path, svc, caller, other, *pods)
    g = graph.build(snap)
    ref = model.WorkloadRef("Pod", "ns", "api-1")
    [service] = graph.services_selecting(g, ref)
    assert service.name == "api"
    assert graph.traffic_by_digest(g, service, "app") == {D1: 1, D2: 1}  # unready pod left out
    assert graph.callers(g, ref) == [model.WorkloadRef("Deployment", "ns", "batch"),
                                     model.WorkloadRef("Deployment", "ns", "front")]
    assert graph.callers(g, model.WorkloadRef("Deployment", "ns", "front")) == []


def test_revision_key_falls_back_to_a_template_hash() -> None:
    containers = (model.ContainerRecord("app", model.ContainerRole.MAIN, "app:1", "", ""),)
    pod = model.PodRecord("ns", "p", "", None, "", "Running", "", False, False, frozenset(),
                          containers)
    other = model.PodRecord("ns", "q", "", None, "", "Running", "", False, False, frozenset(),
                            containers)
    assert graph.revision_key(pod) == graph.revision_key(other)
    assert graph.revision_key(pod).startswith("template-")
    labelled = model.PodRecord("ns", "r", "", None, "", "Running", "", False, False,
                               frozenset({("controller-revision-hash", "db-7f")}), containers)
    assert graph.revision_key(labelled) == "db-7f"


def test_the_networkx_view_has_the_edges_the_queries_follow() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    g = graph.build(snap)
    nxg = graph.as_networkx(g)
    for svc in snap.services:
        snode = ("service", svc.namespace, svc.name)
        selected = sorted(p[2] for _, p, k in nxg.out_edges(snode, keys=True) if k == "selects")
        assert selected == graph.selected_pods(g, svc)
        calling = sorted({s[1] for s, _, k in nxg.in_edges(snode, keys=True) if k == "calls"})
        assert calling == graph.service_callers(g, svc)
    assert any(graph.selected_pods(g, svc) for svc in snap.services)
    for ref in graph.workloads(g):
        owned = {p for _, r in nxg.out_edges(("workload", ref)) if r[0] == "revision"
                 for _, p in nxg.out_edges(r)}
        assert owned == {("pod", p.namespace, p.name) for p in graph.pods(g, ref)}
