"""Reading manifests: positions of every image, safe YAML only, and `driftscan manifests`."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from scanner import cli, errors, exits, manifest_scanning, model, yaml_loader
from scanner.sources import manifests

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "shop"
DIGEST = "sha256:" + "d" * 64


def load_text(text: str, name: str = "m.yaml") -> list[manifests.ManifestObject]:
    [file] = manifests.load_texts([(name, None, text)])
    return list(file.objects)


def line_of(text: str, needle: str) -> int:
    [index] = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return index


# --- positions -------------------------------------------------------------------------------


def test_every_image_field_is_found_with_its_line_column_and_span() -> None:
    text = (SHOP / "web.yaml").read_text()
    [web] = load_text(text, "web.yaml")  # the Service is skipped
    assert (web.kind, web.name, web.namespace, web.document) == ("Deployment", "web", "", 2)
    assert web.line == line_of(text, "kind: Deployment") - 1  # the object starts at apiVersion
    by_name = {f.container: f for f in web.images}
    assert list(by_name) == ["migrate", "web", "sidecar"]
    migrate, app, sidecar = by_name["migrate"], by_name["web"], by_name["sidecar"]
    assert migrate.role is model.ContainerRole.INIT
    assert migrate.path == "spec.template.spec.initContainers[0].image"
    assert app.path == "spec.template.spec.containers[0].image"
    assert sidecar.path == "spec.template.spec.containers[1].image"
    assert app.line == line_of(text, "shop/web:1.0")
    assert migrate.line == line_of(text, "shop/migrate:1.0")
    assert sidecar.line == line_of(text, "shop/sidecar")
    assert (migrate.style, app.style, sidecar.style) == ("'", '"', "")
    assert text[app.start:app.end] == '"registry.invalid:5000/shop/web:1.0"'
    assert text[sidecar.start:sidecar.end] == "registry.invalid:5000/shop/sidecar"
    assert app.column == text.splitlines()[app.line - 1].index('"') + 1
    assert app.end_column == app.column + len('"registry.invalid:5000/shop/web:1.0"')
    assert app.pull_policy == "IfNotPresent" and sidecar.pull_policy == ""


def test_multi_document_cronjob_job_statefulset_daemonset_and_pod() -> None:
    found = [o for p in sorted(SHOP.glob("*.yaml")) for o in load_text(p.read_text(), p.name)]
    assert [(o.file, o.document, o.kind, o.name) for o in found] == [
        ("jobs.yaml", 1, "CronJob", "report"),
        ("jobs.yaml", 2, "Job", "backfill"),
        ("stateful.yaml", 1, "StatefulSet", "cache"),
        ("stateful.yaml", 2, "DaemonSet", "agent"),
        ("stateful.yaml", 3, "Pod", "debug"),
        ("web.yaml", 2, "Deployment", "web"),
    ]
    cron = found[0]
    assert cron.images[0].path == "spec.jobTemplate.spec.template.spec.containers[0].image"
    jobs = (SHOP / "jobs.yaml").read_text()
    assert found[1].images[0].line == line_of(jobs, "name: backfill, image")
    assert found[4].images[0].path == "spec.containers[0].image"


def test_sidecar_ephemeral_list_items_and_json() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
         "spec": {"initContainers": [{"name": "proxy", "image": "envoy:1.30",
                                      "restartPolicy": "Always"}],
                  "containers": [{"name": "a", "image": "nginx"}],
                  "ephemeralContainers": [{"name": "dbg", "image": "busybox:1.36"}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]}, indent=1)
    [pod] = load_text(text, "list.json")
    assert pod.label == "Pod/ns/p"
    assert [(f.container, f.role) for f in pod.images] == [
        ("proxy", model.ContainerRole.SIDECAR), ("a", model.ContainerRole.MAIN),
        ("dbg", model.ContainerRole.EPHEMERAL)]
    assert all(text[f.start:f.end] == f'"{f.image}"' for f in pod.images)


def test_folders_are_searched_and_stdin_is_read(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.yml").write_text((SHOP / "stateful.yaml").read_text())
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.yaml").write_text("::: not yaml")
    (tmp_path / "notes.txt").write_text("ignored")
    files = manifests.load([str(tmp_path), "-"], stdin_text=(SHOP / "jobs.yaml").read_text())
    assert [f.name for f in files] == [str(tmp_path / "a" / "x.yml"), "-"]
    assert [len(f.objects) for f in files] == [3, 2]
    assert files[1].path is None


def test_crlf_line_endings_keep_their_offsets() -> None:
    text = "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n" \
           "  - name: a\r\n    image: nginx:1.25 # c\r\n"
    [pod] = load_text(text)
    [field] = pod.images
    assert field.line == 8 and text[field.start:field.end] == "nginx:1.25"


def test_merge_keys_and_plain_aliases_are_data() -> None:
    text = """
base: &base {name: a, image: "nginx:1.25"}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - <<: {name: a, image: "nginx:1.25"}
      imagePullPolicy: Always
"""
    [pod] = load_text(text)
    assert pod.data["spec"]["containers"][0] == {"name": "a", "image": "nginx:1.25",
                                                 "imagePullPolicy": "Always"}
    [field] = pod.images
    assert (field.container, field.image, field.line) == ("a", "nginx:1.25", 9)


# --- bad input -------------------------------------------------------------------------------


def problem(text: str, name: str = "bad.yaml") -> str:
    """The problems ``text`` is listed with, as ``where: reason`` lines joined by "; "."""
    [file] = manifests.load_texts([(name, None, text)])
    assert file.problems, "expected the file to be listed as unreadable"
    message = "; ".join(f"{p.where}: {p.reason}" for p in file.problems)
    assert "\n" not in message
    assert all(p.hint for p in file.problems)
    return message


def test_invalid_yaml_names_file_and_line() -> None:
    message = problem("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")
    assert message.startswith("bad.yaml:") and "invalid YAML" in message


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/name:os.system",
                                 "!custom", "!!python/object:__main__.X"])
def test_unsafe_and_unknown_tags_are_refused(tag: str) -> None:
    text = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  x: {tag} ['echo hi']\n"
    message = problem(text)
    assert message.startswith("bad.yaml:5:") and "not allowed" in message


def billion_laughs(size: int = 1_000_000) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    text = "\n".join(lines) + "\n"
    padding = "\n".join(f"k{i}: {'x' * 90}" for i in range((size - len(text)) // 97))
    return text + padding + "\n"


def test_a_one_megabyte_yaml_bomb_is_refused_quickly() -> None:
    text = billion_laughs()
    assert len(text) >= 950_000
    started = time.monotonic()
    message = problem(text)
    assert time.monotonic() - started < 10
    assert "alias" in message and "bad.yaml:" in message


def test_recursive_alias_and_duplicate_keys_are_refused() -> None:
    assert "recursive" in problem("a: &a [*a]\n")
    assert "duplicate key 'name'" in problem("metadata:\n  name: a\n  name: b\n")


def test_deep_nesting_is_refused() -> None:
    assert problem("[" * 300 + "]" * 300) == "bad.yaml:1: nested deeper than 200 levels"
    assert problem("[" * 5000 + "]" * 5000).startswith("bad.yaml:1: invalid YAML")


def test_a_reference_that_is_not_an_image() -> None:
    text = (SHOP / "stateful.yaml").read_text().replace("shop/cache:7.2", "Shop Cache!")
    message = problem(text, "stateful.yaml")
    assert message.startswith(f"stateful.yaml:{line_of(text, 'Shop Cache!')}:")
    assert "not a valid image reference" in message and "cache" in message


def test_every_problem_is_listed_together() -> None:
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
            "  - {name: a, image: 'UPPER:case:x'}\n  - {name: b, image: 42}\n---\n"
            "kind: Deployment\nmetadata: {name: d}\nspec: {}\n")
    message = problem(text)
    assert message.count("; ") == 2
    assert "bad.yaml:6:" in message and "bad.yaml:7:" in message and "bad.yaml:9:" in message


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="no such file"):
        manifests.load([str(tmp_path / "nope.yaml")])


# --- the static rules ---------------------------------------------------------------------


def test_static_rules_fire_at_the_image_lines() -> None:
    files = manifests.load([str(SHOP)])
    report = manifest_scanning.check(files)
    assert [r.id for r in report.rules] == list(manifest_scanning.STATIC_RULES)
    web_text = (SHOP / "web.yaml").read_text()
    web = {(f.container, f.rule): f for f in report.findings if f.name == "web"}
    assert web[("web", "mutable-tag")].line == line_of(web_text, "shop/web:1.0")
    # IfNotPresent on a versioned tag is the default: mutable-tag says it all.
    assert ("web", "pull-policy-divergence") not in web
    assert web[("sidecar", "floating-tag")].line == line_of(web_text, "shop/sidecar")
    assert ("migrate", "mutable-tag") in web
    debug = [f for f in report.findings if f.name == "debug"]
    assert {f.rule for f in debug} == {"floating-tag"}
    agent = {f.rule: f for f in report.findings if f.name == "agent"}
    assert agent["pull-policy-divergence"].severity == "low"  # Always on :0.9
    assert "a container restart pulls" in agent["pull-policy-divergence"].message
    assert report.workloads == 6 and report.images == 8
    assert report.findings == tuple(sorted(report.findings, key=lambda f: f.sort_key()))


def test_pinned_images_are_clean() -> None:
    text = (SHOP / "stateful.yaml").read_text()
    for image in ("cache:7.2", "agent:0.9", "toolbox:latest"):
        text = text.replace(image, f"{image}@{DIGEST}")
    report = manifest_scanning.check(manifests.load_texts([("s.yaml", None, text)]))
    assert report.findings == () and report.images == 3


def test_the_ignore_annotation_applies_to_manifests() -> None:
    text = (SHOP / "stateful.yaml").read_text().replace(
        "  name: agent\n", "  name: agent\n  annotations: {driftscan.io/ignore: mutable-tag}\n")
    report = manifest_scanning.check(manifests.load_texts([("s.yaml", None, text)]))
    assert {f.rule for f in report.findings if f.name == "agent"} == {"pull-policy-divergence"}


# --- the command ----------------------------------------------------------------------------


def test_cli_json_and_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["manifests", str(SHOP), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "driftscan/manifests/v1"
    assert doc["summary"]["by_severity"]["medium"] == 2  # sidecar and toolbox float
    first = doc["findings"][0]
    assert set(first["location"]) == {"file", "line", "column", "end_column", "document", "field"}
    assert cli.main(["manifests", str(SHOP), "--fail-on", "medium", "--format", "json"]) == 1
    capsys.readouterr()


def test_cli_table_and_stdin(capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    text = (SHOP / "jobs.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli.main(["manifests", "-", "--fail-on", "low"]) == 1
    out = capsys.readouterr().out
    assert f"-:{line_of(text, 'image: registry.invalid:5000/shop/report')}" in out
    assert re.search(r"mutable-tag +low", out)
    assert "1 file(s), 2 workload(s), 2 image(s)" in out


def test_cli_hostile_input_is_listed_not_followed(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    assert cli.main(["manifests", str(bomb)]) == exits.INCOMPLETE
    captured = capsys.readouterr()
    assert f"{bomb}:" in captured.out and "alias" in captured.out
    assert "Traceback" not in captured.out + captured.err
    evil = tmp_path / "evil.yaml"
    evil.write_text("kind: Pod\nx: !!python/object/apply:os.system ['touch pwned']\n")
    assert cli.main(["manifests", str(evil)]) == exits.INCOMPLETE
    assert f"{evil}:2: YAML tag" in capsys.readouterr().out
    assert not (tmp_path / "pwned").exists()
    assert cli.main(["manifests", str(tmp_path / "absent.yaml")]) == exits.ERROR


def test_the_pure_python_loader_is_guarded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.setattr(yaml_loader, "_LOADER", yaml.SafeLoader)
    assert "alias" in problem(billion_laughs(200_000))
    assert "not allowed" in problem("x: !!python/object/apply:os.system ['id']\n")
    assert problem("[" * 5000 + "]" * 5000).startswith("bad.yaml:1: invalid YAML")
    [web] = load_text((SHOP / "web.yaml").read_text())
    assert [f.style for f in web.images] == ["'", '"', ""]


def test_helm_template_output_with_source_comments_and_empty_documents() -> None:
    text = """---
# Source: shop/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: shop
---
# Source: shop/templates/empty.yaml
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels:
    helm.sh/chart: shop-0.1.0
spec:
  template:
    spec:
      containers:
        - name: shop
          image: "ghcr.io/acme/shop:0.1.0"
          imagePullPolicy: IfNotPresent
"""
    [shop] = load_text(text, "-")
    assert (shop.kind, shop.document, shop.line) == ("Deployment", 3, 11)
    [field] = shop.images
    assert field.line == line_of(text, "ghcr.io/acme/shop") and field.ref.registry == "ghcr.io"
