"""The watcher's incremental state equals a fresh scan after any sequence of changes.

Random ADDED / MODIFIED / DELETED events and relists are drawn from the rule fixtures
(objects moved between namespaces so fixtures collide, images re-pushed, pods deleted,
selectors and owners changed, objects made malformed); after each batch the watcher's
report must be the report a scan of the same objects builds.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from scanner import detectors, graph, model
from scanner.report import building
from scanner.report import document as report_model
from scanner.sources import parsing
from scanner.watching import state as watch_state
from tests.unit import helpers

KINDS = ("Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "ControllerRevision",
         "Job", "CronJob", "ReplicationController", "Service", "Node")
NAMESPACES = ("shop", "pay", "ops")
SOURCE = model.SourceInfo(type="live", context="test", all_namespaces=True)
DIGESTS = [f"sha256:{c * 64}" for c in "abcdef"]

Key = tuple[str, str, str]


def _pool() -> list[dict[str, Any]]:
    """Every object of every rule fixture, each also copied into another namespace."""
    items = []
    for index, path in enumerate(helpers.rule_fixtures()):
        doc = helpers.raw(path)
        if doc.get("driftscanRegistry"):
            continue
        for item in doc["items"]:
            items.append(item)
            if item["metadata"].get("namespace"):
                moved = copy.deepcopy(item)
                moved["metadata"]["namespace"] = NAMESPACES[index % len(NAMESPACES)]
                items.append(moved)
    return items


POOL = _pool()


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def _fresh_report(truth: Mapping[Key, dict[str, Any]]) -> report_model.Report:
    """What a scan of exactly these objects reports."""
    collector = parsing.Collector()
    gaps = []
    for kind in KINDS:
        for (k, ns, name), obj in sorted(truth.items()):
            if k != kind:
                continue
            try:
                collector.add(kind, obj)
            except parsing.ObjectProblem as e:
                gaps.append(model.Gap(kind, ns or None,
                                      f"{kind} {(ns + '/') if ns else ''}{name} from GET "
                                      f" is malformed and was not read: {e}"))
    snap = collector.snapshot(SOURCE, "2026-01-01T00:00:00Z",
                              sorted(gaps, key=watch_state.gap_key))
    g = graph.build(snap)
    return building.build(snap, g, detectors.detect(snap, g), detectors.RULES,
                          generated_at="T")


def _comparable(report: report_model.Report) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(report,
                                                                        generated_at="T")),
                                 default=str))


def _mutate(rng: random.Random, obj: dict[str, Any]) -> dict[str, Any]:
    """A changed copy: a re-pushed build, a deleted or finished pod, new labels …"""
    obj = copy.deepcopy(obj)
    kind = obj["kind"]
    choice = rng.randrange(6)
    spec = obj.get("spec") or {}
    if kind == "Pod":
        statuses = (obj.get("status") or {}).get("containerStatuses") or []
        if choice <= 1 and statuses:
            status = rng.choice(statuses)
            image = status.get("image", "registry.local/app:1").split("@")[0]
            status["imageID"] = f"{image}@{rng.choice(DIGESTS)}"
        elif choice == 2:
            obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        elif choice == 3:
            obj.setdefault("status", {})["phase"] = rng.choice(["Running", "Succeeded",
                                                                "Pending"])
        elif choice == 4:
            labels = obj["metadata"].setdefault("labels", {})
            labels["pod-template-hash"] = rng.choice(["aaa", "bbb", "5d9f8c7b6"])
            # One Service then selects pods of several workloads: a traffic split
            # counts them all, so a change to one reaches the others' results.
            labels["app"] = rng.choice(["web", "frontend", "userservice"])
        else:
            obj["spec"] = {"containers": "not a list"}  # malformed: becomes a gap
    elif kind == "Service":
        spec["selector"] = rng.choice([{"app": "web"}, {"app": "frontend"}, {}])
        obj["spec"] = spec
    elif kind == "Node":
        obj.setdefault("status", {})["conditions"] = [
            {"type": "Ready", "status": rng.choice(["True", "False"])}]
    elif kind == "ReplicaSet" and choice == 0:
        obj["metadata"].pop("ownerReferences", None)  # owned → bare
    else:
        template = (spec.get("template") or {}).get("spec") or {}
        for container in template.get("containers") or []:
            container["image"] = rng.choice(["registry.local/app:1", "registry.local/app:2",
                                             f"registry.local/app@{rng.choice(DIGESTS)}"])
            if choice == 1:
                container["env"] = [{"name": "UPSTREAM",
                                     "value": f"http://web.{rng.choice(NAMESPACES)}:8080"}]
        if "replicas" in spec:
            spec["replicas"] = rng.randrange(0, 5)
    return obj


def _path(kind: str) -> str:
    return ""


def _step(rng: random.Random, state: watch_state.State,
          truth: dict[Key, dict[str, Any]]) -> None:
    action = rng.randrange(10)
    if action <= 3 or not truth:
        obj = copy.deepcopy(rng.choice(POOL))
        event = "MODIFIED" if _key(obj) in truth else "ADDED"
        truth[_key(obj)] = obj
        state.apply(obj["kind"], event, obj, _path(obj["kind"]))
    elif action <= 5:
        key = rng.choice(sorted(truth))
        obj = _mutate(rng, truth[key])
        truth[key] = obj
        state.apply(obj["kind"], "MODIFIED", obj, _path(obj["kind"]))
    elif action <= 7:
        key = rng.choice(sorted(truth))
        obj = truth.pop(key)
        state.apply(obj["kind"], "DELETED", obj, _path(obj["kind"]))
    else:
        # A relist after a disconnection: some objects were deleted or changed unseen.
        kind = rng.choice(KINDS)
        namespace = rng.choice([None, *NAMESPACES]) if kind != "Node" else None
        for key in [k for k in truth if k[0] == kind and (namespace in (None, k[1]))]:
            if rng.random() < 0.3:
                del truth[key]
            elif rng.random() < 0.3:
                truth[key] = _mutate(rng, truth[key])
        listed = [o for k, o in sorted(truth.items())
                  if k[0] == kind and (namespace in (None, k[1]))]
        state.replace(kind, namespace, listed, _path(kind))


@pytest.mark.parametrize("seed", range(40))
def test_watch_state_equals_a_fresh_scan_after_random_changes(seed: int) -> None:
    rng = random.Random(seed)
    state = watch_state.State(SOURCE)
    truth: dict[Key, dict[str, Any]] = {}
    for _ in range(rng.randrange(30, 60)):
        for _ in range(rng.randrange(1, 6)):  # a debounced batch
            _step(rng, state, truth)
        state.recompute()
        assert not state.dirty
        assert _comparable(state.view().report()) == _comparable(_fresh_report(truth))


def test_only_dirty_namespaces_are_recomputed() -> None:
    state = watch_state.State(SOURCE)
    doc = helpers.raw(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    for item in doc["items"]:
        state.apply(item["kind"], "ADDED", item)
        if item["metadata"].get("namespace"):
            other = copy.deepcopy(item)
            other["metadata"]["namespace"] = "pay"
            state.apply(item["kind"], "ADDED", other)
    assert state.recompute() == {"shop", "pay"}
    pod = next(i for i in doc["items"] if i["kind"] == "Pod")
    state.apply("Pod", "MODIFIED", pod)  # the same record: nothing to do
    assert not state.dirty
    changed = copy.deepcopy(pod)
    changed["status"]["containerStatuses"][0]["imageID"] = f"app@{DIGESTS[0]}"
    state.apply("Pod", "MODIFIED", changed)
    assert state.recompute() == {"shop"}
    view = state.view()
    assert {k[:3] for k in view.finding_keys() if k[0] == "digest-drift"} >= {
        ("digest-drift", k[1], ns) for k in view.finding_keys() if k[0] == "digest-drift"
        for ns in ("shop", "pay")}
    assert any(k[0] == "digest-drift" and k[2] == "pay" for k in view.finding_keys())
    node = next(i for i in doc["items"] if i["kind"] == "Node")
    gone = copy.deepcopy(node)
    state.apply("Node", "DELETED", gone)
    assert state.recompute() <= {"shop", "pay"}


def test_a_change_to_one_workload_reaches_those_sharing_its_service() -> None:
    """A Service's traffic split counts every pod it selects: changing a bare pod behind
    the Service of a drifting Deployment changes that Deployment's evidence too."""
    doc = helpers.raw(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    web_pod = next(i for i in doc["items"] if i["kind"] == "Pod"
                   and i["metadata"]["name"].startswith("web-"))
    canary = copy.deepcopy(web_pod)
    canary["metadata"]["name"] = "canary"
    canary["metadata"].pop("ownerReferences", None)
    canary["metadata"]["labels"] = {"app": "web"}
    state = watch_state.State(SOURCE)
    truth: dict[Key, dict[str, Any]] = {}
    for item in [*doc["items"], canary]:
        truth[_key(item)] = item
        state.apply(item["kind"], "ADDED", item)
    state.recompute()
    assert _comparable(state.view().report()) == _comparable(_fresh_report(truth))
    for digest in DIGESTS[:3]:
        changed = copy.deepcopy(truth[_key(canary)])
        image = changed["status"]["containerStatuses"][0]["imageID"].split("@")[0]
        changed["status"]["containerStatuses"][0]["imageID"] = f"{image}@{digest}"
        truth[_key(changed)] = changed
        state.apply("Pod", "MODIFIED", changed)
        state.recompute()
        assert _comparable(state.view().report()) == _comparable(_fresh_report(truth))
