"""The live source against a fake apiserver over real HTTP (no cluster needed)."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner import cli, errors, model
from scanner.clusters import pki
from scanner.sources import live, loading
from tests.unit import helpers
from tests.unit.fake_apiserver import FakeApiserver, Fault, kubeconfig, serve, split_by_kind

FIXTURE = helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json"


@pytest.fixture
def fake() -> FakeApiserver:
    return FakeApiserver(collections=split_by_kind(helpers.raw(FIXTURE)))


@pytest.fixture
def config(tmp_path: Path, fake: FakeApiserver) -> Iterator[Path]:
    with serve(fake) as url:
        yield kubeconfig(tmp_path / "kubeconfig", url)


def opts(config: Path, **kw: object) -> live.LiveOptions:
    return live.LiveOptions(kubeconfig=str(config), **kw)  # type: ignore[arg-type]


def test_all_namespaces_pages_through_every_kind(config: Path, fake: FakeApiserver) -> None:
    snap = live.load(opts(config, all_namespaces=True, page_size=2))
    from_dump = helpers.load(FIXTURE)
    assert snap.pods == from_dump.pods
    assert snap.workloads == from_dump.workloads
    assert snap.revisions == from_dump.revisions
    assert snap.services == from_dump.services and snap.nodes == from_dump.nodes
    assert snap.gaps == ()
    assert snap.source == model.SourceInfo(type="live", context="test", all_namespaces=True,
                                           server=snap.source.server)
    assert snap.source.server and snap.source.server.startswith("http://127.0.0.1:")
    pod_requests = [q for m, p, q in fake.requests if p == "/api/v1/pods"]
    assert [q.get("continue", "") for q in pod_requests] == ["", "2", "4"]
    assert all(q["limit"] == "2" for q in pod_requests)


def test_reads_only_with_get_and_never_secrets(config: Path, fake: FakeApiserver) -> None:
    live.load(opts(config, all_namespaces=True))
    # The one other request asks who the scan runs as; it creates nothing.
    assert {(m, p) for m, p, _ in fake.requests if m != "GET"} == {
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")}
    assert not [p for p in fake.get_paths() if "secret" in p]
    assert set(fake.get_paths()) == {"/version", "/api/v1/namespaces/kube-system",
                                     *(r.path(None) for r in live.RESOURCES)}


def test_provenance_names_cluster_identity_and_list_window(config: Path,
                                                           fake: FakeApiserver) -> None:
    snap = live.load(opts(config, all_namespaces=True))
    p = snap.provenance
    assert p.server is not None and p.server.startswith("http://127.0.0.1:")
    assert p.cluster_id == fake.kube_system_uid
    assert p.server_version == "v1.32.0"
    assert p.user == model.UserInfo("system:serviceaccount:shop:scanner", "sa-uid",
                                    ("system:serviceaccounts", "system:authenticated"))
    assert p.unavailable == ()
    assert p.kinds_requested == p.kinds_read == tuple(r.kind for r in live.RESOURCES)
    assert (p.namespaces_requested, p.namespaces_read) == ((), ("*",))
    # Every LIST got its own resourceVersion (101, 102…): the window spans first to last.
    versions = {p.first_resource_version, p.last_resource_version}
    lists = range(101, 101 + len(live.RESOURCES))
    assert len(versions) == 2 and versions <= {str(v) for v in lists}
    assert p.list_started_at is not None and p.list_finished_at is not None
    assert p.list_started_at <= p.list_finished_at
    assert p.inputs == ()


def test_refused_identity_facts_are_reasons_not_failures(config: Path,
                                                         fake: FakeApiserver) -> None:
    fake.forbidden |= {"/api/v1/namespaces/kube-system",
                       "/apis/authentication.k8s.io/v1/selfsubjectreviews"}
    fake.forbidden.add("/api/v1/nodes")
    snap = live.load(opts(config, namespaces=("shop",)))
    p = snap.provenance
    assert p.cluster_id is None and p.user is None
    reasons = dict(p.unavailable)
    assert reasons["cluster_id"].startswith("forbidden: GET namespace kube-system")
    assert reasons["identity"].startswith("forbidden: create SelfSubjectReview")
    assert "Node" in p.kinds_requested and "Node" not in p.kinds_read
    assert p.namespaces_read == ("shop",)
    assert len(snap.pods) == 5  # the scan itself went on


def test_default_namespace_comes_from_the_context(config: Path, fake: FakeApiserver) -> None:
    snap = live.load(opts(config))
    assert snap.source.namespaces == ("shop",)
    assert "/api/v1/namespaces/shop/pods" in fake.get_paths()
    assert "/api/v1/pods" not in fake.get_paths()
    assert len(snap.pods) == 5


def test_repeated_namespaces(config: Path, fake: FakeApiserver) -> None:
    fake.collections["/api/v1/namespaces/other/pods"] = []
    snap = live.load(opts(config, namespaces=("shop", "other")))
    paths = fake.get_paths()
    assert "/api/v1/namespaces/other/pods" in paths and "/api/v1/namespaces/shop/pods" in paths
    assert snap.source.namespaces == ("shop", "other")


def test_expired_continue_token_restarts_the_list(config: Path, fake: FakeApiserver) -> None:
    fake.expire_once.add("/api/v1/pods")
    snap = live.load(opts(config, all_namespaces=True, page_size=2))
    assert len(snap.pods) == 5 and snap.gaps == ()
    tokens = [q.get("continue", "") for m, p, q in fake.requests if p == "/api/v1/pods"]
    assert tokens == ["", "2", "", "2", "4"]


def test_forbidden_kind_is_a_gap_not_fatal(config: Path, fake: FakeApiserver) -> None:
    fake.forbidden.update({"/api/v1/nodes", "/apis/apps/v1/namespaces/shop/controllerrevisions"})
    snap = live.load(opts(config))
    assert [(g.kind, g.namespace) for g in snap.gaps] == [
        ("ControllerRevision", "shop"), ("Node", None)]
    assert snap.gaps[1].reason.startswith("forbidden: cannot list nodes cluster-wide")
    assert len(snap.pods) == 5 and snap.nodes == ()


def test_all_namespaces_forbidden_falls_back_to_the_context_namespace(
    config: Path, fake: FakeApiserver
) -> None:
    fake.forbidden.update(r.path(None) for r in live.RESOURCES)
    snap = live.load(opts(config, all_namespaces=True))
    assert len(snap.pods) == 5
    assert {(g.kind, g.namespace) for g in snap.gaps} == {(r.kind, None) for r in live.RESOURCES}
    assert "/api/v1/namespaces/shop/pods" in fake.get_paths()


def test_everything_forbidden_raises_permission_gap(config: Path, fake: FakeApiserver) -> None:
    fake.forbidden.update(fake.collections)
    with pytest.raises(errors.PermissionGap, match="RBAC forbids every LIST"):
        live.load(opts(config))


def test_unauthorized_is_cluster_unreachable(config: Path, fake: FakeApiserver) -> None:
    fake.unauthorized = True
    with pytest.raises(errors.ClusterUnreachable, match="401 Unauthorized"):
        live.load(opts(config))


def test_unknown_kind_endpoint_is_a_gap(config: Path, fake: FakeApiserver) -> None:
    del fake.collections["/apis/batch/v1/namespaces/shop/cronjobs"]
    snap = live.load(opts(config))
    assert [g.reason for g in snap.gaps] == [
        "not served by this apiserver: /apis/batch/v1/cronjobs"]


def test_progress_observer_hears_pages(config: Path) -> None:
    events: list[tuple[str, str, int]] = []

    class Recorder:
        def started(self, kind: str, namespace: str | None) -> None:
            events.append(("started", kind, 0))

        def page(self, kind: str, namespace: str | None, items: int) -> None:
            events.append(("page", kind, items))

        def finished(self, kind: str, namespace: str | None, items: int,
                     gap: str | None) -> None:
            events.append(("finished", kind, items))

    live.load(opts(config, all_namespaces=True, page_size=2), Recorder())
    pods = [e for e in events if e[1] == "Pod"]
    assert pods == [("started", "Pod", 0), ("page", "Pod", 2), ("page", "Pod", 4),
                    ("page", "Pod", 5), ("finished", "Pod", 5)]


def test_unreachable_apiserver(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    with pytest.raises(errors.ClusterUnreachable) as info:
        live.load(live.LiveOptions(kubeconfig=str(path)))
    assert info.value.message == (
        "cannot reach the apiserver at https://127.0.0.1:1 (context 'test'): connection refused")


def test_unknown_context(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", contexts=("a", "b"))
    with pytest.raises(errors.ClusterUnreachable) as info:
        live.load(live.LiveOptions(kubeconfig=str(path), context="prod"))
    assert info.value.message == f"context 'prod' not found in kubeconfig {path}"
    assert info.value.hint == "pass --context, one of: a, b"


def test_missing_and_malformed_kubeconfig(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(errors.ClusterUnreachable, match="no kubeconfig at"):
        live.load(live.LiveOptions(kubeconfig=str(tmp_path / "absent")))
    bad = tmp_path / "bad"
    bad.write_text("contexts: [")
    with pytest.raises(errors.ClusterUnreachable, match="is unusable"):
        live.load(live.LiveOptions(kubeconfig=str(bad)))


VALID_PARTS = ("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
               "'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\n")

MALFORMED_KUBECONFIGS = {
    "contexts-not-a-list": ("contexts: 5\n", "`contexts` must be a list, not a number"),
    "invalid-yaml": ("contexts: [\n", "line 2: invalid YAML: did not find expected node content"),
    "context-not-a-mapping": ("contexts: [5]\n",
                              "`contexts[0]` must be a mapping with `name` and `context`,"
                              " not a number"),
    "entry-without-name": ("users: [{user: {token: t}}]\n", "`users[0]` has no `name`"),
    "inner-not-a-mapping": ("clusters: [{name: c, cluster: [https://x]}]\n",
                            "`clusters[0]` (c): `cluster` must be a mapping, not a list"),
    "namespace-not-a-string": ("contexts: [{name: a, context: {cluster: c, namespace: [x]}}]\n",
                               "`contexts[0]` (a): `context.namespace` must be a string,"
                               " not a list"),
    "current-context-not-a-string": ("current-context: {a: 1}\n",
                                     "`current-context` must be a string, not a mapping"),
    "top-level-list": ("- contexts\n", "the top level must be a mapping (apiVersion,"
                       " clusters, contexts, users), not a list"),
    "empty": ("# nothing yet\n", "the file is empty"),
    "two-documents": ("kind: Config\n---\nkind: Config\n",
                      "it holds 2 YAML documents; a kubeconfig is one"),
    "unsafe-tag": ("current-context: !!python/object/apply:os.system ['id']\n",
                   "line 1: YAML tag !!python/object/apply:os.system is not allowed (only plain"
                   " data: strings, numbers, booleans, null, maps, lists)"),
    "every-problem": ("clusters: 1\nusers: x\n",
                      "`clusters` must be a list, not a number; `users` must be a list,"
                      " not a string"),
}


def assert_one_kubeconfig_error(err: str, expected: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0] == f"error: {expected}"
    assert lines[1].startswith("  hint: fix the file")
    assert "Traceback" not in err and "object is not" not in err


@pytest.mark.parametrize(("text", "problem"), MALFORMED_KUBECONFIGS.values(),
                         ids=MALFORMED_KUBECONFIGS.keys())
def test_malformed_kubeconfig_is_one_line_in_kubeconfig_terms(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str) -> None:
    path = tmp_path / "kc2"
    path.write_text(text)
    assert cli.main(["scan", "--kubeconfig", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_kubeconfig_error(err, f"kubeconfig {path} is unusable: {problem}")


def test_every_malformed_file_in_kubeconfig_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad, worse = tmp_path / "good", tmp_path / "bad", tmp_path / "worse"
    good.write_text(VALID_PARTS + "contexts: [{name: a, context: {cluster: c, user: u}}]\n")
    bad.write_text("contexts: {a: 1}\n")
    worse.write_text("users: [7]\n")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, (good, bad, worse))))
    assert cli.main(["scan"]) == 2
    assert_one_kubeconfig_error(
        capsys.readouterr().err,
        f"kubeconfig {bad} is unusable: `contexts` must be a list, not a mapping; kubeconfig"
        f" {worse} is unusable: `users[0]` must be a mapping with `name` and `user`, not a"
        " number")


def test_a_kubeconfig_alias_bomb_is_refused_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    path = tmp_path / "kc"
    path.write_text(VALID_PARTS + "\n".join(lines) + "\ncontexts: [*i]\n")
    started = time.monotonic()
    assert cli.main(["scan", "--kubeconfig", str(path)]) == 2
    assert time.monotonic() - started < 10
    assert_one_kubeconfig_error(capsys.readouterr().err,
                                f"kubeconfig {path} is unusable: line 5: YAML aliases expand"
                                " to more than 100,000 nodes (an alias bomb?); refusing to"
                                " expand")


def test_kubeconfig_from_environment(tmp_path: Path, fake: FakeApiserver,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "env-kc", url, namespace="shop")
        monkeypatch.setenv("KUBECONFIG", str(path))
        snap = loading.load(loading.LoadRequest())
    assert snap.source.context == "test" and len(snap.pods) == 5


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.ensure(tmp_path_factory.mktemp("pki"))


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_tls_with_client_certificate_data(tmp_path: Path, fake: FakeApiserver,
                                          certs: pki.Pki) -> None:
    with serve(fake, tls=certs) as url:
        path = kubeconfig(tmp_path / "kc", url, cluster={
            "certificate-authority-data": b64(certs.ca_crt)}, user={
            "client-certificate-data": b64(certs.admin_crt),
            "client-key-data": b64(certs.admin_key)})
        snap = live.load(opts(path))
    assert url.startswith("https://") and len(snap.pods) == 5


def test_tls_with_files_relative_to_the_kubeconfig(tmp_path: Path, fake: FakeApiserver,
                                                   certs: pki.Pki) -> None:
    (tmp_path / "certs").mkdir()
    for source in (certs.ca_crt, certs.admin_crt, certs.admin_key):
        (tmp_path / "certs" / source.name).write_bytes(source.read_bytes())
    with serve(fake, tls=certs) as url:
        path = kubeconfig(tmp_path / "kc", url, cluster={
            "certificate-authority": "certs/ca.crt"}, user={
            "client-certificate": "certs/admin.crt", "client-key": "certs/admin.key"})
        assert len(live.load(opts(path)).pods) == 5


def test_an_apiserver_the_ca_does_not_vouch_for_is_refused(
        tmp_path: Path, fake: FakeApiserver, certs: pki.Pki) -> None:
    other = pki.ensure(tmp_path / "other-pki")
    with serve(fake, tls=certs) as url:
        path = kubeconfig(tmp_path / "kc", url,
                          cluster={"certificate-authority-data": b64(other.ca_crt)})
        with pytest.raises(errors.ClusterUnreachable) as info:
            live.load(opts(path))
    assert info.value.message == (f"cannot reach the apiserver at {url} (context 'test'):"
                                  " certificate verify failed")
    assert fake.requests == []  # the token never left


def test_token_users_send_a_bearer_token(config: Path, fake: FakeApiserver) -> None:
    live.load(opts(config))
    assert fake.authorizations == {"Bearer t0ken"}


def test_exec_plugin_users_are_run_by_the_client_library(tmp_path: Path,
                                                         fake: FakeApiserver) -> None:
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "from-plugin"}}
    plugin = {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
              "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
              "interactiveMode": "Never"}
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "kc", url, user={"exec": plugin})
        assert len(live.load(opts(path)).pods) == 5
    assert fake.authorizations == {"Bearer from-plugin"}


def test_unreadable_certificates_are_one_line(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1",
                      cluster={"certificate-authority": "missing.crt"})
    with pytest.raises(errors.ClusterUnreachable, match="the certificate authority cannot be"
                       " loaded"):
        live.load(opts(path))


def test_malformed_object_from_the_apiserver_is_a_gap_naming_it(
        config: Path, fake: FakeApiserver) -> None:
    pods = fake.collections["/api/v1/namespaces/shop/pods"]
    fake.collections["/api/v1/namespaces/shop/pods"] = [
        *pods, {"metadata": {"name": "x", "namespace": "shop"}}]
    snap = live.load(opts(config))
    assert len(snap.pods) == len(pods)  # the rest of the scan goes on
    assert [(g.kind, g.namespace, g.reason) for g in snap.gaps] == [(
        "Pod", "shop",
        "Pod shop/x from GET /api/v1/namespaces/shop/pods is malformed and was not read:"
        " missing spec")]


@pytest.mark.parametrize("item", [
    5, "pod", None,
    {"metadata": ["x"]},
    {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [
        {"name": "c", "image": "a", "env": 5, "command": 7, "args": 1.5}]}},
])
def test_any_malformed_item_is_a_gap_never_a_crash(
        config: Path, fake: FakeApiserver, item: object) -> None:
    fake.collections["/api/v1/namespaces/shop/pods"] = [item]  # type: ignore[list-item]
    snap = live.load(opts(config))
    assert all(g.kind == "Pod" for g in snap.gaps)


# --- deadlines and retries (fake apiserver faults) -----------------------------------------


def test_retry_after_is_honoured(config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/namespaces/shop/pods"] = [
        Fault(429, headers=(("Retry-After", "1"),))]
    started = time.monotonic()
    snap = live.load(opts(config))
    assert time.monotonic() - started >= 1.0
    assert snap.gaps == () and snap.pods


def test_a_huge_retry_after_is_capped_by_the_deadline(config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/namespaces/shop/pods"] = [
        Fault(429, headers=(("Retry-After", "3600"),)) for _ in range(20)]
    started = time.monotonic()
    snap = live.load(opts(config, request_timeout=2.0))
    assert time.monotonic() - started < 5.0  # the 2 s deadline, plus a loaded machine's slack
    assert [(g.kind, g.reason.split(":")[0]) for g in snap.gaps] == [
        ("Pod", "apiserver answered 429 listing pods in namespace shop")]


def test_a_503_burst_is_retried_and_persistent_503_is_a_gap(
        config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/namespaces/shop/pods"] = [Fault(503), Fault(503)]
    assert live.load(opts(config)).gaps == ()
    fake.faults["/api/v1/namespaces/shop/pods"] = [Fault(503) for _ in range(50)]
    started = time.monotonic()
    snap = live.load(opts(config, request_timeout=3.0))
    assert time.monotonic() - started < 6.0
    (gap,) = snap.gaps
    assert "503" in gap.reason and "gave up after" in gap.reason


def test_410_on_every_continue_is_a_gap(config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/pods"] = [Fault(410, after=1) for _ in range(4)]
    snap = live.load(opts(config, all_namespaces=True, page_size=2))
    assert [g.kind for g in snap.gaps] == ["Pod"] and "kept expiring" in snap.gaps[0].reason


def test_truncated_json_is_one_error(config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/namespaces/shop/pods"] = [Fault(truncate=40)]
    with pytest.raises(errors.ClusterUnreachable) as info:
        live.load(opts(config))
    assert "\n" not in info.value.message and "apiserver" in info.value.message


def test_a_hung_apiserver_is_given_up_on_at_the_request_timeout(
        config: Path, fake: FakeApiserver) -> None:
    fake.faults["/version"] = [Fault(hang=30)]
    started = time.monotonic()
    with pytest.raises(errors.ClusterUnreachable, match="did not answer GET /version within 2 s"):
        live.load(opts(config, request_timeout=2.0))
    assert time.monotonic() - started < 5.0  # the 2 s deadline, plus a loaded machine's slack


def test_a_trickling_answer_cannot_outlive_the_deadline(
        config: Path, fake: FakeApiserver) -> None:
    fake.faults["/api/v1/namespaces/shop/pods"] = [Fault(trickle=0.5)]
    started = time.monotonic()
    with pytest.raises(errors.ClusterUnreachable, match="did not answer"):
        live.load(opts(config, request_timeout=2.0))
    assert time.monotonic() - started < 5.0  # the 2 s deadline, plus a loaded machine's slack


def test_a_closed_port_fails_at_once_without_library_retries(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(errors.ClusterUnreachable, match="connection refused"):
        live.load(opts(config))
    assert time.monotonic() - started < 3.0  # no 3 × retries of 60 s


def test_loading_rejects_contradictory_options() -> None:
    with pytest.raises(errors.InputError, match="exclude each other"):
        loading.load(loading.LoadRequest(namespaces=("a",), all_namespaces=True))
    with pytest.raises(errors.InputError, match="live scans only"):
        loading.load(loading.LoadRequest(files=("x.json",), context="c"))


def test_live_and_dump_agree_on_the_report(config: Path) -> None:
    from scanner.report import json_format

    def report(snap: model.Snapshot) -> dict[str, object]:
        data = json.loads(json_format.render(helpers.report_for(snap)))
        for where in ("source", "provenance", "integrity"):  # how it was read differs
            data.pop(where)
        return data

    assert report(live.load(opts(config, all_namespaces=True))) == report(helpers.load(FIXTURE))


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9",'
         b'"continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ","remainingItemCount":3},"items":[]}',
         "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"),
        (b'{"kind":"PodList","metadata":{"resourceVersion":"9"},"items":[{"continue":"x"}]}', ""),
        (b'{"kind":"PodList","metadata":{"continue":"a\\u003db"},"items":[]}', ""),
        (b'{"items":[], "metadata": {"continue": "late"}}', ""),
        (b"not json", ""),
    ],
)
def test_peek_continue_reads_only_a_safe_token(body: bytes, token: str) -> None:
    assert live._peek_continue(body) == token


def test_a_misread_token_falls_back_to_the_parsed_one(
    config: Path, fake: FakeApiserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "_peek_continue", lambda body: "999")
    snap = live.load(opts(config, all_namespaces=True, page_size=2))
    assert len(snap.pods) == 5
    tokens = [q.get("continue", "") for m, p, q in fake.requests if p == "/api/v1/pods"]
    assert tokens == ["", "999", "2", "999", "4", "999"]
