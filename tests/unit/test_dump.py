from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner import errors, model
from scanner.sources import dump
from tests.unit import helpers

POD = {
    "metadata": {"name": "p1", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "web:1"}]},
    "status": {"phase": "Running", "containerStatuses": [
        {"name": "web", "image": "web:1", "ready": True,
         "imageID": "docker.io/library/web@sha256:" + "a" * 64}]},
}


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_kubectl_list_with_every_kind() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    assert snap.source.type == "dump"
    assert [w.name for w in snap.workloads] == ["frontend", "web"]
    assert {r.name for r in snap.revisions} == {"web-5d9f8c7b6", "frontend-77f6d5c4b"}
    assert len(snap.pods) == 5
    assert [s.name for s in snap.services] == ["web"]
    assert [n.name for n in snap.nodes] == ["node-a", "node-b", "node-c"]
    web = next(w for w in snap.workloads if w.name == "web")
    assert web.revision == 1 and web.strategy == "RollingUpdate" and web.replicas == 4
    frontend = next(w for w in snap.workloads if w.name == "frontend")
    assert frontend.containers[0].hosts == ("web",)


def test_raw_api_pod_list_items_without_kind(tmp_path: Path) -> None:
    doc = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [POD]}
    snap = dump.load([_write(tmp_path, "pods.json", json.dumps(doc))])
    assert [p.name for p in snap.pods] == ["p1"]
    assert snap.pods[0].containers[0].image_id.endswith("a" * 64)


def test_yaml_multi_document_and_single_objects(tmp_path: Path) -> None:
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"}}}
    import yaml

    text = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", **POD}) + "---\n" + yaml.safe_dump(
        svc) + "---\n"
    snap = dump.load([_write(tmp_path, "objs.yaml", text)])
    assert [p.name for p in snap.pods] == ["p1"]
    assert snap.services[0].selector == frozenset({("app", "web")})


def test_several_files_later_copy_wins_and_namespace_filter(tmp_path: Path) -> None:
    first = {"apiVersion": "v1", "kind": "Pod", **POD}
    second = json.loads(json.dumps(first))
    second["spec"]["nodeName"] = "n2"
    other = json.loads(json.dumps(first))
    other["metadata"]["namespace"] = "other"
    a = _write(tmp_path, "a.json", json.dumps(first))
    b = _write(tmp_path, "b.json", json.dumps({"kind": "List", "items": [second, other]}))
    snap = dump.load([a, b])
    assert {(p.namespace, p.node) for p in snap.pods} == {("shop", "n2"), ("other", "n1")}
    only = dump.load([a, b], namespaces=["other"])
    assert [p.namespace for p in only.pods] == ["other"]
    assert only.source.namespaces == ("other",) and not only.source.all_namespaces


def test_skips_known_kinds_and_custom_resources_without_reading(tmp_path: Path) -> None:
    doc = {"kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": "garbage"},
        {"apiVersion": "v1", "kind": "ConfigMap"},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "example.com/v1", "kind": "Rollout", "metadata": {"name": "r"}},
        {"apiVersion": "v1", "kind": "Pod", **POD},
    ]}
    snap = dump.load([_write(tmp_path, "mixed.json", json.dumps(doc))])
    assert len(snap.pods) == 1
    assert snap.workloads == ()


def test_init_sidecar_and_ephemeral_roles() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "fires-sidecar-only.json")
    pod = snap.pods[0]
    roles = {c.name: c.role for c in pod.containers}
    assert roles == {"proxy": model.ContainerRole.SIDECAR, "api": model.ContainerRole.MAIN}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON or YAML"),
        ("key: [unclosed", "not valid JSON or YAML"),
        ("", "empty file"),
        ('"just a string"', "expected a Kubernetes object"),
        ('{"apiVersion": "v1", "kind": "Banana", "metadata": {"name": "b"}}',
         "unknown kind 'Banana'"),
        ('{"apiVersion": "v1", "metadata": {"name": "b"}}', "object has no kind"),
        ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "x"}, "spec": {}}',
         "missing metadata.name"),
        ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"}}',
         "missing spec"),
        ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"},'
         ' "spec": {"containers": "web"}}', "spec.containers is not a list"),
        ('{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d",'
         ' "namespace": "x"}, "spec": {"replicas": 1}}', "missing spec.template"),
        ('{"kind": "List", "items": {"a": 1}}', "items is not a list"),
    ],
)
def test_bad_input_names_file_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, "bad.json", text)
    with pytest.raises(errors.InputError) as info:
        dump.load([path])
    message = info.value.message
    assert expected in message
    assert "bad.json" in message
    assert "\n" not in message


def test_every_problem_is_collected(tmp_path: Path) -> None:
    bad = {"kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Banana", "metadata": {"name": f"b{i}"}} for i in range(7)]}
    with pytest.raises(errors.InputError) as info:
        dump.load([_write(tmp_path, "bad.json", json.dumps(bad)),
                   _write(tmp_path, "worse.json", "{")])
    assert info.value.message.startswith("8 problem(s) in the input")
    assert "(and 3 more)" in info.value.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="no such file"):
        dump.load([str(tmp_path / "absent.json")])
    with pytest.raises(errors.InputError, match="is a directory"):
        dump.load([str(tmp_path)])


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.json"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(errors.InputError, match="not a text file"):
        dump.load([str(path)])
