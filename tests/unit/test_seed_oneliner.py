"""The JSON's per-imageID pod counts agree with the seed's one-liner over the same pods.

The one-liner is
``kubectl get pods -A -o jsonpath="{.items[*].status.containerStatuses[*].imageID}"
| tr -s '[[:space:]]' '\\n' | sort | uniq -c``: it counts every non-empty ``imageID`` of
regular (not init, not ephemeral) containers of every pod. It is emulated here on the raw
pod objects of each dump and compared with the sums the report gives per digest.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scanner import images
from scanner.report import json_format
from tests.unit import helpers


def _pods(doc: Any) -> list[dict[str, Any]]:
    items = doc["items"] if doc.get("kind", "").endswith("List") else [doc]
    return [i for i in items if i.get("kind", "Pod") == "Pod"]


def seed_oneliner(doc: Any) -> Counter[str]:
    """``{.items[*].status.containerStatuses[*].imageID}`` | tr -s | sort | uniq -c."""
    words: list[str] = []
    for pod in _pods(doc):
        for status in pod.get("status", {}).get("containerStatuses", []):
            words.extend(str(status.get("imageID", "")).split())
    return Counter(words)


@pytest.mark.parametrize("path", helpers.fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_report_counts_match_the_seed_oneliner(path: Path) -> None:
    doc = helpers.raw(path)
    expected: Counter[str] = Counter()
    raw_by_key: dict[str, set[str]] = {}
    for raw, count in seed_oneliner(doc).items():
        key = images.parse_image_id(raw).key
        expected[key] += count
        raw_by_key.setdefault(key, set()).add(raw)

    report = json.loads(json_format.render(helpers.report_for(helpers.load(path))))
    actual: Counter[str] = Counter()
    raw_in_report: dict[str, set[str]] = {}
    for workload in report["workloads"]:
        for container in workload["containers"]:
            if container["init"] or container["role"] == "ephemeral":
                continue
            for entry in container["digests"]:
                actual[entry["digest"]] += len(entry["pods"])
                raw_in_report.setdefault(entry["digest"], set()).update(entry["image_ids"])
    assert actual == expected
    assert raw_in_report == raw_by_key
    assert sum(actual.values()) == sum(seed_oneliner(doc).values())


def test_oneliner_emulation_counts_words_like_tr_and_uniq() -> None:
    doc = {"kind": "List", "items": [
        {"kind": "Pod", "status": {"containerStatuses": [{"imageID": "x@sha256:1"},
                                                         {"imageID": ""}]}},
        {"kind": "Pod", "status": {"containerStatuses": [{"imageID": "x@sha256:1"}],
                                   "initContainerStatuses": [{"imageID": "init@sha256:2"}]}},
        {"kind": "Pod", "status": {}},
    ]}
    assert seed_oneliner(doc) == Counter({"x@sha256:1": 2})
