"""The Helm chart (deploy/helm/driftscan): linted and rendered by the real ``helm``, applied
server-side to the kwok cluster's real kube-apiserver, its ServiceAccount's rights proved
with ``kubectl auth can-i`` and by a ``driftscan scan`` that runs with that account's token.

Rendering needs no cluster; the tests that apply carry the ``cluster`` marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanner import cli, exits
from scanner.clusters import base
from scanner.sources import live
from tests import helmchart as hc
from tests.integration import watchproc as wp

READ = {"get", "list", "watch"}
WRITE = ("create", "update", "patch", "delete", "deletecollection")
CONTRACT_METRICS = {
    "driftscan_watch_up", "driftscan_ready", "driftscan_finding", "driftscan_workload_builds",
    "driftscan_workload_score", "driftscan_scan_gaps", "driftscan_last_change_timestamp_seconds",
    "driftscan_watch_events_total", "driftscan_watch_relists_total",
    "driftscan_recompute_duration_seconds", "driftscan_registry_check_timestamp_seconds",
}
"""The series `driftscan watch` serves (docs/metrics.md)."""


def _group(resource: live.Resource) -> str:
    """The API group of a resource from its path: ``/api/v1`` → ``""``, ``/apis/apps/v1`` → apps."""
    parts = resource.group_path.strip("/").split("/")
    return "" if parts[0] == "api" else parts[1]


NEEDED = {(_group(r), r.plural) for r in live.RESOURCES}
"""Every (group, plural) `scan` and `watch` list."""


def _granted(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def _assert_read_only(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        assert set(rule["verbs"]) <= READ, rule
        assert "*" not in rule["apiGroups"] and "*" not in rule["resources"], rule
        assert not {"secrets", "secrets/*"} & set(rule["resources"]), rule
        assert not rule.get("nonResourceURLs"), rule


# --- helm lint and template (no cluster) ---------------------------------------------------


MONITORS = ("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
            "prometheusRule.configMap=true", "grafanaDashboard.enabled=true")


@pytest.mark.parametrize("sets", [(), ("namespaces={shop,payments}",), MONITORS],
                         ids=["default", "namespaced", "monitors"])
def test_helm_lint_is_clean(sets: tuple[str, ...]) -> None:
    args = ["lint", "--strict", str(hc.CHART)]
    for item in sets:
        args += ["--set", item]
    done = hc.run(*args)
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout, done.stdout


def test_default_render_reads_exactly_the_kinds_scan_lists_cluster_wide() -> None:
    objects = hc.template(namespace="monitoring")
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                     "ServiceAccount"]
    [role] = hc.of_kind(objects, "ClusterRole")
    _assert_read_only(role["rules"])
    granted = _granted(role["rules"])
    # Exactly the listed kinds plus namespaces (a scanned namespace that does not exist is
    # a gap); each of them get, list and watch.
    assert set(granted) == NEEDED | {("", "namespaces")}
    assert all(verbs == READ for verbs in granted.values()), granted
    [binding] = hc.of_kind(objects, "ClusterRoleBinding")
    [account] = hc.of_kind(objects, "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": account["metadata"]["name"],
                                    "namespace": "monitoring"}]
    assert account["automountServiceAccountToken"] is True


def test_the_deployment_runs_watch_locked_down() -> None:
    objects = hc.template()
    [deployment] = hc.of_kind(objects, "Deployment")
    [service] = hc.of_kind(objects, "Service")
    [account] = hc.of_kind(objects, "ServiceAccount")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["args"] == ["watch", "--listen", "0.0.0.0:9847", "--all-namespaces"]
    for part in ("requests", "limits"):
        assert set(container["resources"][part]) == {"cpu", "memory"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 9847, "protocol": "TCP"}]
    # The read-only root filesystem leaves /tmp writable for Python's temporary files.
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_image_runs_as_the_user_the_chart_expects() -> None:
    dockerfile = (hc.ROOT / "Dockerfile").read_text()
    final = dockerfile[dockerfile.rindex("\nFROM "):]  # the last stage is the image
    assert re.search(r"^FROM python:3\.\d+-slim$", final, re.M), final
    [user] = re.findall(r"^USER (\d+):(\d+)$", final, re.M)
    assert re.search(r'^ENTRYPOINT \["driftscan"\]$', final, re.M)
    # What the package build needs is copied (the readme and licence pyproject names).
    for name in ("pyproject.toml", "README.md", "LICENSE", "scanner"):
        assert re.search(rf"^COPY .*\b{re.escape(name)}\b", dockerfile, re.M), name
    [deployment] = hc.of_kind(hc.template(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert (str(pod["securityContext"]["runAsUser"]),
            str(pod["securityContext"]["runAsGroup"])) == user
    assert int(user[0]) > 0
    assert str(deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0][
        "containerPort"]) in re.findall(r"^EXPOSE (\d+)$", final, re.M)


def test_driftscan_manifests_finds_the_chart_pinned_only_with_a_digest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The chart passes driftscan's own check once image.digest pins the watcher's build."""
    tagged, pinned = tmp_path / "tagged.yaml", tmp_path / "pinned.yaml"
    tagged.write_text(hc.template_text())
    pinned.write_text(hc.template_text("image.digest=sha256:" + "b" * 64))
    assert cli.main(["manifests", str(tagged), "--format", "json"]) == exits.CLEAN
    found = json.loads(capsys.readouterr().out)
    rules = {f["rule"] for f in found["findings"]}
    assert rules == {"mutable-tag"}, found["findings"]
    assert cli.main(["manifests", str(pinned), "--format", "json", "--fail-on", "info"]) \
        == exits.CLEAN
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_values_with_anchors_and_quoted_numbers_render_the_same(tmp_path: Path) -> None:
    """Odd but valid YAML in a values file: anchors, aliases, merge keys, flow style."""
    plain = hc.template("namespaces={shop,payments}", "resources.limits.memory=512Mi")
    odd = tmp_path / "odd-values.yaml"
    odd.write_text(
        '"namespaces": &ns\n  - shop\n  - "payments"\n'
        "resources: {requests: &req {cpu: 50m, memory: 128Mi},"
        " limits: {<<: *req, cpu: 500m, memory: '512Mi'}}\n"
        "extraArgs: []\n")
    assert hc.template(values=odd) == plain


def test_namespaced_mode_has_a_role_in_each_namespace_and_no_cluster_wide_reads() -> None:
    objects = hc.template("namespaces={shop,payments}", namespace="monitoring")
    roles = hc.of_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["payments", "shop"]
    for role in roles:
        _assert_read_only(role["rules"])
        granted = _granted(role["rules"])
        assert set(granted) == {n for n in NEEDED if n != ("", "nodes")} | {("", "namespaces")}
        [own] = [r for r in role["rules"] if r["resources"] == ["namespaces"]]
        assert own["resourceNames"] == [role["metadata"]["namespace"]] and own["verbs"] == ["get"]
    bindings = hc.of_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "shop"]
    assert all(b["subjects"][0]["namespace"] == "monitoring" for b in bindings)
    # Nodes are cluster-scoped: a ClusterRole of their own, for nodes only.
    [nodes] = hc.of_kind(objects, "ClusterRole")
    assert nodes["rules"] == [{"apiGroups": [""], "resources": ["nodes"],
                               "verbs": ["get", "list", "watch"]}]
    [deployment] = hc.of_kind(objects, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["watch", "--listen", "0.0.0.0:9847", "--namespace", "shop",
                    "--namespace", "payments"]
    without_nodes = hc.template("namespaces={shop}", "rbac.nodes=false")
    assert not hc.of_kind(without_nodes, "ClusterRole")
    assert not hc.of_kind(without_nodes, "ClusterRoleBinding")


@pytest.mark.parametrize("bad", ["Shop", "a_b", "x" * 64, "-lead"])
def test_a_namespace_that_is_no_namespace_name_fails_with_one_line(bad: str) -> None:
    done = hc.run("template", "r", str(hc.CHART), "--set", f"namespaces={{{bad}}}",
                  check=False)
    assert done.returncode != 0
    assert f'namespaces: "{bad}" is not a namespace name' in done.stderr, done.stderr


def test_odd_values_are_kept_verbatim() -> None:
    hostile = "--context=a b'c\"$(touch /tmp/x)"
    objects = hc.template(f"extraArgs[0]={hostile}", "image.digest=sha256:" + "a" * 64,
                          "registryCheck.enabled=true", "registryCheck.interval=90s",
                          "registryCheck.insecureRegistries[0]=registry.local:5000",
                          "registryCheck.dockerConfigSecret=pull-creds")
    [deployment] = hc.of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "driftscan@sha256:" + "a" * 64
    assert container["args"][-1] == hostile
    assert container["args"][4:9] == ["--registry-check", "--registry-interval", "90s",
                                      "--insecure-registry", "registry.local:5000"]
    assert {"name": "DOCKER_CONFIG", "value": "/etc/driftscan/docker"} in container["env"]
    [creds] = [v for v in pod["volumes"] if v["name"] == "docker-config"]
    assert creds["secret"]["secretName"] == "pull-creds"
    # The pod mounts the credentials; the ServiceAccount still cannot read any Secret.
    [role] = hc.of_kind(objects, "ClusterRole")
    _assert_read_only(role["rules"])


def test_monitors_select_the_service_and_carry_the_alert_windows() -> None:
    objects = hc.template("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
                          "prometheusRule.alerts.digestDrift.for=3m",
                          "prometheusRule.additionalLabels.team=platform",
                          "prometheusRule.additionalLabels.tier=1")
    [monitor] = hc.of_kind(objects, "ServiceMonitor")
    [service] = hc.of_kind(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    [rule] = hc.of_kind(objects, "PrometheusRule")
    rules = rule["spec"]["groups"][0]["rules"]
    windows = [(r["alert"], r["expr"], r["for"]) for r in rules]
    assert windows == [
        ("DriftscanDigestDrift", 'driftscan_finding{rule="digest-drift"} == 1', "3m"),
        ("DriftscanRolloutStalled", 'driftscan_finding{rule="stalled-rollout"} == 1', "15m"),
        ("DriftscanLatentDrift", 'driftscan_finding{rule="latent-drift"} == 1', "1h"),
        ("DriftscanWatchDown", "driftscan_watch_up == 0", "5m"),
        ("DriftscanWatchDown", "absent(driftscan_watch_up)", "10m"),
    ]
    assert all(r["labels"]["team"] == "platform" for r in rules)
    # Label values are strings, as the PrometheusRule CRD and Prometheus require.
    assert all(r["labels"]["tier"] == "1" for r in rules)
    # The plain rules file holds the very same groups.
    plain = yaml.safe_load(hc.plain_rules("prometheusRule.alerts.digestDrift.for=3m",
                                          "prometheusRule.additionalLabels.team=platform",
                          "prometheusRule.additionalLabels.tier=1"))
    assert plain == {"groups": rule["spec"]["groups"]}
    off = hc.template("prometheusRule.enabled=true",
                      "prometheusRule.alerts.latentDrift.enabled=false")
    [rule] = hc.of_kind(off, "PrometheusRule")
    assert "DriftscanLatentDrift" not in {r["alert"] for r in rule["spec"]["groups"][0]["rules"]}


def test_the_dashboard_uses_only_served_metrics() -> None:
    objects = hc.template("grafanaDashboard.enabled=true")
    [config_map] = hc.of_kind(objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["driftscan.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", m)
            for e in exprs for m in re.findall(r"\bdriftscan_[a-z_]+", e)}
    assert used and used <= CONTRACT_METRICS, used - CONTRACT_METRICS
    assert {"driftscan_finding", "driftscan_workload_builds", "driftscan_watch_up"} <= used
    # Every query follows the cluster variable, so one dashboard serves a fleet.
    assert all('cluster=~"$cluster"' in e for e in exprs), exprs


# --- applied to the kwok cluster -----------------------------------------------------------


@pytest.fixture
def applied(cluster: base.ClusterHandle,
            request: pytest.FixtureRequest) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """The chart rendered with the test's ``--set`` items (``request.param``), applied
    server-side in a namespace of its own; yields (namespace, ServiceAccount, objects)."""
    with hc.installed(cluster, *getattr(request, "param", ())) as chart:
        yield chart.namespace, chart.account, chart.objects


def _can_i(cluster: base.ClusterHandle, namespace: str, account: str, verb: str,
           resource: str, where: str) -> bool:
    """``kubectl auth can-i`` as the ServiceAccount; ``where`` is a namespace or ``-A``."""
    scope = ["--all-namespaces"] if where == "-A" else ["--namespace", where]
    done = hc.kubectl(cluster, "auth", "can-i", verb, resource, *scope,
                    f"--as=system:serviceaccount:{namespace}:{account}")
    assert done.returncode in (0, 1), done.stderr  # 0 yes, 1 no; anything else is an error
    return done.returncode == 0


def _resource(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def _token_kubeconfig(cluster: base.ClusterHandle, namespace: str, account: str,
                      objects: list[dict[str, Any]], path: Path) -> Path:
    return hc.token_kubeconfig(cluster, hc.Installed(namespace, account, objects), path)


OTHER_WRITES = ("secrets", "configmaps", "serviceaccounts", "roles.rbac.authorization.k8s.io",
                "clusterrolebindings.rbac.authorization.k8s.io", "pods/exec", "pods/eviction",
                "deployments.apps/scale", "events", "namespaces")


@pytest.mark.cluster
def test_the_service_account_reads_every_kind_watch_needs_and_writes_nothing(
        cluster: base.ClusterHandle, applied: tuple[str, str, Any],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace, account, objects = applied
    for group, plural in sorted(NEEDED | {("", "namespaces")}):
        for verb in sorted(READ):
            assert _can_i(cluster, namespace, account, verb, _resource(group, plural), "-A"), \
                f"cannot {verb} {_resource(group, plural)}"
    for group, plural in sorted(NEEDED):
        for verb in WRITE:
            assert not _can_i(cluster, namespace, account, verb, _resource(group, plural),
                              "-A"), f"may {verb} {_resource(group, plural)}"
    for resource in OTHER_WRITES:
        for verb in ("create", "update", "patch", "delete"):
            assert not _can_i(cluster, namespace, account, verb, resource, "-A"), \
                f"may {verb} {resource}"
    for verb in sorted(READ):
        assert not _can_i(cluster, namespace, account, verb, "secrets", "-A")
        assert not _can_i(cluster, namespace, account, verb, "secrets", namespace)

    # The proof that matters: a scan of every namespace with this account's token reads
    # every kind with no gap.
    kubeconfig = _token_kubeconfig(cluster, namespace, account, objects,
                                   tmp_path / "sa.kubeconfig")
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "-A", "--format", "json",
                     "--fail-on", "critical"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    report = json.loads(out.out)
    assert report["gaps"] == [], report["gaps"]
    assert report["summary"]["complete"] is True
    assert code in (exits.CLEAN, exits.FINDINGS)

    # And `driftscan watch -A` with the same token lists and watches every kind: ready,
    # connected, no gap.
    with wp.watcher(kubeconfig, ["--all-namespaces"], tmp_path) as watcher:
        metrics = wp.get(watcher.url + "/metrics")[1].decode().splitlines()
        assert "driftscan_scan_gaps 0.0" in metrics, wp.get(watcher.url + "/report.json")[1]
        wp.wait("driftscan_watch_up 1", lambda: "driftscan_watch_up 1.0" in wp.get(
            watcher.url + "/metrics")[1].decode().splitlines(), 30, watcher.process,
            watcher.log)


@pytest.mark.cluster
@pytest.mark.parametrize("applied", [("namespaces={{NS}}",)], indirect=True, ids=["namespaced"])
def test_namespaced_mode_reads_its_namespace_only(
        cluster: base.ClusterHandle, applied: tuple[str, str, Any],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace, account, objects = applied
    assert not [o for o in hc.of_kind(objects, "ClusterRole")
                if o["rules"][0]["resources"] != ["nodes"]]
    for group, plural in sorted(NEEDED - {("", "nodes")}):
        resource = _resource(group, plural)
        for verb in sorted(READ):
            assert _can_i(cluster, namespace, account, verb, resource, namespace), resource
            assert not _can_i(cluster, namespace, account, verb, resource, "kube-system")
            assert not _can_i(cluster, namespace, account, verb, resource, "-A")
        for verb in WRITE:
            assert not _can_i(cluster, namespace, account, verb, resource, namespace)
    assert _can_i(cluster, namespace, account, "list", "nodes", "-A")
    assert _can_i(cluster, namespace, account, "get", f"namespaces/{namespace}", namespace)
    assert not _can_i(cluster, namespace, account, "get", "namespaces/kube-system", "kube-system")
    assert not _can_i(cluster, namespace, account, "list", "secrets", namespace)

    kubeconfig = _token_kubeconfig(cluster, namespace, account, objects,
                                   tmp_path / "sa.kubeconfig")
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "-n", namespace,
                     "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert report["gaps"] == [], report["gaps"]
    assert code == exits.CLEAN
    # Outside its namespace the account reads nothing, and the scan says so.
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "-n", namespace,
                     "-n", "kube-system", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert any(g.get("namespace") == "kube-system" for g in report["gaps"]), report["gaps"]
    assert code == exits.INCOMPLETE


@pytest.mark.cluster
def test_install_notes_say_how_to_reach_the_report_and_the_alerts(
        cluster: base.ClusterHandle) -> None:
    done = hc.run("install", "d", str(hc.CHART), "--namespace", "monitoring", "--dry-run=client",
                  "--kubeconfig", str(cluster.kubeconfig), "--set", "namespaces={shop,web}",
                  "--set", "rbac.nodes=false")
    notes = done.stdout[done.stdout.index("NOTES:"):]
    assert "watches the namespaces shop, web of this cluster" in notes
    assert "kubectl --namespace monitoring port-forward service/d-driftscan 9847" in notes
    assert "prometheusRule.enabled=true" in notes  # alerts are off: say how to turn them on
    assert "rbac.nodes is false" in notes and "driftscan_scan_gaps > 0" in notes
    done = hc.run("install", "d", str(hc.CHART), "--namespace", "monitoring", "--dry-run=client",
                  "--kubeconfig", str(cluster.kubeconfig), "--set", "prometheusRule.configMap=true",
                  "--set", "prometheusRule.alerts.digestDrift.for=3m")
    notes = done.stdout[done.stdout.index("NOTES:"):]
    assert "every namespace" in notes and "configmap/d-driftscan-rules" in notes
    assert "DriftscanDigestDrift (for 3m)" in notes and "not scraped 10m" in notes

