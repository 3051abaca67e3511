"""Precise detector expectations on the hand-written fixtures.

The cases: drift within one revision from a re-pushed tag (and a pinned control that
stays clean), two- and three-revision rollouts, a rollout started at zero pods, stalled
and paused rollouts, a StatefulSet partition, a DaemonSet with OnDelete, drift only in a
sidecar or only in a terminated init container, CronJob → Job → Pod ownership, a bare
Pod, ``docker-pullable://`` and config-digest image IDs, the opt-out annotation, finding
order and a severity override.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from scanner import evidence, findings, model
from scanner.detectors import common
from tests import kubedump
from tests.unit import helpers

A, B, C = ("sha256:" + ch * 64 for ch in "abc")


def by_rule(found: list[findings.Finding], rule: str) -> list[findings.Finding]:
    return [f for f in found if f.rule == rule]


def test_same_revision_drift_from_repushed_tag() -> None:
    found = helpers.fixture_findings("digest-drift", "fires-repushed-tag.json")
    drift = by_rule(found, "digest-drift")
    assert len(drift) == 1
    f = drift[0]
    assert f.workload == model.WorkloadRef("Deployment", "shop", "web")
    assert f.container == "web"
    assert f.observed == (A, B)
    ev = f.evidence
    assert isinstance(ev, evidence.DigestDrift)
    assert ev.revision == "web-5d9f8c7b6"
    assert ev.pods_by_digest == {
        A: ("web-5d9f8c7b6-aaaaa", "web-5d9f8c7b6-bbbbb"),
        B: ("web-5d9f8c7b6-ccccc", "web-5d9f8c7b6-ddddd"),
    }
    assert ev.nodes_by_digest == {A: ("node-a",), B: ("node-b", "node-c")}
    assert ev.services == (evidence.ServiceTraffic("web", {A: 2, B: 2}),)
    assert ev.callers == ("Deployment/shop/frontend",)
    assert ev.to_json()["services"] == [{"service": "web", "ready_pods_by_digest": {A: 2, B: 2}}]
    # 2 vs 2: the newest pods' build wins the tie.
    assert f.pin is not None and f.pin.digest == B
    assert f.pin.command == (
        "kubectl set image deployment/web -n shop "
        f"web=registry.example.com:5000/shop/web:1.0@{B}"
    )
    assert not by_rule(found, "rollout-version-mix")
    # The frontend is pinned and uniform: nothing about it.
    assert all(f.workload.name == "web" for f in found)


def test_pinned_control_yields_no_drift_finding_at_all() -> None:
    assert helpers.fixture_findings("digest-drift", "clean-pinned-control.json") == []


def test_two_revision_rollout() -> None:
    found = helpers.fixture_findings("rollout-version-mix", "fires-two-revisions.json")
    assert [f.rule for f in found if f.severity.rank >= findings.Severity.MEDIUM.rank] == [
        "rollout-version-mix"]
    mix = by_rule(found, "rollout-version-mix")[0]
    assert mix.observed == (A, B)
    assert isinstance(mix.evidence, evidence.VersionMix)
    assert [r.revision for r in mix.evidence.revisions] == ["web-1111aaaa", "web-2222bbbb"]
    assert mix.evidence.newest_revision == "web-2222bbbb"
    assert mix.expected == B  # pin to where the rollout is heading
    assert not by_rule(found, "overlapping-rollout")
    assert not by_rule(found, "digest-drift")


def test_three_revision_rollout() -> None:
    found = helpers.fixture_findings("overlapping-rollout", "fires-three-revisions.json")
    overlap = by_rule(found, "overlapping-rollout")
    assert len(overlap) == 1
    assert overlap[0].message.startswith("3 revisions hold live pods")
    assert isinstance(overlap[0].evidence, evidence.OverlappingRollout)
    assert [r.number for r in overlap[0].evidence.revisions] == [1, 2, 3]
    mix = by_rule(found, "rollout-version-mix")[0]
    assert mix.observed == (A, B, C)


def test_new_rollout_started_at_zero_pods() -> None:
    found = helpers.fixture_findings("overlapping-rollout", "fires-new-rollout-at-zero.json")
    overlap = by_rule(found, "overlapping-rollout")[0]
    assert "2 revisions older than web-5555eeee still hold pods" in overlap.message


def test_stalled_rollout_pull_failure_and_deadline() -> None:
    found = helpers.fixture_findings("stalled-rollout", "fires-errimagepull-deadline.json")
    stalled = by_rule(found, "stalled-rollout")
    assert len(stalled) == 1
    ev = stalled[0].evidence
    assert isinstance(ev, evidence.StalledRollout)
    assert ev.stuck_pods_by_reason == {"ImagePullBackOff": ("web-6666ffff-bad1",)}
    assert ev.progress_deadline_exceeded is True
    assert ev.serving_pods == 3
    assert stalled[0].observed == (A,)
    assert "kubectl rollout undo deployment/web -n shop" in stalled[0].remediation
    # The stuck pod has no imageID: no build mix to report.
    assert not by_rule(found, "rollout-version-mix")


def test_paused_rollouts() -> None:
    mix = helpers.fixture_findings("paused-rollout", "fires-paused-mix.json")
    assert "web runs 2 builds" in by_rule(mix, "paused-rollout")[0].message
    edit = helpers.fixture_findings("paused-rollout", "fires-paused-template-edit.json")
    paused = by_rule(edit, "paused-rollout")[0]
    assert isinstance(paused.evidence, evidence.PausedRollout)
    assert paused.evidence.pending_template_changes == (
        "web (registry.example.com:5000/shop/web:1.0 → registry.example.com:5000/shop/web:2.0)",)
    assert "kubectl rollout resume deployment/web -n shop" in paused.remediation


def test_statefulset_partition() -> None:
    found = helpers.fixture_findings("partitioned-update", "fires-partition.json")
    f = by_rule(found, "partitioned-update")[0]
    assert f.workload == model.WorkloadRef("StatefulSet", "data", "db")
    assert isinstance(f.evidence, evidence.PartitionedUpdate)
    assert f.evidence.pods_behind == {"db-7f8e9d0c1": ("db-0", "db-1", "db-2")}
    assert f.evidence.update_revision == "db-5a6b7c8d9"
    assert f.evidence.digests_by_revision == {"db-5a6b7c8d9": (B,), "db-7f8e9d0c1": (A,)}
    assert '"partition":0' in f.remediation
    # The partition is deliberate: the version mix is reported, but not as a same-revision drift.
    assert not by_rule(found, "digest-drift")
    assert by_rule(found, "rollout-version-mix")


def test_daemonset_ondelete() -> None:
    found = helpers.fixture_findings("ondelete-update", "fires-daemonset-ondelete.json")
    f = by_rule(found, "ondelete-update")[0]
    assert f.workload == model.WorkloadRef("DaemonSet", "obs", "agent")
    assert isinstance(f.evidence, evidence.OnDeleteUpdate)
    assert f.evidence.update_revision == "agent-7d6c5b4a3"
    assert f.evidence.pods_behind == {"agent-6c5b4a398": ("agent-k2x8p", "agent-m9q4r")}
    assert "kubectl delete pod -n obs agent-k2x8p agent-m9q4r" in f.remediation


def test_drift_only_in_sidecar() -> None:
    found = helpers.fixture_findings("digest-drift", "fires-sidecar-only.json")
    drift = by_rule(found, "digest-drift")
    assert [(f.container, f.message.split(":")[0]) for f in drift] == [
        ("proxy", "init container proxy")]
    assert drift[0].pin is not None and drift[0].pin.command is not None
    assert "proxy=registry.example.com:5000/platform/proxy:2@" in drift[0].pin.command


def test_drift_only_in_init_container_even_after_it_terminated() -> None:
    found = helpers.fixture_findings("digest-drift", "fires-init-container.json")
    drift = by_rule(found, "digest-drift")
    assert [f.container for f in drift] == ["migrate"]


def test_cronjob_job_pod_ownership() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "fires-cronjob.json")
    g, found = helpers.analyse(snap)
    from scanner import graph

    assert graph.workloads(g) == [model.WorkloadRef("CronJob", "ops", "nightly-report")]
    drift = by_rule(found, "digest-drift")[0]
    assert drift.workload.kind == "CronJob"
    assert drift.pin is not None
    assert drift.pin.command is not None and drift.pin.command.startswith(
        "kubectl set image cronjob/nightly-report -n ops report=")
    assert graph.missing_owners(g) == []


def test_bare_pod_is_its_own_workload() -> None:
    found = helpers.fixture_findings("floating-tag", "fires-bare-pod-no-tag.json")
    assert {f.workload for f in found} == {model.WorkloadRef("Pod", "default", "debug-shell")}
    floating = by_rule(found, "floating-tag")[0]
    assert floating.message.startswith("container shell: image busybox has no tag (latest)")
    assert floating.pin is not None
    assert floating.pin.pinned_image == "busybox@sha256:" + "f" * 64
    # latest with the default policy (Always): floating-tag says it all.
    assert not by_rule(found, "pull-policy-divergence")


def test_docker_pullable_image_ids_compare_by_digest() -> None:
    found = helpers.fixture_findings("digest-drift", "fires-docker-pullable.json")
    drift = by_rule(found, "digest-drift")[0]
    assert drift.observed == ("sha256:" + "4" * 64, "sha256:" + "5" * 64)
    assert not by_rule(found, "unverifiable-image-id")


def test_config_id_image_ids_are_unverifiable_never_drift() -> None:
    found = helpers.fixture_findings("unverifiable-image-id", "fires-config-id.json")
    assert not by_rule(found, "digest-drift")
    f = by_rule(found, "unverifiable-image-id")[0]
    assert isinstance(f.evidence, evidence.UnverifiableImageID)
    assert f.evidence.kinds == ("config-id",)
    assert f.evidence.runtimes == ("containerd://1.7.18",)
    assert f.pin is None


def test_opt_out_annotation(tmp_path: object) -> None:
    import json
    from pathlib import Path

    doc = helpers.raw(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    for item in doc["items"]:
        if item["kind"] == "Deployment" and item["metadata"]["name"] == "web":
            item["metadata"]["annotations"]["driftscan.io/ignore"] = (
                "digest-drift, pull-policy-divergence")
    path = Path(str(tmp_path)) / "ignored.json"
    path.write_text(json.dumps(doc))
    found = helpers.analyse(helpers.load(path))[1]
    assert sorted({f.rule for f in found}) == ["mutable-tag"]


def test_findings_are_sorted_most_severe_first() -> None:
    found = helpers.fixture_findings("overlapping-rollout", "fires-three-revisions.json")
    ranks = [f.severity.rank for f in found]
    assert ranks == sorted(ranks, reverse=True)


def test_severity_override_retiers_a_rule() -> None:
    from scanner import detectors, graph

    snap = helpers.load(helpers.FIXTURES / "mutable-tag" / "fires-versioned-tag.json")
    g = graph.build(snap)
    found = detectors.detect(snap, g, severity_overrides={"mutable-tag": findings.Severity.HIGH})
    assert by_rule(found, "mutable-tag")[0].severity is findings.Severity.HIGH


def test_remediation_commands_survive_hostile_names(tmp_path: Path) -> None:
    # Names and images from a cluster may hold quotes, spaces and markup: every command
    # a finding carries must split back into exactly the arguments it was built from.
    dump_file = tmp_path / "xss.json"
    dump_file.write_text(json.dumps(kubedump.xss_dump()))
    commands = 0
    for f in helpers.analyse(helpers.load(dump_file))[1]:
        if f.pin is None or f.pin.command is None:
            continue
        commands += 1
        argv = shlex.split(f.pin.command)
        assert argv[:3] == ["kubectl", "set", "image"]
        assert argv[4:6] == ["-n", f.workload.namespace]
        assert argv[6] == f"{f.pin.container}={f.pin.pinned_image}"
        assert f"`{f.pin.command}`" in f.remediation
    assert commands


def test_kubectl_quotes_only_what_needs_it() -> None:
    ref = model.WorkloadRef("Deployment", "shop", "web")
    assert common.rollout_command("undo", ref) == "kubectl rollout undo deployment/web -n shop"
    assert common.rollout_command("undo", model.WorkloadRef("Job", "shop", "j")) is None
    assert common.kubectl("delete", "pod", "a b") == "kubectl delete pod 'a b'"
