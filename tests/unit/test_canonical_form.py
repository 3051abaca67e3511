"""The report's canonical body: orjson's fast path writes exactly the standard library's text."""

from __future__ import annotations

import enum
import hashlib
import json
import types
from typing import Any

import orjson
import pytest

from scanner.report import integrity, json_format
from tests.unit import helpers


def _stdlib(body: dict[str, Any]) -> bytes:
    data = {k: v for k, v in body.items() if k != "integrity"}
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


class Kind(enum.StrEnum):
    POD = "Pod"


class Number(enum.IntEnum):
    ONE = 1


HOSTILE = "\x00\x1f\x7f\u2028\u2029\"\\\n\t\b\f\r/é😀<script>\ufeff"


@pytest.mark.parametrize("body", [
    {"b": 1, "a": [HOSTILE, {"é": True, "e": None, "z": -(2**63)}], "integrity": {"x": 1}},
    {"😀": 1, "\uffff": 2, "a\x00": 3, "A": [[], {}, 2**64 - 1]},
    {"float": 1e-05, "n": [0.1, 2.5e-07, 1e16]},
    {"big": 2**70, "s": HOSTILE},
    {"tuple": (1, 2), "k": {1: "int key"}},
])
def test_canonical_matches_the_standard_library(body: dict[str, Any]) -> None:
    assert integrity.canonical(body) == _stdlib(body)


def test_floats_take_the_standard_library_path() -> None:
    assert not integrity._orjson_exact({"a": [1, {"b": 1e-05}]})
    assert not integrity._orjson_exact({1: "x"})
    assert integrity._orjson_exact({"a": [1, "x", True, None, {"b": []}]})


@pytest.mark.parametrize("path", helpers.fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sealed_digest_is_the_standard_library_digest(path: Any) -> None:
    report = helpers.report_for(helpers.load(path))
    body = json_format.to_dict(report)
    assert report.integrity is not None
    assert report.integrity.digest == "sha256:" + hashlib.sha256(_stdlib(body)).hexdigest()
    assert json.loads(json_format.render(report)) == body
    assert integrity.verify(json.loads(json_format.render(report))).ok


def test_a_float_in_evidence_seals_with_the_standard_library_digest() -> None:
    """Evidence is checked for floats as it is copied: a float takes the slow path."""
    import dataclasses

    report = next(r for r in (helpers.report_for(helpers.load(p))
                              for p in helpers.fixture_files())
                  if any(w.findings for w in r.workloads))
    i, w = next((i, w) for i, w in enumerate(report.workloads) if w.findings)
    odd = dataclasses.replace(w.findings[0], evidence={"ratio": 1e-05, "n": [0.1, 1e16]})
    workloads = list(report.workloads)
    workloads[i] = dataclasses.replace(w, findings=(odd, *w.findings[1:]))
    sealed = integrity.seal(dataclasses.replace(report, workloads=tuple(workloads)))
    body = json_format.to_dict(dataclasses.replace(sealed, integrity=None))
    assert sealed.integrity is not None
    assert sealed.integrity.digest == "sha256:" + hashlib.sha256(_stdlib(body)).hexdigest()
    # orjson writes these floats differently ("1e-5", "1e16"): the fast path was not taken.
    assert b'"ratio":1e-05' in _stdlib(body)
    assert orjson.dumps(body, option=orjson.OPT_SORT_KEYS) != _stdlib(body)


@pytest.mark.parametrize(("evidence", "exact"), [
    ({"pods": ("a", "b"), "counts": {"sha256:1": 2}, "ok": True, "none": None}, True),
    (types.MappingProxyType({"a": [1]}), True),      # copied into a dict: exact after all
    ({1: "an int key"}, True),                        # its key written as text in the copy
    ({"ratio": 0.5}, False),                          # orjson writes floats its own way
    ({"kind": Kind.POD}, False),                      # a str subclass: left to json
    ({"n": [Number.ONE]}, False),                     # an int subclass
])
def test_exact_dict_tells_which_bodies_orjson_writes_exactly(
        evidence: Any, exact: bool) -> None:
    import dataclasses

    report = next(r for r in (helpers.report_for(helpers.load(p))
                              for p in helpers.fixture_files())
                  if any(w.findings for w in r.workloads))
    i, w = next((i, w) for i, w in enumerate(report.workloads) if w.findings)
    workloads = list(report.workloads)
    workloads[i] = dataclasses.replace(
        w, findings=(dataclasses.replace(w.findings[0], evidence=evidence), *w.findings[1:]))
    odd = dataclasses.replace(report, workloads=tuple(workloads), integrity=None)
    body, found = json_format.exact_dict(odd)
    assert found is exact
    assert body == json_format.to_dict(odd)
    assert integrity._orjson_exact(body) is exact
    assert integrity.canonical(body) == _stdlib(body)
