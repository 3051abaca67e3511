"""Build ``kubectl get … -o json`` dumps in code: the sample shop, the XSS dump, a fleet.

Used by the HTML report tests, ``benchmarks/html_report.py`` and to (re)write the
committed dumps under tests/dumps/ (``python -m tests.kubedump``, which also writes
docs/sample-report.html and, with headless Chromium, docs/sample-report.png). Objects
carry exactly the fields a real apiserver returns that driftscan reads (ownerReferences,
pod-template-hash, revision annotations, rollout conditions, containerStatuses[].imageID),
so they go through the real dump source.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DUMPS = ROOT / "tests" / "dumps"
REGISTRY = "registry.example.com"


def digest(seed: str) -> str:
    """A stable ``sha256:…`` for a build name."""
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-node-{name}"},
        "spec": {},
        "status": {
            "nodeInfo": {"containerRuntimeVersion": "containerd://1.7.13",
                         "architecture": "amd64", "kubeletVersion": "v1.32.0"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


@dataclass
class Pod:
    """One pod of a revision: where it runs and which build its kubelet resolved."""

    node: str
    build: str | None
    """Build name (hashed into the digest); None while the image cannot be pulled."""
    waiting: str = "ImagePullBackOff"
    deleting: bool = False


@dataclass
class Rev:
    """A ReplicaSet of a Deployment: its number, image and pods."""

    number: int
    image: str
    pods: list[Pod]
    hash: str = ""


@dataclass
class App:
    """A Deployment with its ReplicaSets, pods, an optional Service and outgoing calls."""

    namespace: str
    name: str
    revisions: list[Rev]
    container: str = ""
    pull_policy: str = "IfNotPresent"
    service: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    stalled: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    created: str = "2026-01-10T09:00:00Z"

    def items(self) -> list[dict[str, Any]]:
        container = self.container or self.name
        newest = self.revisions[-1]
        live = sum(1 for r in self.revisions for p in r.pods if not p.deleting)
        ready_new = sum(1 for p in newest.pods if p.build and not p.deleting)
        ready = sum(1 for r in self.revisions for p in r.pods if p.build and not p.deleting)
        labels = {"app": self.name, **self.labels}
        progressing = (
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": f'ReplicaSet "{self.name}-{self._hash(newest)}" has timed out '
             "progressing."}
            if self.stalled
            else {"type": "Progressing", "status": "True",
                  "reason": "NewReplicaSetAvailable" if ready_new == live else
                  "ReplicaSetUpdated"}
        )
        items: list[dict[str, Any]] = [{
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": self.name, "namespace": self.namespace,
                "uid": f"uid-deploy-{self.namespace}-{self.name}", "generation": newest.number,
                "creationTimestamp": self.created, "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": str(newest.number),
                                **self.annotations},
            },
            "spec": {
                "replicas": len(newest.pods) if not self.stalled else live - len(newest.pods),
                "selector": {"matchLabels": {"app": self.name}},
                "template": {"metadata": {"labels": {"app": self.name}},
                             "spec": {"containers": [self._container(newest.image)]}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "progressDeadlineSeconds": 600,
            },
            "status": {
                "observedGeneration": newest.number, "replicas": live,
                "updatedReplicas": len(newest.pods), "readyReplicas": ready,
                "availableReplicas": ready,
                "conditions": [{"type": "Available", "status": "True",
                                "reason": "MinimumReplicasAvailable"}, progressing],
            },
        }]
        for i, rev in enumerate(self.revisions):
            items.extend(self._revision(rev, container, minute=i * 10))
        if self.service:
            items.append({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": self.service, "namespace": self.namespace,
                             "uid": f"uid-svc-{self.namespace}-{self.service}"},
                "spec": {"selector": {"app": self.name}, "type": "ClusterIP",
                         "clusterIP": "10.96.0.10",
                         "ports": [{"port": 80, "targetPort": 8080}]},
            })
        return items

    def _hash(self, rev: Rev) -> str:
        return rev.hash or hashlib.sha256(f"{self.name}/{rev.image}".encode()).hexdigest()[:9]

    def _container(self, image: str) -> dict[str, Any]:
        c: dict[str, Any] = {"name": self.container or self.name, "image": image,
                             "imagePullPolicy": self.pull_policy}
        if self.env:
            c["env"] = [{"name": k, "value": v} for k, v in self.env.items()]
        return c

    def _revision(self, rev: Rev, container: str, minute: int) -> list[dict[str, Any]]:
        h = self._hash(rev)
        rs_name = f"{self.name}-{h}"
        labels = {"app": self.name, "pod-template-hash": h}
        template = {"metadata": {"labels": labels},
                    "spec": {"containers": [self._container(rev.image)]}}
        live = [p for p in rev.pods if not p.deleting]
        items: list[dict[str, Any]] = [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": self.namespace, "uid": f"uid-rs-{rs_name}",
                "creationTimestamp": f"2026-01-10T10:{minute:02d}:00Z", "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": str(rev.number)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": self.name,
                                     "uid": f"uid-deploy-{self.namespace}-{self.name}",
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": len(live),
                     "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": len(live),
                       "readyReplicas": sum(1 for p in live if p.build),
                       "availableReplicas": sum(1 for p in live if p.build),
                       "observedGeneration": 1},
        }]
        repo = rev.image.split("@", 1)[0].rsplit(":", 1)[0]
        for j, p in enumerate(rev.pods):
            name = f"{rs_name}-{_suffix(rs_name, j)}"
            status: dict[str, Any] = {"name": container, "image": rev.image,
                                      "restartCount": 0}
            if p.build:
                status.update(imageID=f"{repo}@{digest(p.build)}", ready=True,
                              started=True,
                              state={"running": {"startedAt": "2026-01-10T10:00:00Z"}})
            else:
                waiting = {"reason": p.waiting, "message": f'Back-off pulling image "{rev.image}"'}
                status.update(imageID="", ready=False, started=False,
                              state={"waiting": waiting})
            meta: dict[str, Any] = {
                "name": name, "namespace": self.namespace, "uid": f"uid-pod-{name}",
                "creationTimestamp": f"2026-01-10T10:{minute + j % 10:02d}:30Z",
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": rs_name, "uid": f"uid-rs-{rs_name}",
                                     "controller": True, "blockOwnerDeletion": True}],
            }
            if p.deleting:
                meta["deletionTimestamp"] = "2026-01-10T11:00:00Z"
            items.append({
                "apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": {"nodeName": p.node, "containers": [self._container(rev.image)],
                         "restartPolicy": "Always"},
                "status": {
                    "phase": "Running" if p.build else "Pending",
                    "conditions": [{"type": "Ready",
                                    "status": "True" if p.build else "False"}],
                    "containerStatuses": [status],
                },
            })
        return items


def _suffix(seed: str, index: int) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(hashlib.sha256(f"{seed}/{index}".encode()).hexdigest(), 16)
    chars = []
    for _ in range(5):
        n, r = divmod(n, len(alphabet))
        chars.append(alphabet[r])
    return "".join(chars)


def dump(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": items}


def pinned(repo: str, tag: str, build: str) -> str:
    return f"{REGISTRY}/{repo}:{tag}@{digest(build)}"


def sample_shop() -> dict[str, Any]:
    """The sample: re-pushed tag drift, a 3-revision rollout, a stalled one, clean controls."""
    nodes = ["node-a", "node-b", "node-c", "node-d"]
    apps = [
        # The tag shop/checkout:1.4 was re-pushed; two pods pulled the new build on node-c.
        App("shop", "checkout", service="checkout", revisions=[
            Rev(3, f"{REGISTRY}/shop/checkout:1.4", [
                Pod("node-a", "checkout-1.4"), Pod("node-b", "checkout-1.4"),
                Pod("node-a", "checkout-1.4"), Pod("node-c", "checkout-1.4-repush"),
                Pod("node-c", "checkout-1.4-repush")]),
        ]),
        # catalog rolled 2.1 → 2.2 → 2.3 before either rollout finished.
        App("shop", "catalog", service="catalog", revisions=[
            Rev(5, pinned("shop/catalog", "2.1", "catalog-2.1"), [Pod("node-b", "catalog-2.1")]),
            Rev(6, pinned("shop/catalog", "2.2", "catalog-2.2"),
                [Pod("node-a", "catalog-2.2"), Pod("node-d", "catalog-2.2")]),
            Rev(7, pinned("shop/catalog", "2.3", "catalog-2.3"),
                [Pod("node-c", "catalog-2.3"), Pod("node-d", "catalog-2.3")]),
        ]),
        # ledger's new image does not exist: its rollout stalled with old pods serving.
        App("payments", "ledger", service="ledger", stalled=True, revisions=[
            Rev(11, pinned("payments/ledger", "3.2", "ledger-3.2"), [
                Pod("node-a", "ledger-3.2"), Pod("node-b", "ledger-3.2"),
                Pod("node-c", "ledger-3.2")]),
            Rev(12, pinned("payments/ledger", "3.3", "ledger-3.3-missing"),
                [Pod("node-d", None)]),
        ]),
        # Clean controls, pinned by digest; they call the drifting services.
        App("shop", "frontend", service="frontend", pull_policy="IfNotPresent",
            env={"CHECKOUT_ADDR": "checkout:8080", "CATALOG_URL": "http://catalog.shop:80"},
            revisions=[Rev(4, pinned("shop/frontend", "2.0", "frontend-2.0"), [
                Pod("node-a", "frontend-2.0"), Pod("node-b", "frontend-2.0"),
                Pod("node-c", "frontend-2.0")])]),
        App("shop", "api-gateway", service="api-gateway",
            env={"UPSTREAM": "http://checkout.shop.svc.cluster.local:8080",
                 "LEDGER_HOST": "ledger.payments"},
            revisions=[Rev(9, pinned("shop/api-gateway", "5.1", "gateway-5.1"), [
                Pod("node-b", "gateway-5.1"), Pod("node-d", "gateway-5.1")])]),
    ]
    items = [node(n) for n in nodes]
    for app in apps:
        items.extend(app.items())
    return dump(items)


XSS_SCRIPT = "<script>document.title='XSS';window.__xss=1</script>"
XSS_IMG = "\"><img src=x onerror=\"document.title='XSS';window.__xss=2\">"
XSS_ALERT = "<script>alert(1)</script>"
XSS_ALERT_IMG = "\"><img src=x onerror=alert(1)>"
XSS_TEMPLATE = "{{ 7*7 }}"
PAYLOADS = (XSS_SCRIPT, XSS_IMG, XSS_ALERT, XSS_ALERT_IMG, XSS_TEMPLATE)


def xss_dump() -> dict[str, Any]:
    """Names, labels, annotations, env, images and imageIDs that carry HTML and JS."""
    drifted = App(
        "shop", f"web{XSS_SCRIPT}", container=f"c{XSS_ALERT_IMG}", service=f"svc{XSS_IMG}",
        annotations={"driftscan.io/ignore": f"{XSS_ALERT},{XSS_TEMPLATE}",
                     "note": XSS_SCRIPT},
        labels={"team": "x" + XSS_ALERT},
        revisions=[Rev(2, f"{REGISTRY}/shop/web:1.0", [
            Pod(f"node{XSS_ALERT}", "a"), Pod(f"node{XSS_IMG}", "b"), Pod("node-c", "b")],
            hash="h" + XSS_ALERT_IMG)],
    )
    odd_image = App(
        "shop", f"img{XSS_IMG}", env={"WEB_URL": f"http://svc{XSS_IMG}.shop"},
        revisions=[Rev(1, f"{REGISTRY}/shop/{XSS_IMG}:1.0{XSS_SCRIPT}",
                       [Pod("node-c", "c"), Pod(f"node{XSS_ALERT}", "d")])],
    )
    caller = App(f"ns{XSS_TEMPLATE}", f"caller{XSS_ALERT}", env={"WEB_URL": "http://web.shop:80"},
                 revisions=[Rev(1, f"{REGISTRY}/shop/caller:{XSS_ALERT}", [Pod("node-c", "e")])])
    plain_service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-svc-web"},
        "spec": {"selector": {"app": drifted.name}, "type": "ClusterIP"},
    }
    items = [node(f"node{XSS_ALERT}"), node(f"node{XSS_IMG}"), node("node-c"),
             *drifted.items(), *odd_image.items(), *caller.items(), plain_service]
    # imageIDs the parser cannot read: shown raw in unverifiable-image-id findings.
    for item in items:
        if item["kind"] == "Pod" and not item["metadata"]["name"].startswith("web"):
            item["status"]["containerStatuses"][0]["imageID"] = f"weird://{XSS_IMG}{XSS_ALERT}"
    return dump(items)


def fleet(workloads: int, *, drifted_every: int = 4) -> dict[str, Any]:
    """``workloads`` Deployments over 20 namespaces and 50 nodes, a realistic mix.

    Every ``drifted_every``-th runs two builds of a re-pushed tag behind its Service;
    every ``drifted_every``-th (offset) is mid-rollout over three revisions; the rest use
    a versioned tag (``mutable-tag``) or are pinned by digest (clean).
    """
    nodes = [f"node-{i:03d}" for i in range(50)]
    items = [node(n) for n in nodes]
    for i in range(workloads):
        ns = f"team-{i % 20:02d}"
        name = f"svc-{i:05d}"
        at = [nodes[(i + k) % len(nodes)] for k in range(6)]
        kind = i % drifted_every
        if kind == 0:
            revs = [Rev(2, f"{REGISTRY}/{ns}/{name}:1.0", [
                Pod(at[0], f"{name}-a"), Pod(at[1], f"{name}-a"), Pod(at[2], f"{name}-b"),
                Pod(at[3], f"{name}-b")])]
        elif kind == 1:
            revs = [Rev(n, pinned(f"{ns}/{name}", f"1.{n}", f"{name}-{n}"),
                        [Pod(at[n], f"{name}-{n}")]) for n in (1, 2, 3)]
        elif kind == 2:
            revs = [Rev(1, f"{REGISTRY}/{ns}/{name}:3.1",
                        [Pod(at[0], f"{name}-x"), Pod(at[1], f"{name}-x")])]
        else:
            revs = [Rev(1, pinned(f"{ns}/{name}", "2.0", f"{name}-p"),
                        [Pod(at[0], f"{name}-p"), Pod(at[1], f"{name}-p")])]
        env = {"NEXT_ADDR": f"svc-{(i + 1) % workloads:05d}:8080"} if i % 3 == 0 else {}
        items.extend(App(ns, name, service=name, env=env, revisions=revs).items())
    return dump(items)


def sample_journal(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A run journal in the runner's ``driftscan/scenario-journal/v1`` shape around ``reports``.

    ``reports`` maps ``repushed``, ``stalled`` and ``control`` to report JSON documents.
    The ``stalled-rollout`` scenario misses one expectation on purpose; the control's
    scan has no page yet (as when the runner could not render it).
    """
    def scan(scenario: str, label: str, detect: float | None, report: dict[str, Any],
             html: bool = True) -> dict[str, Any]:
        stem = f"scans/{scenario}--{label}"
        return {"label": label, "step": "steps[4]", "started_at": "2026-01-10T12:00:31.200Z",
                "ended_at": "2026-01-10T12:00:31.900Z", "duration_s": 0.7,
                "injected_by": "steps[2]", "time_to_detect_s": detect,
                "report_file": f"{stem}.json", "html_file": f"{stem}.html" if html else None,
                "html_error": None, "summary": report["summary"], "findings": [],
                "report": report}

    def fires(label: str, rule: str, workload: str, met: bool, found: str,
              detect: float | None, **extra: Any) -> dict[str, Any]:
        expected = {"rule": rule, "workload": workload, **extra}
        bits = [f"{k} ≥ {v}" if k == "severity" else f"{k} {v}" for k, v in extra.items()]
        description = f"{rule} on {workload}" + (f" ({', '.join(bits)})" if bits else "")
        return {"scan": label, "kind": "fires", "expected": expected,
                "description": description, "met": met,
                "message": f"expected {description}; {found}", "detected": found, "found": [],
                "time_to_detect_s": detect if met else None}

    def scenario(name: str, title: str, scans: list[dict[str, Any]],
                 expectations: list[dict[str, Any]], duration: float) -> dict[str, Any]:
        deviated = not all(e["met"] for e in expectations)
        return {"name": name, "title": title, "description": "", "tags": [],
                "namespace": "shop", "started_at": "2026-01-10T12:00:00.000Z",
                "duration_s": duration, "status": "completed", "deviated": deviated,
                "passed": not deviated, "error": None, "builds": [], "steps": [],
                "scans": scans, "expectations": expectations, "missing_scans": [],
                "cleanup": None}

    scenarios = [
        scenario("repushed-tag", "A release tag is re-pushed mid-scale-up",
                 [scan("repushed-tag", "after-repush", 12.4, reports["repushed"])], [
                     fires("after-repush", "digest-drift", "Deployment/web", True,
                           "found digest-drift on Deployment/web container web (high, "
                           "2 digests, 1 revision)", 12.4, severity="high", digests=2),
                     {"scan": "after-repush", "kind": "absent",
                      "expected": {"workload": "Deployment/frontend"},
                      "description": "no drift finding on Deployment/frontend", "met": True,
                      "message": "expected no drift finding on Deployment/frontend; "
                                 "found none", "detected": "found none", "found": [],
                      "time_to_detect_s": None},
                 ], 48.5),
        scenario("stalled-rollout", "A new image that does not exist",
                 [scan("stalled-rollout", "stalled", 65.0, reports["stalled"])], [
                     fires("stalled", "stalled-rollout", "Deployment/web", True,
                           "found stalled-rollout on Deployment/web (high, 1 digest, "
                           "2 revisions)", 65.0, severity="high"),
                     fires("stalled", "digest-drift", "Deployment/web", False,
                           "found no digest-drift on Deployment/web; its findings: "
                           "stalled-rollout (high)", None),
                 ], 96.0),
        scenario("pinned-control", "Pinned by digest: nothing may fire",
                 [scan("pinned-control", "steady", None, reports["control"], html=False)], [
                     {"scan": "steady", "kind": "clean", "expected": {"clean": True},
                      "description": "clean: no drift finding", "met": True,
                      "message": "expected no drift finding; found none",
                      "detected": "found none", "found": [],
                      "time_to_detect_s": None},
                 ], 40.5),
    ]
    return {
        "schema": "driftscan/scenario-journal/v1",
        "tool": {"name": "driftscan", "version": "0.1.0"},
        "platform": {"system": "Linux", "python": "3.11"},
        "run": {"id": "run-1", "started_at": "2026-01-10T12:00:00.000Z",
                "ended_at": "2026-01-10T12:03:05.000Z", "duration_s": 185.0,
                "status": "completed", "deviated": True, "error": None, "exit_code": 1,
                "provider": "kwok", "clusters": []},
        "summary": {"scenarios": 3, "passed": 2, "deviated": 1,
                    "expectations": {"total": 5, "met": 4, "missed": 1}},
        "scenarios": scenarios,
    }


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


SAMPLE_COMMAND = ("driftscan", "scan", "--from", "tests/dumps/sample-shop.json",
                  "--format", "html", "-o", "docs/sample-report.html")
"""The command line the sample page records in its provenance block."""


def main() -> int:
    """Rewrite tests/dumps/*.json and docs/sample-report.html from the builders above."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # the report names the dump by its path relative to the repository
    from scanner import detectors, graph
    from scanner.report import building, html, integrity
    from scanner.sources import dump as dump_source

    write_json(sample_shop(), DUMPS / "sample-shop.json")
    write_json(xss_dump(), DUMPS / "xss.json")
    snapshot = dump_source.load(["tests/dumps/sample-shop.json"])
    g = graph.build(snapshot)
    report = integrity.seal(building.build(
        snapshot, g, detectors.detect(snapshot, g), detectors.RULES,
        generated_at="2026-01-10T12:00:00Z", command_line=SAMPLE_COMMAND))
    page = ROOT / "docs" / "sample-report.html"
    html.write(report, page)
    print("wrote tests/dumps/sample-shop.json, tests/dumps/xss.json, docs/sample-report.html")
    from tests.e2e import chromium

    exe = chromium.binary()
    if exe is None:
        print("Chromium not found: docs/sample-report.png not refreshed", file=sys.stderr)
        return 1
    chromium.screenshot(exe, page.as_uri(), ROOT / "docs" / "sample-report.png", 1400, 2000)
    print("wrote docs/sample-report.png")
    return _sample_pdf_page(report)


def _sample_pdf_page(report: Any) -> int:
    """docs/sample-report-pdf.png: page one of the sample report printed to PDF."""
    import shutil
    import subprocess
    import tempfile

    from scanner import printing
    from scanner.report import html

    if shutil.which("pdftoppm") is None:
        print("pdftoppm (poppler-utils) not found: docs/sample-report-pdf.png not refreshed",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        pdf = Path(work) / "sample.pdf"
        printing.write(html.render(report), pdf, printing.Header.of(report))
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(ROOT / "docs" / "sample-report-pdf")], check=True)
    print("wrote docs/sample-report-pdf.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
