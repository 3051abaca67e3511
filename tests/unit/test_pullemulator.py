"""The image-pull emulator's decisions, as kubelet's image manager and containerd make them.

``decide`` is pure given a node image store and a resolver; the resolver here is a
plain dictionary standing in for the registry's tag → digest answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner import errors
from scanner.clusters import pullemulator as pe
from scanner.clusters import stages

REG = "127.0.0.1:5000"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


class Registry:
    """Tag → digest answers, counting how often each reference was asked."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.asked: list[str] = []
        self.down = False

    def __call__(self, registry: str, repository: str, tag: str) -> str | None:
        self.asked.append(f"{registry}/{repository}:{tag}")
        if self.down:
            raise errors.RegistryError(f"{registry}: connection refused")
        return self.tags.get(f"{registry}/{repository}:{tag}")


def test_if_not_present_uses_the_node_cache_after_the_tag_moves() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1})
    first = pe.decide(f"{REG}/app:v1", "IfNotPresent", "n1", store, reg)
    reg.tags[f"{REG}/app:v1"] = D2  # re-pushed
    again = pe.decide(f"{REG}/app:v1", "IfNotPresent", "n1", store, reg)
    other = pe.decide(f"{REG}/app:v1", "IfNotPresent", "n2", store, reg)
    assert first.image_id == again.image_id == f"{REG}/app@{D1}"
    assert other.image_id == f"{REG}/app@{D2}"  # a node that never pulled gets the new build
    assert reg.asked == [f"{REG}/app:v1", f"{REG}/app:v1"]  # n1 asked once only


def test_always_asks_every_time_and_moves_the_node_wide_tag() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:latest": D1})
    assert pe.decide(f"{REG}/app", "Always", "n1", store, reg).image_id == f"{REG}/app@{D1}"
    reg.tags[f"{REG}/app:latest"] = D2
    assert pe.decide(f"{REG}/app:latest", "Always", "n1", store, reg).image_id.endswith(D2)
    # The node's entry moved: an IfNotPresent pod on n1 now gets the new build too.
    assert pe.decide(f"{REG}/app:latest", "IfNotPresent", "n1", store, reg).image_id.endswith(D2)
    assert len(reg.asked) == 2


def test_digest_references_are_used_as_is() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D2})
    result = pe.decide(f"{REG}/app:v1@{D1}", "Always", "n1", store, reg)
    assert result == pe.PullResult(image_id=f"{REG}/app@{D1}")
    assert reg.asked == []


def test_never_needs_the_image_on_the_node() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1})
    assert "pull policy of Never" in pe.decide(f"{REG}/app:v1", "Never", "n1", store, reg).error
    assert "pull policy of Never" in pe.decide(f"{REG}/app@{D1}", "Never", "n1", store, reg).error
    pe.decide(f"{REG}/app:v1", "IfNotPresent", "n1", store, reg)
    pe.decide(f"{REG}/app@{D1}", "IfNotPresent", "n1", store, reg)
    assert pe.decide(f"{REG}/app:v1", "Never", "n1", store, reg).image_id.endswith(D1)
    assert pe.decide(f"{REG}/app@{D1}", "Never", "n1", store, reg).image_id.endswith(D1)
    assert reg.asked == [f"{REG}/app:v1"]


def test_missing_tag_unreachable_registry_and_bad_reference_are_pull_errors() -> None:
    store, reg = pe.NodeImages(), Registry({})
    missing = pe.decide(f"{REG}/app:nope", "IfNotPresent", "n1", store, reg)
    assert missing.image_id == "" and "not found" in missing.error
    reg.down = True
    down = pe.decide(f"{REG}/app:v1", "Always", "n1", store, reg)
    assert down.image_id == "" and "connection refused" in down.error
    bad = pe.decide("UPPER/Case:tag", "IfNotPresent", "n1", store, reg)
    assert bad.image_id == "" and "invalid reference format" in bad.error
    assert store.snapshot() == {}  # nothing was cached for failed pulls


def test_docker_hub_short_names_are_normalised() -> None:
    store = pe.NodeImages()
    reg = Registry({"docker.io/library/nginx:1.27": D1})
    assert pe.decide("nginx:1.27", "IfNotPresent", "n1", store, reg).image_id == (
        f"docker.io/library/nginx@{D1}")


def test_annotations_cover_init_containers_and_mark_failures() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1, f"{REG}/init:v1": D2})
    pod = {"spec": {"nodeName": "n1",
                    "initContainers": [{"name": "setup", "image": f"{REG}/init:v1"}],
                    "containers": [{"name": "app", "image": f"{REG}/app:v1"},
                                   {"name": "side", "image": f"{REG}/side:v9"}]}}
    patch = pe.annotations_for(pod, store, reg)
    assert patch[stages.ANNOTATION_IMAGE_ID + "setup"] == f"{REG}/init@{D2}"
    assert patch[stages.ANNOTATION_IMAGE_ID + "app"] == f"{REG}/app@{D1}"
    assert patch[stages.ANNOTATION_IMAGE_ID + "side"] is None  # removed by the merge patch
    assert "not found" in str(patch[stages.ANNOTATION_ERROR + "side"])
    assert patch[stages.ANNOTATION_ERROR + "app"] is None
    assert patch[stages.ANNOTATION_STATE] == "failed"


def test_node_images_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "node-images.json"
    pe.NodeImages(path).put("n1", f"{REG}/app:v1", D1)
    assert pe.NodeImages(path).get("n1", f"{REG}/app:v1") == D1
    assert json.loads(path.read_text()) == {"n1": {f"{REG}/app:v1": D1}}


@pytest.mark.parametrize("delay", [0, 750])
def test_stages_carry_the_readiness_delay_and_every_pod_stage(delay: int) -> None:
    import yaml

    docs = list(yaml.safe_load_all(stages.render(delay, delay * 2)))
    names = [d["metadata"]["name"] for d in docs]
    assert names == ["node-initialize", "node-heartbeat", "pod-ready", "pod-pull-failed",
                     "pod-complete", "pod-delete"]
    ready = docs[2]["spec"]
    assert ready["delay"] == {"durationMilliseconds": delay,
                              "jitterDurationMilliseconds": delay * 2}
    assert "image-id.driftscan.io/%s" in ready["next"]["statusTemplate"]


def test_reasons_follow_kubelet() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1})
    assert pe.decide(f"{REG}/app:v1", "Never", "n1", store, reg).reason == "ErrImageNeverPull"
    assert pe.decide(f"{REG}/app:v9", "Always", "n1", store, reg).reason == "ErrImagePull"
    assert pe.decide("UPPER/Case:tag", "Always", "n1", store, reg).reason == "InvalidImageName"


def test_a_digest_reference_is_reported_by_the_tag_the_node_holds() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1})
    assert pe.decide(f"{REG}/app@{D1}", "IfNotPresent", "n1", store, reg).image == ""
    pe.decide(f"{REG}/app:v1", "IfNotPresent", "n1", store, reg)
    by_digest = pe.decide(f"{REG}/app:other@{D1}", "IfNotPresent", "n1", store, reg)
    assert by_digest == pe.PullResult(image_id=f"{REG}/app@{D1}", image=f"{REG}/app:v1")
    assert pe.decide(f"{REG}/app@{D1}", "IfNotPresent", "n2", store, reg).image == ""


def test_a_failed_init_container_stops_every_later_pull() -> None:
    store, reg = pe.NodeImages(), Registry({f"{REG}/app:v1": D1, f"{REG}/init:v1": D2})
    pod = {"spec": {"nodeName": "n1",
                    "initContainers": [{"name": "ok", "image": f"{REG}/init:v1"},
                                       {"name": "bad", "image": f"{REG}/init:v9"},
                                       {"name": "later", "image": f"{REG}/init:v1"}],
                    "containers": [{"name": "app", "image": f"{REG}/app:v1"}]}}
    patch = pe.annotations_for(pod, store, reg)
    assert patch[stages.ANNOTATION_IMAGE_ID + "ok"] == f"{REG}/init@{D2}"
    assert patch[stages.ANNOTATION_REASON + "bad"] == "ErrImagePull"
    for later in ("later", "app"):
        assert patch[stages.ANNOTATION_REASON + later] == "PodInitializing"
        assert patch[stages.ANNOTATION_IMAGE_ID + later] is None
    assert store.get("n1", f"{REG}/app:v1") is None  # never pulled
    assert patch[stages.ANNOTATION_STATE] == "failed"


def test_a_digest_reference_without_a_tag_is_reported_by_the_image_id() -> None:
    store, reg = pe.NodeImages(), Registry({})
    configs = {D1: "sha256:" + "c" * 64}
    result = pe.decide(f"{REG}/app@{D1}", "IfNotPresent", "n1", store, reg,
                       lambda _r, _repo, digest: configs.get(digest))
    assert result == pe.PullResult(image_id=f"{REG}/app@{D1}", image=configs[D1])


def test_a_failed_retry_shows_the_back_off() -> None:
    statuses = [{"name": "app", "image": f"{REG}/app:v9",
                 "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}},
                {"name": "ok", "state": {"running": {}}},
                {"name": "never", "state": {"waiting": {"reason": "ErrImageNeverPull"}}}]
    out = pe.back_off_statuses(statuses)
    assert out is not None
    assert out[0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert out[0]["state"]["waiting"]["message"].startswith(f'Back-off pulling image "{REG}')
    assert out[1:] == statuses[1:]  # running and ErrImageNeverPull (no back-off) unchanged
    assert pe.back_off_statuses(out) is None
