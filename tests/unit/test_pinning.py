"""`driftscan pin`: scalar text edits that keep everything else, digests from registry or
cluster, and nothing written on any error."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scanner import cli, errors, exits, model, pinning
from scanner.oci import client as oci_client
from scanner.oci import failures, names
from scanner.oci import resolver as oci_resolver
from scanner.sources import dump, manifests

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "shop"
REG = "registry.invalid:5000"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


class FakeClient(oci_client.Client):
    """Answers manifest HEADs from a dict; records what was asked."""

    def __init__(self, name: str, tags: dict[str, str | BaseException]) -> None:
        super().__init__(name)
        self.tags = tags
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def head_manifest(self, repository: str, reference: str) -> oci_client.ManifestInfo:
        with self.lock:
            self.calls.append(f"{repository}:{reference}")
        answer = self.tags.get(f"{repository}:{reference}")
        if answer is None:
            raise failures.NotFound(f"registry {self.registry}: cannot resolve"
                               f" {repository}:{reference}: HTTP 404", hint="push it first")
        if isinstance(answer, BaseException):
            raise answer
        return oci_client.ManifestInfo(answer, names.OCI_MANIFEST, 10)


SHOP_TAGS: dict[str, str | BaseException] = {
    f"shop/{name}": digest(name)
    for name in ("migrate:1.0", "web:1.0", "sidecar:latest", "report:2.1", "cache:7.2",
                 "agent:0.9", "toolbox:latest")
}


def resolver(tags: dict[str, str | BaseException] | None = None) -> tuple[oci_resolver.Resolver,
                                                                           FakeClient]:
    client = FakeClient(REG, dict(SHOP_TAGS if tags is None else tags))
    return oci_resolver.Resolver(client_factory=lambda _name: client), client


def shop_copy(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target)
    return target


def run(paths: list[str], mode: str, res: oci_resolver.Resolver) -> str:
    out = io.StringIO()
    code = pinning.run(pinning.PinOptions(paths=tuple(paths), mode=mode),
                       Console(file=out, width=200), tag_resolver=res)
    assert code == 0
    return out.getvalue()


# --- pure pieces ---------------------------------------------------------------------------


def test_pinned_image_keeps_the_written_form() -> None:
    d = digest("x")
    assert pinning.pinned_image("nginx:1.25", d) == f"nginx:1.25@{d}"
    assert pinning.pinned_image("nginx", d) == f"nginx:latest@{d}"
    assert pinning.pinned_image("localhost:5000/a/b", d) == f"localhost:5000/a/b:latest@{d}"
    with pytest.raises(errors.InputError):
        pinning.pinned_image(f"nginx@{d}", d)


@pytest.mark.parametrize(("style", "expected"), [("", "a:b@c"), ("'", "'a:b@c'"),
                                                  ('"', '"a:b@c"')])
def test_render_scalar_keeps_the_quoting(style: str, expected: str) -> None:
    assert pinning.render_scalar("a:b@c", style) == expected


def test_text_edit_changes_only_the_image_scalars() -> None:
    text = (SHOP / "web.yaml").read_text()
    [file] = manifests.load_texts([("web.yaml", None, text)])
    keys = {(file.name, f.start): digest(f.container) for o in file.objects for f in o.images}
    edits = pinning.plan([file], keys)["web.yaml"]
    new = pinning.apply_edits(text, edits)
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [
        ("          image: 'registry.invalid:5000/shop/migrate:1.0'  # runs before web",
         f"          image: 'registry.invalid:5000/shop/migrate:1.0@{digest('migrate')}'"
         "  # runs before web"),
        ('          image: "registry.invalid:5000/shop/web:1.0"',
         f'          image: "registry.invalid:5000/shop/web:1.0@{digest("web")}"'),
        ("        - image: registry.invalid:5000/shop/sidecar  # no tag: latest",
         f"        - image: registry.invalid:5000/shop/sidecar:latest@{digest('sidecar')}"
         "  # no tag: latest"),
    ]


def test_crlf_and_multiline_scalars() -> None:
    text = "kind: Pod\r\nmetadata: {name: p}\r\nspec:\r\n  containers:\r\n  - name: a\r\n" \
           "    image: nginx:1.25   # keep\r\n"
    [file] = manifests.load_texts([("p.yaml", None, text)])
    [field] = file.objects[0].images
    new = pinning.apply_edits(text, pinning.plan([file], {("p.yaml", field.start): digest("n")})
                              ["p.yaml"])
    assert new == text.replace("nginx:1.25", f"nginx:1.25@{digest('n')}")
    wrapped = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: >-\n" \
              "      nginx:1.25\n"
    [file] = manifests.load_texts([("w.yaml", None, wrapped)])
    [field] = file.objects[0].images
    with pytest.raises(errors.InputError, match="w.yaml:6: the image scalar spans lines"):
        pinning.plan([file], {("w.yaml", field.start): digest("n")})


# --- from the registry -----------------------------------------------------------------------


def test_write_pins_every_image_and_keeps_comments(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    res, client = resolver()
    run([str(shop)], "write", res)
    web = (shop / "web.yaml").read_text()
    assert "# release tag, re-pushed by CI on hotfixes" in web
    assert "name: web   # the storefront" in web
    assert f'"registry.invalid:5000/shop/web:1.0@{digest("web:1.0")}"' in web
    assert f"shop/sidecar:latest@{digest('sidecar:latest')}  # no tag: latest" in web
    jobs = (shop / "jobs.yaml").read_text()
    assert jobs.count(f"report:2.1@{digest('report:2.1')}") == 2
    assert len(client.calls) == 7  # report:2.1 is used twice, looked up once
    for file in manifests.load([str(shop)]):
        assert all(f.ref.is_pinned for o in file.objects for f in o.images)
    # Already pinned: the diff is empty, and nothing is asked.
    res2, client2 = resolver()
    assert run([str(shop)], "diff", res2) == ""
    assert client2.calls == []


def test_diff_prints_and_changes_nothing(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    out = run([str(shop / "stateful.yaml")], "diff", resolver()[0])
    assert out.startswith(f"--- a/{shop / 'stateful.yaml'}\n+++ b/{shop / 'stateful.yaml'}\n")
    assert f"+          image: registry.invalid:5000/shop/cache:7.2@{digest('cache:7.2')}" in out
    assert "-          image: registry.invalid:5000/shop/cache:7.2\n" in out
    assert {p.name: p.read_bytes() for p in shop.iterdir()} == before


def test_print_mode_writes_pinned_yaml_to_stdout() -> None:
    out = io.StringIO()
    pinning.run(pinning.PinOptions(paths=("-",)), Console(file=out),
                stdin_text=(SHOP / "jobs.yaml").read_text(), tag_resolver=resolver()[0])
    assert out.getvalue() == (SHOP / "jobs.yaml").read_text().replace(
        "report:2.1", f"report:2.1@{digest('report:2.1')}")


def test_unresolvable_tags_write_nothing_and_name_every_image(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    tags = dict(SHOP_TAGS)
    del tags["shop/cache:7.2"]
    tags["shop/agent:0.9"] = failures.Unauthorized("registry x: denied [anonymous access]",
                                              hint="log in with `docker login x`")
    with pytest.raises(errors.RegistryError) as info:
        run([str(shop)], "write", resolver(tags)[0])
    message = str(info.value)
    assert "2 image(s) did not resolve" in message
    line = next(i for i, text in enumerate((shop / "stateful.yaml").read_text().splitlines(), 1)
                if "shop/cache:7.2" in text)
    assert f"{shop / 'stateful.yaml'}:{line}: registry.invalid:5000/shop/cache:7.2" in message
    assert "denied" in message and "docker login" in message
    assert {p.name: p.read_bytes() for p in shop.iterdir()} == before


def _bomb() -> str:
    from tests.unit import test_manifests

    return test_manifests.billion_laughs()


@pytest.mark.parametrize(("content", "line", "expected"), [
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "  - {name: a, image: 'Not An Image'}\n", 5, "not a valid image reference"),
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [\n", 5, "invalid YAML"),
    ("kind: Pod\nmetadata:\n  name: !!python/object/apply:os.system ['touch pwned']\n", 3,
     "not allowed"),
    (None, None, "alias"),
], ids=["not-an-image", "invalid-yaml", "unsafe-tag", "yaml-bomb"])
def test_an_unreadable_file_is_named_and_left_alone_the_rest_is_pinned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
        line: int | None, expected: str) -> None:
    shop = shop_copy(tmp_path)
    bad = shop / "zz-bad.yaml"
    bad.write_text(content if content is not None else _bomb())
    before = bad.read_bytes()
    code = pinning.run(pinning.PinOptions(paths=(str(shop),), mode="write"),
                       Console(file=io.StringIO()), tag_resolver=resolver()[0])
    assert code == exits.INCOMPLETE
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith(f"not read, left unchanged: {bad}:{line or ''}")
    assert expected in first and "Traceback" not in err
    assert "1 file(s) could not be read" in err
    assert bad.read_bytes() == before
    assert f"web:1.0@{digest('web:1.0')}" in (shop / "web.yaml").read_text()
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    code = pinning.run(pinning.PinOptions(paths=(str(shop),), mode="diff", allow_gaps=True),
                       Console(file=io.StringIO()), tag_resolver=resolver()[0])
    assert code == exits.CLEAN


def test_cli_unresolvable_images_one_line_each_sorted_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = shop_copy(tmp_path)
    (shop / "zz-bad.yaml").write_text("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [\n")
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    assert cli.main(["pin", str(shop), "--write"]) == exits.ERROR  # registry.invalid
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"not read, left unchanged: {shop / 'zz-bad.yaml'}:5:")
    start = next(i for i, line in enumerate(err) if "did not resolve:" in line)
    images = [line for line in err[start + 1:] if line.startswith("  ") and "hint" not in line]
    assert len(images) == 8  # every unpinned image of the readable files, one line each
    keys = [(ln.split(":")[0], int(ln.split(":")[1])) for ln in images]
    assert keys == sorted(keys)
    assert {p.name: p.read_bytes() for p in shop.iterdir()} == before


def test_cli_refuses_contradictory_options(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    shop = shop_copy(tmp_path)
    assert cli.main(["pin", "-", "--write"]) == 2
    assert "stdin" in capsys.readouterr().err
    assert cli.main(["pin", str(shop), "--diff", "--write"]) == 2
    capsys.readouterr()


def failing_on(calls: set[int], real: Callable[..., Any], error: OSError,
               ) -> Callable[..., Any]:
    """``real``, except that the calls numbered in ``calls`` (from 1) raise ``error``."""
    count = 0

    def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count in calls:
            raise error
        return real(*args, **kwargs)

    return call


def write_shop(shop: Path) -> None:
    pinning.run(pinning.PinOptions(paths=(str(shop),), mode="write"),
                Console(file=io.StringIO()), tag_resolver=resolver()[0])


def test_write_prepares_every_file_before_replacing_any(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = shop_copy(tmp_path)
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pinning.tempfile, "mkstemp", failing_on({2}, tempfile.mkstemp, full))
    with pytest.raises(errors.InputError) as info:
        write_shop(shop)
    assert {p.name: p.read_bytes() for p in shop.iterdir()} == before  # no temp file left
    assert info.value.message == (f"cannot write {shop / 'stateful.yaml'}: No space left on"
                                  " device; no file was changed")


def test_a_failed_rename_puts_back_the_files_already_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = shop_copy(tmp_path)
    (shop / "jobs.yaml").chmod(0o640)
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    busy = OSError(errno.EBUSY, "Device or resource busy")
    monkeypatch.setattr(pinning.os, "replace", failing_on({2}, os.replace, busy))
    with pytest.raises(errors.InputError) as info:
        write_shop(shop)
    assert {p.name: p.read_bytes() for p in shop.iterdir()} == before
    assert (shop / "jobs.yaml").stat().st_mode & 0o777 == 0o640
    assert info.value.message == (f"cannot write {shop / 'stateful.yaml'}: Device or resource"
                                  " busy; no file was changed")


def test_a_file_that_cannot_be_put_back_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = shop_copy(tmp_path)
    busy = OSError(errno.EBUSY, "Device or resource busy")
    monkeypatch.setattr(pinning.os, "replace", failing_on({2, 3}, os.replace, busy))
    with pytest.raises(errors.InputError) as info:
        write_shop(shop)
    assert info.value.message == (f"cannot write {shop / 'stateful.yaml'}: Device or resource"
                                  f" busy; could not restore {shop / 'jobs.yaml'}")
    assert sorted(p.name for p in shop.iterdir()) == ["jobs.yaml", "stateful.yaml", "web.yaml"]


# --- from the cluster -------------------------------------------------------------------------


def live_snapshot(digests_by_pod: dict[str, str], image: str, *,
                  namespace: str = "shop") -> model.Snapshot:
    items: list[dict[str, object]] = [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "uid": "u-web"},
        "spec": {"replicas": len(digests_by_pod), "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
    }, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": namespace, "uid": "u-rs",
                     "labels": {"pod-template-hash": "1"},
                     "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "u-web",
                                          "controller": True}]},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
    }]
    for pod, d in digests_by_pod.items():
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": namespace, "uid": f"u-{pod}",
                         "labels": {"pod-template-hash": "1"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1",
                                              "uid": "u-rs", "controller": True}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": image}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "web", "image": image, "imageID": d, "ready": True}]},
        })
    import json

    return dump.load_texts([("live.json", json.dumps({"kind": "List", "items": items}))])


WEB_YAML = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.invalid:5000/shop/web:1.0  # pinned from the cluster
"""


def from_cluster(snapshot: model.Snapshot, text: str = WEB_YAML) -> dict[tuple[str, int], str]:
    files = manifests.load_texts([("web.yaml", None, text)])
    return pinning.digests_from_cluster(files, [snapshot], "default")


def test_from_cluster_uses_the_digest_every_pod_runs() -> None:
    a = digest("a")
    snap = live_snapshot({"web-1-x": f"{REG}/shop/web@{a}", "web-1-y": f"{REG}/shop/web@{a}"},
                         f"{REG}/shop/web:1.0")
    assert list(from_cluster(snap).values()) == [a]


def test_from_cluster_refuses_a_drifted_workload_naming_the_digests() -> None:
    a, b = digest("a"), digest("b")
    snap = live_snapshot({"web-1-x": f"{REG}/shop/web@{a}", "web-1-y": f"{REG}/shop/web@{a}",
                          "web-1-z": f"{REG}/shop/web@{b}"}, f"{REG}/shop/web:1.0")
    with pytest.raises(errors.InputError) as info:
        from_cluster(snap)
    message = info.value.message
    assert "Deployment/shop/web container web" in message
    assert f"{a} on 2 pods" in message and f"{b} on 1 pod" in message
    assert "refusing" in message


def test_from_cluster_refuses_missing_workloads_and_other_tags() -> None:
    a = digest("a")
    snap = live_snapshot({"web-1-x": f"{REG}/shop/web@{a}"}, f"{REG}/shop/web:0.9")
    with pytest.raises(errors.InputError, match="live pods run .*web:0.9, not"):
        from_cluster(snap)
    elsewhere = live_snapshot({"web-1-x": f"{REG}/shop/web@{a}"}, f"{REG}/shop/web:1.0",
                              namespace="other")
    with pytest.raises(errors.InputError, match="Deployment/shop/web .*not found"):
        from_cluster(elsewhere)
    config_id = live_snapshot({"web-1-x": a}, f"{REG}/shop/web:1.0")
    with pytest.raises(errors.InputError, match="no live pod reports a registry digest"):
        from_cluster(config_id)
