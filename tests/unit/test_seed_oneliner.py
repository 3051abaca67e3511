"""The JSON's per-imageID pod counts agree with the seed's one-liner over the same pods.

The one-liner is
``kubectl get pods -A -o jsonpath="{.items[*].status.containerStatuses[*].imageID}"
| tr -s '[[:space:]]' '\\n' | sort | uniq -c``: it counts every non-empty ``imageID`` of
regular (not init, not ephemeral) containers of every pod. It is emulated here on the raw
pod objects of every dump the tests ship (the rule fixtures and tests/dumps) and compared
with the sums the report gives per digest.

The shell splits words, so an ``imageID`` holding whitespace (tests/dumps/xss.json has
one) comes out of the one-liner as several words, while the report keeps it whole. The
report is therefore compared with the whole ``imageID`` values, and those, split into
words, must give exactly the one-liner's counts; for every dump whose ``imageID`` values
hold no whitespace the two comparisons are the same.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scanner import images
from scanner.report import json_format
from tests import kubedump
from tests.unit import helpers

TESTS = Path(__file__).resolve().parent.parent


def dumps() -> list[Path]:
    """Every dump the tests ship: the fixtures' and the hand-built ones in tests/dumps."""
    return [*helpers.fixture_files(), *sorted(kubedump.DUMPS.glob("*.json"))]


def _pods(doc: Any) -> list[dict[str, Any]]:
    items = doc["items"] if doc.get("kind", "").endswith("List") else [doc]
    return [i for i in items if i.get("kind", "Pod") == "Pod"]


def image_ids(doc: Any) -> Counter[str]:
    """Every ``status.containerStatuses[*].imageID`` that holds a word, kept whole."""
    return Counter(
        str(status.get("imageID", ""))
        for pod in _pods(doc)
        for status in pod.get("status", {}).get("containerStatuses", [])
        if str(status.get("imageID", "")).split()
    )


def seed_oneliner(doc: Any) -> Counter[str]:
    """``{.items[*].status.containerStatuses[*].imageID}`` | tr -s | sort | uniq -c."""
    words: list[str] = []
    for pod in _pods(doc):
        for status in pod.get("status", {}).get("containerStatuses", []):
            words.extend(str(status.get("imageID", "")).split())
    return Counter(words)


def words_of(ids: Counter[str]) -> Counter[str]:
    """What the one-liner prints for these whole ``imageID`` values."""
    words: Counter[str] = Counter()
    for raw, count in ids.items():
        for word in raw.split():
            words[word] += count
    return words


def test_every_shipped_dump_is_checked() -> None:
    data = {TESTS / "fixtures" / folder for folder in helpers.DATA_FOLDERS}
    shipped = {p for p in TESTS.rglob("*.json")
               if not any(folder in p.parents for folder in data)}
    assert set(dumps()) == shipped
    assert {kubedump.DUMPS / "sample-shop.json", kubedump.DUMPS / "xss.json"} <= shipped


@pytest.mark.parametrize("path", dumps(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_report_counts_match_the_seed_oneliner(path: Path) -> None:
    doc = helpers.raw(path)
    assert words_of(image_ids(doc)) == seed_oneliner(doc)
    expected: Counter[str] = Counter()
    raw_by_key: dict[str, set[str]] = {}
    for raw, count in image_ids(doc).items():
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
    assert sum(actual.values()) == sum(image_ids(doc).values())


def test_oneliner_emulation_counts_words_like_tr_and_uniq() -> None:
    doc = {"kind": "List", "items": [
        {"kind": "Pod", "status": {"containerStatuses": [{"imageID": "x@sha256:1"},
                                                         {"imageID": ""}]}},
        {"kind": "Pod", "status": {"containerStatuses": [{"imageID": "x@sha256:1"}],
                                   "initContainerStatuses": [{"imageID": "init@sha256:2"}]}},
        {"kind": "Pod", "status": {}},
        {"kind": "Pod", "status": {"containerStatuses": [{"imageID": "odd:// <b>x</b>"}]}},
    ]}
    assert seed_oneliner(doc) == Counter({"x@sha256:1": 2, "odd://": 1, "<b>x</b>": 1})
    assert image_ids(doc) == Counter({"x@sha256:1": 2, "odd:// <b>x</b>": 1})
    assert words_of(image_ids(doc)) == seed_oneliner(doc)
