"""Provenance facts of a live scan: the cluster's id and version, who the scan ran as.

``live.load`` calls :func:`learn` once per scan with a request function bound to its
connection; the answers become ``model.Provenance`` facts in the snapshot. Three
requests, all harmless:

* ``GET /version`` — the apiserver's ``gitVersion`` (already fetched as the reachability
  probe, so its body is passed in);
* ``GET /api/v1/namespaces/kube-system`` — its ``metadata.uid`` is the cluster id: it is
  created with the cluster and kept for its life, unlike a kubeconfig context name;
* ``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` — the one non-GET request a
  scan makes: it creates nothing (the apiserver only answers who the caller is).

A refusal or an old apiserver is not fatal: the fact stays None and the reason is kept,
so the report says why it is missing instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner import model

__all__ = ["Answer", "Facts", "Request", "learn", "namespaces_read", "version_of"]

KUBE_SYSTEM = "/api/v1/namespaces/kube-system"
REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@dataclass(frozen=True)
class Answer:
    """An apiserver response: status code and raw body."""

    status: int
    body: bytes


Request = Callable[[str, str, "Mapping[str, Any] | None"], Answer]
"""``(method, path, json_body) -> Answer``; raises only for transport failures."""


@dataclass(frozen=True)
class Facts:
    """What the three requests taught."""

    cluster_id: str | None
    server_version: str | None
    user: model.UserInfo | None
    unavailable: tuple[tuple[str, str], ...]


def version_of(body: bytes) -> str | None:
    """``gitVersion`` of a ``/version`` body, or None when it is not one."""
    data = _json(body)
    value = data.get("gitVersion") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) and value else None


def learn(request: Request, version: Answer) -> Facts:
    """Ask for the cluster id and the scan's identity; read the version from ``version``.

    Args:
        request: sends one request on the scan's connection.
        version: the ``GET /version`` answer the scan already has.
    """
    unavailable: list[tuple[str, str]] = []
    server_version = version_of(version.body) if version.status == 200 else None
    if server_version is None:
        unavailable.append(("server_version", _why(version, "GET /version")))
    namespace = request("GET", KUBE_SYSTEM, None)
    cluster_id = _uid(namespace)
    if cluster_id is None:
        unavailable.append(("cluster_id", _why(namespace, "GET namespace kube-system")))
    review = request("POST", REVIEWS, REVIEW)
    user = _user(review)
    if user is None:
        unavailable.append(("identity", _why(review, "create SelfSubjectReview")))
    return Facts(cluster_id, server_version, user, tuple(unavailable))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _uid(answer: Answer) -> str | None:
    if answer.status != 200:
        return None
    data = _json(answer.body)
    meta = data.get("metadata") if isinstance(data, Mapping) else None
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    return uid if isinstance(uid, str) and uid else None


def _user(answer: Answer) -> model.UserInfo | None:
    if answer.status not in (200, 201):
        return None
    data = _json(answer.body)
    status = data.get("status") if isinstance(data, Mapping) else None
    info = status.get("userInfo") if isinstance(status, Mapping) else None
    if not isinstance(info, Mapping) or not isinstance(info.get("username"), str):
        return None
    groups = info.get("groups")
    return model.UserInfo(
        username=info["username"],
        uid=str(info.get("uid") or ""),
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
    )


def _why(answer: Answer, what: str) -> str:
    data = _json(answer.body)
    message = ""
    if isinstance(data, Mapping):
        message = str(data.get("message") or data.get("reason") or "")
    if answer.status == 403:
        return f"forbidden: {what} ({message})" if message else f"forbidden: {what}"
    if answer.status == 404:
        return f"not served by this apiserver: {what}"
    if answer.status in (200, 201):
        return f"{what}: the answer did not hold the expected field"
    return f"{what}: apiserver answered {answer.status}" + (f" ({message})" if message else "")


def namespaces_read(source: model.SourceInfo, gaps: Sequence[model.Gap],
                    fallback: str) -> tuple[str, ...]:
    """Namespaces no namespaced LIST left a gap in; ``*`` when every cluster-wide LIST worked.

    A forbidden cluster-wide LIST falls back to the context's namespace (``fallback``).
    """
    namespaced = [g for g in gaps if g.kind != "Node"]
    if source.all_namespaces:
        if not any(g.namespace is None for g in namespaced):
            return ("*",)
        return () if any(g.namespace == fallback for g in namespaced) else (fallback,)
    return tuple(ns for ns in source.namespaces if not any(g.namespace == ns for g in namespaced))
