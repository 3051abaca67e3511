"""Typed access to the fields of raw Kubernetes objects (decoded JSON/YAML dicts).

Each helper reads one field and returns it with the type driftscan needs, or raises
:class:`ObjectProblem` naming the field (``missing metadata.name``, ``spec.replicas is
not an integer``): the message is built only when there is a problem, so reading the
usual, well-formed object costs one dict lookup and one type check per field.
``parsing`` turns objects into records with them.

Strings that repeat across thousands of pods (namespaces, label keys and values, owner
names) are interned so each distinct value is stored once.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

from scanner import model

__all__ = [
    "ObjectProblem",
    "conditions_of",
    "controller_of",
    "ignored_rules",
    "integer",
    "is_ready",
    "labels_of",
    "mapping",
    "metadata",
    "name_of",
    "namespace_of",
    "sequence",
    "string",
]

IGNORE_ANNOTATION = model.IGNORE_ANNOTATION
_intern = sys.intern


class ObjectProblem(ValueError):
    """An object lacks a field driftscan needs, or a field has the wrong type."""


def mapping(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Any:
    """``obj[key]`` as a dict (``{}`` when absent); ``path`` names the field in problems."""
    value = obj.get(key)
    if type(value) is dict:  # the common case first: one call per field of every object
        return value
    if value is None:
        if required:
            raise ObjectProblem(f"missing {path}")
        return {}
    if not isinstance(value, dict):
        raise ObjectProblem(f"{path} is not an object")
    return value


def sequence(obj: Mapping[str, Any], key: str, path: str, *,
             required: bool = False) -> list[Any]:
    """``obj[key]`` as a list (``[]`` when absent)."""
    value = obj.get(key)
    if type(value) is list:
        return value
    if value is None:
        if required:
            raise ObjectProblem(f"missing {path}")
        return []
    if not isinstance(value, list):
        raise ObjectProblem(f"{path} is not a list")
    return value


def string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    """``obj[key]`` as a string (``""`` when absent; empty counts as missing)."""
    value = obj.get(key)
    if type(value) is str and value:
        return value
    if value is None or value == "":
        if required:
            raise ObjectProblem(f"missing {path}")
        return ""
    if not isinstance(value, str):
        raise ObjectProblem(f"{path} is not a string")
    return value


def integer(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    """``obj[key]`` as an integer (booleans refused), None when absent."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ObjectProblem(f"{path} is not an integer")
    return value


def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's ``metadata`` (required)."""
    meta: Mapping[str, Any] = mapping(obj, "metadata", "metadata", required=True)
    return meta


def name_of(meta: Mapping[str, Any]) -> str:
    """``metadata.name`` (required)."""
    return string(meta, "name", "metadata.name", required=True)


def namespace_of(meta: Mapping[str, Any]) -> str:
    """``metadata.namespace`` (required), interned."""
    return _intern(string(meta, "namespace", "metadata.namespace", required=True))


def labels_of(meta: Mapping[str, Any], key: str = "labels") -> model.Labels:
    """The label set under ``key`` (``labels``, or a selector's ``matchLabels``)."""
    raw = meta.get(key)
    if type(raw) is not dict:
        raw = mapping(meta, key, f"metadata.{key}")
    if not raw:
        return _NO_LABELS
    items = tuple(raw.items())
    if all(type(k) is str and type(v) is str for k, v in items):
        return _label_set(items)
    # Not cached: the cache would take True for 1 (equal keys) and return the other's text.
    return _label_set.__wrapped__(items)


_NO_LABELS: model.Labels = frozenset()


@functools.lru_cache(maxsize=8192)
def _label_set(items: tuple[tuple[Any, Any], ...]) -> model.Labels:
    """One frozen, interned label set per distinct set: the pods of a revision share it."""
    return frozenset((_intern(str(k)), _intern(str(v))) for k, v in items)


def controller_of(meta: Mapping[str, Any]) -> model.OwnerRef | None:
    """The owner reference marked ``controller: true``, if any."""
    refs = meta.get("ownerReferences")
    if type(refs) is not list:
        refs = sequence(meta, "ownerReferences", "metadata.ownerReferences")
    chosen: Mapping[str, Any] | None = None
    for ref in refs:
        if not isinstance(ref, dict):
            raise ObjectProblem("metadata.ownerReferences[] is not an object")
        if ref.get("controller") is True:
            chosen = ref
            break
    if chosen is None:
        return None
    kind, name, uid = chosen.get("kind"), chosen.get("name"), chosen.get("uid")
    if type(kind) is str and kind and type(name) is str and name and type(uid) is str:
        return _owner(kind, name, uid)
    return model.OwnerRef(
        kind=_intern(string(chosen, "kind", "ownerReferences[].kind", required=True)),
        name=_intern(string(chosen, "name", "ownerReferences[].name", required=True)),
        uid=string(chosen, "uid", "ownerReferences[].uid"),
    )


@functools.lru_cache(maxsize=8192)
def _owner(kind: str, name: str, uid: str) -> model.OwnerRef:
    """One record per owner: the pods of a ReplicaSet share their controller's."""
    return model.OwnerRef(kind=_intern(kind), name=_intern(name), uid=uid)


def ignored_rules(meta: Mapping[str, Any]) -> frozenset[str]:
    """Rule ids listed in the object's ignore annotation."""
    annotations = mapping(meta, "annotations", "metadata.annotations")
    raw = annotations.get(IGNORE_ANNOTATION)
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


_TEXT = frozenset({str, type(None)})


def conditions_of(status: Mapping[str, Any]) -> tuple[model.Condition, ...]:
    """``status.conditions``."""
    result = []
    for c in sequence(status, "conditions", "status.conditions"):
        if not isinstance(c, dict):
            raise ObjectProblem("status.conditions[] is not an object")
        kind, state, reason, message = (
            c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
        if (type(kind) in _TEXT and type(state) in _TEXT and type(reason) in _TEXT
                and type(message) in _TEXT):  # the usual condition: what string() returns
            result.append(model.Condition(kind or "", state or "", reason or "", message or ""))
            continue
        result.append(
            model.Condition(
                type=string(c, "type", "status.conditions[].type"),
                status=string(c, "status", "status.conditions[].status"),
                reason=string(c, "reason", "status.conditions[].reason"),
                message=string(c, "message", "status.conditions[].message"),
            )
        )
    return tuple(result)


def is_ready(status: Mapping[str, Any]) -> bool:
    """Whether the ``Ready`` condition is ``True``."""
    found = status.get("conditions")
    for c in found if type(found) is list else sequence(status, "conditions",
                                                        "status.conditions"):
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False
