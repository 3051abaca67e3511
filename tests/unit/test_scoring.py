from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner import detectors, evidence, findings, graph, model, scoring
from tests.unit import helpers

DIGESTS = ["sha256:" + ch * 64 for ch in "abcdef"]
REG = "registry.example.com/shop"


def f(rule: str, severity: findings.Severity, observed: tuple[str, ...] = (),
      services: tuple[evidence.ServiceTraffic, ...] = (),
      callers: tuple[str, ...] = ()) -> findings.Finding:
    ev: evidence.Evidence = evidence.Untyped()
    if rule == "digest-drift":
        ev = evidence.DigestDrift("r", "h", (), {}, {}, services=services, callers=callers)
    elif rule == "rollout-version-mix":
        ev = evidence.VersionMix((), None, services=services, callers=callers)
    return findings.Finding(rule, severity, model.WorkloadRef("Deployment", "ns", "w"), "m",
                            container="c", observed=observed, evidence=ev)


@pytest.mark.parametrize(("value", "letter"), [(0, "A"), (9, "A"), (10, "B"), (24, "B"),
                                                (25, "C"), (39, "C"), (40, "D"), (59, "D"),
                                                (60, "F"), (100, "F")])
def test_grades(value: int, letter: str) -> None:
    assert scoring.grade(value) == letter


def test_every_point_is_traced_to_a_finding() -> None:
    ref = model.WorkloadRef("Deployment", "ns", "w")
    s = scoring.score(ref, [
        f("digest-drift", findings.Severity.HIGH, tuple(DIGESTS[:4]),
          services=(evidence.ServiceTraffic("web", {DIGESTS[0]: 2, DIGESTS[1]: 1}),),
          callers=("Deployment/ns/a", "Deployment/ns/b")),
        f("rollout-version-mix", findings.Severity.MEDIUM, tuple(DIGESTS[:2]),
          callers=("Deployment/ns/a", "Deployment/ns/b")),
        f("mutable-tag", findings.Severity.LOW),
        f("unverifiable-image-id", findings.Severity.INFO),
    ])
    points = {i.rule: i.points for i in s.items}
    assert points == {"digest-drift": 30 + 10 + 10 + 6, "rollout-version-mix": 15,
                      "mutable-tag": 5, "unverifiable-image-id": 0}
    assert s.uncapped == sum(points.values()) == 76
    assert (s.score, s.grade) == (76, "F")
    drift = next(i for i in s.items if i.rule == "digest-drift")
    assert drift.reasons == ("high severity: 30", "4 builds at once: +10",
                             "Service web splits traffic across builds: +10",
                             "2 upstream caller(s): +6")


def test_score_is_capped_and_order_independent() -> None:
    ref = model.WorkloadRef("Deployment", "ns", "w")
    many = [f("overlapping-rollout", findings.Severity.CRITICAL, tuple(DIGESTS)) for _ in range(3)]
    assert scoring.score(ref, many).score == 100
    assert scoring.score(ref, many).uncapped == 3 * (50 + 15)
    mixed = [f("mutable-tag", findings.Severity.LOW), many[0]]
    assert scoring.score(ref, mixed) == scoring.score(ref, list(reversed(mixed)))


def test_fixture_scores() -> None:
    def worst(rule: str, name: str) -> tuple[int, str]:
        report = helpers.report_for(helpers.load(helpers.FIXTURES / rule / name))
        return report.workloads[0].score, report.workloads[0].grade

    assert worst("digest-drift", "clean-pinned-control.json") == (0, "A")
    assert worst("mutable-tag", "fires-versioned-tag.json") == (5, "A")
    assert worst("digest-drift", "fires-repushed-tag.json") == (30 + 10 + 3 + 5, "D")


# --- properties ---------------------------------------------------------------------------


@st.composite
def snapshots(draw: st.DrawFn) -> model.Snapshot:
    """A namespace with 1–2 Deployments, revisions, pods on nodes, a Service and a caller."""
    workloads, revisions, pods, services = [], [], [], []
    for w in range(draw(st.integers(1, 2))):
        name = f"app{w}"
        image = draw(st.sampled_from([f"{REG}/{name}:1.0", f"{REG}/{name}:latest", f"{REG}/{name}",
                                      f"{REG}/{name}:1.0@{DIGESTS[0]}"]))
        policy = draw(st.sampled_from(["IfNotPresent", "Always", "Never", ""]))
        sidecar = draw(st.booleans())
        specs = [model.ContainerSpec("main", model.ContainerRole.MAIN, image, policy,
                                     hosts=("app0",) if w == 1 else ())]
        if sidecar:
            specs.append(model.ContainerSpec("proxy", model.ContainerRole.SIDECAR,
                                             f"{REG}/proxy:2", "IfNotPresent"))
        n_revs = draw(st.integers(1, 3))
        paused = draw(st.booleans())
        workloads.append(model.Workload(
            "Deployment", "ns", name, f"uid-{name}", None, tuple(specs), replicas=3,
            strategy="RollingUpdate", paused=paused, revision=n_revs,
            conditions=(model.Condition("Progressing", draw(st.sampled_from(["True", "False"])),
                                        "ProgressDeadlineExceeded"),),
        ))
        for r in range(1, n_revs + 1):
            h = f"{name}h{r}"
            revisions.append(model.Revision("ReplicaSet", "ns", f"{name}-{h}", f"uid-{h}",
                                            model.OwnerRef("Deployment", name), h, r, tuple(specs),
                                            replicas=draw(st.integers(0, 2))))
            for p in range(draw(st.integers(0, 3))):
                containers = [model.ContainerRecord(
                    "main", model.ContainerRole.MAIN, image, policy,
                    draw(st.sampled_from(["", *(f"{REG}/{name}@{d}" for d in DIGESTS[:3]),
                                          DIGESTS[4]])),
                    waiting_reason=draw(st.sampled_from(["", "", "ImagePullBackOff"])),
                    ready=True, has_status=True)]
                if sidecar:
                    containers.append(model.ContainerRecord(
                        "proxy", model.ContainerRole.SIDECAR, f"{REG}/proxy:2", "IfNotPresent",
                        draw(st.sampled_from([f"{REG}/proxy@{d}" for d in DIGESTS[3:5]])),
                        ready=True, has_status=True))
                pods.append(model.PodRecord(
                    "ns", f"{name}-{h}-{p}", f"uid-{name}-{h}-{p}",
                    model.OwnerRef("ReplicaSet", f"{name}-{h}"),
                    draw(st.sampled_from(["n1", "n2", "n3"])), "Running",
                    f"2026-01-10T10:{r:02d}:{p:02d}Z", False, draw(st.booleans()),
                    frozenset({("app", name), ("pod-template-hash", h)}), tuple(containers)))
        services.append(model.ServiceRecord("ns", name, frozenset({("app", name)})))
    return model.Snapshot(model.SourceInfo("dump"), "2026-01-10T12:00:00Z",
                          workloads=tuple(workloads), revisions=tuple(revisions),
                          pods=tuple(pods), services=tuple(services))


def scores(snapshot: model.Snapshot) -> dict[model.WorkloadRef, int]:
    g = graph.build(snapshot)
    found = detectors.detect(snapshot, g)
    return {ref: s.score for ref, s in scoring.score_all(graph.workloads(g), found).items()}


def _pin(snapshot: model.Snapshot, image: str, digest: str) -> model.Snapshot:
    pinned = f"{image}@{digest}"

    def spec(c: model.ContainerSpec) -> model.ContainerSpec:
        return dataclasses.replace(c, image=pinned) if c.image == image else c

    def record(c: model.ContainerRecord) -> model.ContainerRecord:
        return dataclasses.replace(c, image=pinned) if c.image == image else c

    return dataclasses.replace(
        snapshot,
        workloads=tuple(dataclasses.replace(w, containers=tuple(map(spec, w.containers)))
                        for w in snapshot.workloads),
        revisions=tuple(dataclasses.replace(r, containers=tuple(map(spec, r.containers)))
                        for r in snapshot.revisions),
        pods=tuple(dataclasses.replace(p, containers=tuple(map(record, p.containers)))
                   for p in snapshot.pods),
    )


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(snapshots(), st.data())
def test_pinning_a_digest_never_raises_a_score(snapshot: model.Snapshot,
                                              data: st.DataObject) -> None:
    candidates = sorted({c.image for w in snapshot.workloads for c in w.containers
                         if "@" not in c.image})
    if not candidates:
        return
    image = data.draw(st.sampled_from(candidates))
    digest = data.draw(st.sampled_from(DIGESTS))
    before = scores(snapshot)
    after = scores(_pin(snapshot, image, digest))
    for ref, value in before.items():
        assert after[ref] <= value, (ref, image)


@SETTINGS
@given(snapshots(), st.data())
def test_adding_a_drifted_pod_never_lowers_a_score(snapshot: model.Snapshot,
                                                  data: st.DataObject) -> None:
    revision = data.draw(st.sampled_from(snapshot.revisions))
    workload = next(w for w in snapshot.workloads if w.name == revision.owner.name)  # type: ignore[union-attr]
    digest = data.draw(st.sampled_from(DIGESTS))
    containers = tuple(
        model.ContainerRecord(c.name, c.role, c.image, c.pull_policy,
                              f"{REG}/{workload.name}@{digest}", ready=True, has_status=True)
        for c in revision.containers
    )
    labels = frozenset({("app", workload.name), ("pod-template-hash", revision.hash)})
    pod = model.PodRecord(
        "ns", f"{revision.name}-drifted", "uid-drifted",
        model.OwnerRef("ReplicaSet", revision.name),
        data.draw(st.sampled_from(["n1", "n2", "n4"])), "Running", "2026-01-10T11:00:00Z", False,
        data.draw(st.booleans()), labels, containers)
    before = scores(snapshot)
    after = scores(dataclasses.replace(snapshot, pods=(*snapshot.pods, pod)))
    for ref, value in before.items():
        assert after[ref] >= value, ref
