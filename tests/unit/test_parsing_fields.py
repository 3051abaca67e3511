"""Fields read on the fast path give what the careful helpers of ``fields`` give.

Parsing reads the usual field with one lookup and one type check and hands anything else
to ``fields``, which words the problem: these cases pin both paths to the same answers.
"""

from __future__ import annotations

from typing import Any

import pytest

from scanner import model
from scanner.sources import fields, parsing

TEMPLATE = {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}


def replicaset(labels: Any = None, **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "web-5d9f8c7b6", "namespace": "shop",
        "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "u1",
                             "controller": True}], **meta}
    if labels is not None:
        metadata["labels"] = labels
    return {"kind": "ReplicaSet", "metadata": metadata, "spec": TEMPLATE}


def revision_hash(obj: dict[str, Any]) -> str:
    collector = parsing.Collector()
    collector.add("ReplicaSet", obj)
    [revision] = collector.revisions.values()
    return revision.hash


@pytest.mark.parametrize(("labels", "expected"), [
    ({"pod-template-hash": "abc", "app": "web"}, "abc"),
    ({"app": "web"}, "5d9f8c7b6"),                 # no hash label: the name's suffix
    (None, "5d9f8c7b6"),                           # no labels at all
    ({"pod-template-hash": ""}, "5d9f8c7b6"),      # an empty label counts as none
    ({"pod-template-hash": 123}, "123"),           # as text, like every label value
    ({"pod-template-hash": None}, "None"),         # str(None), as the label set has it
])
def test_a_replicaset_hash_comes_from_its_label_or_its_name(labels: Any, expected: str) -> None:
    assert revision_hash(replicaset(labels)) == expected


def test_labels_that_are_not_an_object_are_a_problem() -> None:
    with pytest.raises(parsing.ObjectProblem, match="metadata.labels is not an object"):
        revision_hash(replicaset(["pod-template-hash=abc"]))


@pytest.mark.parametrize(("condition", "expected"), [
    ({"type": "Ready", "status": "True"}, model.Condition("Ready", "True", "", "")),
    ({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
      "message": "too slow"},
     model.Condition("Progressing", "False", "ProgressDeadlineExceeded", "too slow")),
    ({"type": None, "status": "", "reason": None}, model.Condition("", "", "", "")),
    ({}, model.Condition("", "", "", "")),
])
def test_conditions_read_on_the_fast_path(condition: dict[str, Any],
                                          expected: model.Condition) -> None:
    assert fields.conditions_of({"conditions": [condition]}) == (expected,)


@pytest.mark.parametrize(("condition", "problem"), [
    ({"type": 5, "status": "True"}, "status.conditions[].type is not a string"),
    ({"type": "Ready", "status": True}, "status.conditions[].status is not a string"),
    ({"type": "Ready", "reason": ["x"]}, "status.conditions[].reason is not a string"),
    ({"type": "Ready", "message": {"a": 1}}, "status.conditions[].message is not a string"),
])
def test_a_condition_field_of_another_type_is_named(condition: dict[str, Any],
                                                    problem: str) -> None:
    with pytest.raises(parsing.ObjectProblem, match=problem.replace("[", r"\[").replace(
            "]", r"\]")):
        fields.conditions_of({"conditions": [condition]})


@pytest.mark.parametrize(("key", "value"), [
    ("initContainers", None), ("ephemeralContainers", None), ("initContainers", []),
])
def test_absent_or_empty_container_lists_are_skipped(key: str, value: Any) -> None:
    spec = {"containers": [{"name": "app", "image": "app:1"}], key: value}
    collector = parsing.Collector()
    collector.add("Deployment", {"metadata": {"name": "web", "namespace": "shop"},
                                 "spec": {"template": {"spec": spec}}})
    [workload] = collector.workloads.values()
    assert [c.name for c in workload.containers] == ["app"]


def test_a_container_list_of_another_type_is_named() -> None:
    collector = parsing.Collector()
    with pytest.raises(parsing.ObjectProblem,
                       match="spec.template.spec.initContainers is not a list"):
        collector.add("Deployment", {"metadata": {"name": "web", "namespace": "shop"},
                                     "spec": {"template": {"spec": {
                                         "containers": [{"name": "app", "image": "a:1"}],
                                         "initContainers": {"name": "x"}}}}})


def test_label_values_of_other_types_keep_their_own_text() -> None:
    # 1 == True == 1.0 as keys of a cache: each set must still be written as its own text.
    assert fields.labels_of({"labels": {"tier": 1}}) == {("tier", "1")}
    assert fields.labels_of({"labels": {"tier": True}}) == {("tier", "True")}
    assert fields.labels_of({"labels": {"tier": 1.0}}) == {("tier", "1.0")}
    assert fields.labels_of({"labels": {"tier": ["a"]}}) == {("tier", "['a']")}
    assert fields.labels_of({"labels": {"tier": "1"}}) == {("tier", "1")}
