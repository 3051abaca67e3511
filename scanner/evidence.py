"""What each rule family saw, as typed records that serialize to the report's JSON.

A detector fills one of these classes; scoring and the scenario expectations read its
fields (through :meth:`Evidence.traffic`, :meth:`Evidence.upstream`,
:meth:`Evidence.revision_count`) instead of picking dict keys, so a
renamed field is a type error rather than a silently changed score. :meth:`to_json`
writes the ``evidence`` object of report schema v1 (field names are the JSON keys, in
declaration order); :func:`from_json` reads it back from a saved report, and keeps what
it cannot type (a newer rule, a hand-edited file) as :class:`Untyped`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from scanner import initializers

__all__ = [
    "JSONValue",
    "DigestDrift",
    "Evidence",
    "LatentDrift",
    "OnDeleteUpdate",
    "OverlappingRollout",
    "PartitionedUpdate",
    "PausedRollout",
    "RevisionDigests",
    "RevisionHolding",
    "ServiceTraffic",
    "StalledRollout",
    "TagUse",
    "Untyped",
    "UnverifiableImageID",
    "VersionMix",
    "from_json",
]

JSONValue: TypeAlias = (
    str | int | float | bool | None | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
)
"""A value that ``json.dumps`` writes as is."""


class Evidence:
    """Base of every evidence record: JSON writing and the questions callers ask."""

    RULES: ClassVar[tuple[str, ...]] = ()
    """The rule ids whose findings carry this record."""

    def traffic(self) -> tuple[ServiceTraffic, ...]:
        """Services selecting the workload and how they split ready traffic (if recorded)."""
        return ()

    def upstream(self) -> tuple[str, ...]:
        """Upstream workloads that call this one (if the rule records them)."""
        return ()

    def revision_count(self) -> int | None:
        """How many revisions the finding names, or ``None`` when it names none."""
        return None

    def to_json(self) -> dict[str, JSONValue]:
        """The ``evidence`` object of the JSON report."""
        if not dataclasses.is_dataclass(self):
            return {}
        return {name: v if type(v := getattr(self, name)) in _LEAVES else _plain(v)
                for name in _field_names(type(self))}


@initializers.fast_init
@dataclass(frozen=True)
class ServiceTraffic:
    """One Service selecting the workload: its ready endpoints per build."""

    service: str
    ready_pods_by_digest: Mapping[str, int]

    @property
    def split(self) -> bool:
        """Whether ready traffic reaches more than one build."""
        return len(self.ready_pods_by_digest) > 1


@dataclass(frozen=True)
class DigestDrift(Evidence):
    """``digest-drift``: one revision, several builds of one container."""

    RULES: ClassVar[tuple[str, ...]] = ("digest-drift",)
    revision: str
    revision_hash: str
    spec_images: tuple[str, ...]
    pods_by_digest: Mapping[str, tuple[str, ...]]
    nodes_by_digest: Mapping[str, tuple[str, ...]]
    services: tuple[ServiceTraffic, ...] = ()
    callers: tuple[str, ...] = ()

    def traffic(self) -> tuple[ServiceTraffic, ...]:
        """The Services recorded with the finding."""
        return self.services

    def upstream(self) -> tuple[str, ...]:
        """The callers recorded with the finding."""
        return self.callers

    def revision_count(self) -> int | None:
        """One: the drifted revision."""
        return 1


@dataclass(frozen=True)
class UnverifiableImageID(Evidence):
    """``unverifiable-image-id``: imageIDs that are not registry digests."""

    RULES: ClassVar[tuple[str, ...]] = ("unverifiable-image-id",)
    image_ids_by_pod: Mapping[str, str]
    kinds: tuple[str, ...]
    runtimes: tuple[str, ...]


@initializers.fast_init
@dataclass(frozen=True)
class RevisionDigests:
    """One revision's live pods of a container, per build."""

    revision: str
    number: int | None
    pods_by_digest: Mapping[str, int]


@dataclass(frozen=True)
class VersionMix(Evidence):
    """``rollout-version-mix``: live revisions running different builds of a container."""

    RULES: ClassVar[tuple[str, ...]] = ("rollout-version-mix",)
    revisions: tuple[RevisionDigests, ...]
    newest_revision: str | None
    services: tuple[ServiceTraffic, ...] = ()
    callers: tuple[str, ...] = ()

    def traffic(self) -> tuple[ServiceTraffic, ...]:
        """The Services recorded with the finding."""
        return self.services

    def upstream(self) -> tuple[str, ...]:
        """The callers recorded with the finding."""
        return self.callers

    def revision_count(self) -> int | None:
        """The revisions holding live pods."""
        return len(self.revisions)


@initializers.fast_init
@dataclass(frozen=True)
class RevisionHolding:
    """A revision that still holds live pods during a rollout."""

    revision: str
    number: int | None
    live_pods: int
    desired_replicas: int | None


@dataclass(frozen=True)
class OverlappingRollout(Evidence):
    """``overlapping-rollout``: more than two revisions hold pods, or a rollout overtook one."""

    RULES: ClassVar[tuple[str, ...]] = ("overlapping-rollout",)
    revisions: tuple[RevisionHolding, ...]
    newest_revision: str | None

    def revision_count(self) -> int | None:
        """The revisions holding live pods."""
        return len(self.revisions)


@dataclass(frozen=True)
class StalledRollout(Evidence):
    """``stalled-rollout``: pods stuck pulling while older ones serve, or a deadline passed."""

    RULES: ClassVar[tuple[str, ...]] = ("stalled-rollout",)
    stuck_pods_by_reason: Mapping[str, tuple[str, ...]]
    stuck_images: tuple[str, ...]
    serving_pods: int
    progress_deadline_exceeded: bool
    condition_message: str | None


@dataclass(frozen=True)
class PausedRollout(Evidence):
    """``paused-rollout``: a paused rollout with mixed builds or a lagging template."""

    RULES: ClassVar[tuple[str, ...]] = ("paused-rollout",)
    mixed_containers: tuple[str, ...]
    pending_template_changes: tuple[str, ...]


@dataclass(frozen=True)
class PartitionedUpdate(Evidence):
    """``partitioned-update``: a StatefulSet partition holds pods on old revisions."""

    RULES: ClassVar[tuple[str, ...]] = ("partitioned-update",)
    partition: int
    replicas: int | None
    current_revision: str | None
    update_revision: str | None
    pods_behind: Mapping[str, tuple[str, ...]]
    digests_by_revision: Mapping[str, tuple[str, ...]]

    def revision_count(self) -> int | None:
        """The revisions whose pods run known builds."""
        return len(self.digests_by_revision)


@dataclass(frozen=True)
class OnDeleteUpdate(Evidence):
    """``ondelete-update``: an ``OnDelete`` workload whose pods wait to be replaced."""

    RULES: ClassVar[tuple[str, ...]] = ("ondelete-update",)
    update_revision: str | None
    current_revision: str | None
    pods_behind: Mapping[str, tuple[str, ...]]
    digests_by_revision: Mapping[str, tuple[str, ...]]
    desired_number_scheduled: int | None
    updated_number_scheduled: int | None

    def revision_count(self) -> int | None:
        """The revisions whose pods run known builds."""
        return len(self.digests_by_revision)


@initializers.fast_init
@dataclass(frozen=True)
class TagUse(Evidence):
    """The tag rules: how the spec names the image and what live pods run."""

    RULES: ClassVar[tuple[str, ...]] = ("floating-tag", "mutable-tag", "pull-policy-divergence")
    image: str
    init: bool
    pull_policy: str
    running_digests: Mapping[str, int]
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class LatentDrift(Evidence):
    """``latent-drift``: the tag now names a build no pod runs."""

    RULES: ClassVar[tuple[str, ...]] = ("latent-drift",)
    image: str
    tag: str
    registry_digest: str
    registry_digest_is_index: bool
    running_digests: Mapping[str, int]
    pods_by_digest: Mapping[str, tuple[str, ...]]
    pull_policy: str


@dataclass(frozen=True)
class Untyped(Evidence):
    """Evidence read from a report that no class here describes; kept as written."""

    data: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        """The object as it was read."""
        return dict(self.data)


_BY_RULE: dict[str, type[Evidence]] = {
    rule: cls
    for cls in (DigestDrift, UnverifiableImageID, VersionMix, OverlappingRollout,
                StalledRollout, PausedRollout, PartitionedUpdate, OnDeleteUpdate, TagUse,
                LatentDrift)
    for rule in cls.RULES
}


def from_json(rule: str, data: Mapping[str, Any]) -> Evidence:
    """The typed record for ``rule``'s evidence object, or :class:`Untyped` if it does not fit.

    Args:
        rule: The finding's rule id.
        data: The ``evidence`` object of a JSON report.
    """
    cls = _BY_RULE.get(rule)
    if cls is None:
        return Untyped(dict(data))
    try:
        return typing.cast(Evidence, _read(cls, data))
    except (TypeError, ValueError, KeyError):
        return Untyped(dict(data))


_LEAVES = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, in order (asked once per class, not per value)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> JSONValue:
    kind = type(value)
    if kind in _LEAVES:  # most values: names and counts (never dataclasses)
        return typing.cast(JSONValue, value)
    # Pod lists and per-digest maps first, their leaves copied without a call each.
    if kind is tuple or kind is list:
        return [v if type(v) in _LEAVES else _plain(v) for v in value]
    if kind is dict:
        return {k if type(k) is str else str(k): v if type(v) in _LEAVES else _plain(v)
                for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: v if type(v := getattr(value, name)) in _LEAVES else _plain(v)
                for name in _field_names(type(value))}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return typing.cast(JSONValue, value)


def _read(tp: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as an instance of the annotation ``tp``; raise if it is not."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _read(arg, value)
                except (TypeError, ValueError, KeyError):
                    continue
        raise ValueError(f"{value!r} fits none of {args}")
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(_read(args[0], v) for v in value)
    if origin is Mapping:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return {str(k): _read(args[1], v) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {tp.__name__}")
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _read(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value or f.default is
                     dataclasses.MISSING and f.default_factory is dataclasses.MISSING})
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError("expected a boolean")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an integer")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return value
    raise TypeError(f"cannot read {tp!r}")
