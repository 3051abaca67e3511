"""The snapshot of a cluster that every later stage reads: plain, frozen, typed records.

``sources`` build a :class:`Snapshot` from the apiserver or from ``kubectl -o json``
dumps; nothing after ``sources`` sees a raw Kubernetes dict. Records keep only what
detection, scoring and reporting need (the pod's containers with their spec image and
``imageID``, owner references, revision labels, rollout status), so ten thousand pods
fit in a few tens of megabytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from scanner import initializers

__all__ = [
    "IGNORE_ANNOTATION",
    "PULL_FAILURE_REASONS",
    "ROLLOUT_KINDS",
    "Condition",
    "ContainerRecord",
    "ContainerRole",
    "ContainerSpec",
    "Gap",
    "InputFile",
    "NodeRecord",
    "OwnerRef",
    "PodRecord",
    "Provenance",
    "RegistryIndex",
    "RegistryTag",
    "Revision",
    "ServiceRecord",
    "Snapshot",
    "SourceInfo",
    "UserInfo",
    "Workload",
    "WorkloadRef",
]

Labels = frozenset[tuple[str, str]]

ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
"""Controllers that roll pods from one revision to the next (``kubectl rollout`` works)."""

PULL_FAILURE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
     "RegistryUnavailable", "SignatureValidationFailed"}
)
"""``state.waiting.reason`` values the kubelet sets when it cannot pull an image."""

IGNORE_ANNOTATION = "driftscan.io/ignore"
"""Workload (or bare pod) annotation listing rule ids to skip, comma-separated; ``*`` = all."""


class ContainerRole(enum.Enum):
    """Where a container sits in the pod spec."""

    MAIN = "main"
    INIT = "init"
    SIDECAR = "sidecar"
    """An init container with ``restartPolicy: Always`` (a native sidecar)."""
    EPHEMERAL = "ephemeral"
    VOLUME = "volume"
    """An image volume (``volumes[].image.reference``): an image no container runs."""

    @property
    def is_init(self) -> bool:
        """True for containers listed under ``initContainers`` (sidecars included)."""
        return self is _INIT or self is _SIDECAR  # identity: asked for every container


_INIT, _SIDECAR = ContainerRole.INIT, ContainerRole.SIDECAR


@initializers.fast_init
@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """Identity of a workload: its top controller, or the pod itself for bare pods."""

    kind: str
    namespace: str
    name: str
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Refs key most of the graph's and the report's maps: hashed once, not per lookup
        # (the generated __hash__ built a tuple each time: 150,000 times for 10,000 pods).
        object.__setattr__(self, "_hash", hash((self.kind, self.namespace, self.name)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[WorkloadRef], tuple[str, str, str]]:
        # A copy made elsewhere (another process: another string hash seed) hashes anew.
        return (WorkloadRef, (self.kind, self.namespace, self.name))

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The controlling ``ownerReference`` of an object (same namespace)."""

    kind: str
    name: str
    uid: str = ""


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class Condition:
    """One ``status.conditions[]`` entry."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """A container of a pod template (Deployment, ReplicaSet, ControllerRevision …)."""

    name: str
    role: ContainerRole
    image: str
    pull_policy: str
    """``imagePullPolicy`` as stored (the apiserver defaults it); "" when absent."""
    hosts: tuple[str, ...] = ()
    """Host names named by literal env values and args (for service "calls" edges)."""


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """One container of a running pod: its spec image joined with its status."""

    name: str
    role: ContainerRole
    image: str
    """``spec.containers[].image`` as written."""
    pull_policy: str
    image_id: str
    """``status.*ContainerStatuses[].imageID`` verbatim; "" when not reported."""
    waiting_reason: str = ""
    """``state.waiting.reason`` such as ``ErrImagePull`` or ``ImagePullBackOff``."""
    ready: bool = False
    restart_count: int = 0
    has_status: bool = False
    """False when the pod reports no status for this container."""


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class PodRecord:
    """A pod with what drift detection needs."""

    namespace: str
    name: str
    uid: str
    owner: OwnerRef | None
    node: str
    """``spec.nodeName``; "" while unscheduled."""
    phase: str
    created: str
    """``metadata.creationTimestamp`` (RFC 3339, sorts chronologically)."""
    deleting: bool
    ready: bool
    labels: Labels
    containers: tuple[ContainerRecord, ...]
    hosts: tuple[str, ...] = ()
    ignored_rules: frozenset[str] = frozenset()

    @property
    def live(self) -> bool:
        """True for pods that run or will run: not finished and not being deleted."""
        return not self.deleting and self.phase not in ("Succeeded", "Failed")

    def label(self, key: str) -> str | None:
        """The value of one label, or None."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class Workload:
    """A controller object: Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet.

    ReplicaSets appear here only when they have no controlling owner (a bare ReplicaSet);
    ReplicaSets owned by a Deployment are :class:`Revision` records.
    """

    kind: str
    namespace: str
    name: str
    uid: str
    owner: OwnerRef | None
    containers: tuple[ContainerSpec, ...]
    created: str = ""
    generation: int = 0
    observed_generation: int = 0
    replicas: int | None = None
    """``spec.replicas`` (desired pods); None for DaemonSets and CronJobs."""
    strategy: str = ""
    """``RollingUpdate``, ``Recreate`` or ``OnDelete``; "" where not applicable."""
    partition: int = 0
    """StatefulSet ``rollingUpdate.partition``."""
    paused: bool = False
    suspended: bool = False
    progress_deadline_seconds: int | None = None
    conditions: tuple[Condition, ...] = ()
    revision: int | None = None
    """Deployment ``deployment.kubernetes.io/revision`` annotation."""
    current_revision: str = ""
    """StatefulSet ``status.currentRevision``."""
    update_revision: str = ""
    """StatefulSet ``status.updateRevision``."""
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    desired_number_scheduled: int | None = None
    updated_number_scheduled: int | None = None
    selector: Labels = frozenset()
    """``spec.selector.matchLabels`` (for owner-less pods of a bare ReplicaSet)."""
    ignored_rules: frozenset[str] = frozenset()

    @property
    def ref(self) -> WorkloadRef:
        """This workload's identity."""
        return WorkloadRef(self.kind, self.namespace, self.name)

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, or None."""
        for c in self.conditions:
            if c.type == type_:
                return c
        return None


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class Revision:
    """A ReplicaSet owned by a controller, or a ControllerRevision."""

    kind: str
    """``ReplicaSet`` or ``ControllerRevision``."""
    namespace: str
    name: str
    uid: str
    owner: OwnerRef | None
    hash: str
    """``pod-template-hash`` or ``controller-revision-hash``; pods carry it as a label."""
    number: int | None
    """Deployment revision annotation, or ``ControllerRevision.revision``."""
    containers: tuple[ContainerSpec, ...]
    created: str = ""
    replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A Service and its pod selector."""

    namespace: str
    name: str
    selector: Labels
    type: str = "ClusterIP"
    cluster_ip: str = ""


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node and the container runtime that reports its pods' ``imageID``."""

    name: str
    container_runtime: str = ""
    """``status.nodeInfo.containerRuntimeVersion`` such as ``containerd://1.7.13``."""
    architecture: str = ""
    ready: bool = False
    unschedulable: bool = False


@dataclass(frozen=True, slots=True)
class Gap:
    """Something the scan could not see, so the report must not look complete."""

    kind: str
    namespace: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RegistryTag:
    """What a registry said a tag names when the scan asked it (``--registry-check``)."""

    registry: str
    repository: str
    tag: str
    digest: str
    """``sha256:…`` of the manifest the tag names now (HEAD, ``Docker-Content-Digest``)."""
    index: bool = False
    """True when that manifest is a multi-arch index (OCI index, Docker manifest list)."""


@dataclass(frozen=True, slots=True)
class RegistryIndex:
    """A multi-arch index in a registry and the platform manifests it lists."""

    registry: str
    repository: str
    digest: str
    manifests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where a snapshot came from."""

    type: str
    """``live`` or ``dump``."""
    context: str | None = None
    files: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    """Namespaces asked for; empty with ``all_namespaces``."""
    all_namespaces: bool = False
    server: str | None = None
    """The apiserver URL of a live scan (the context's ``cluster.server``)."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file a snapshot was read from, and the sha256 of its exact bytes."""

    path: str
    """As given on the command line; ``-`` for stdin."""
    sha256: str
    """Hex digest of the bytes read."""
    size: int
    """Bytes read."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Who the apiserver says the scan ran as (``SelfSubjectReview.status.userInfo``)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Provenance:
    """Facts an auditor needs about where a snapshot came from, collected by the source.

    A fact the source could not learn is None, with the reason in ``unavailable`` (keyed
    ``cluster_id``, ``server_version``, ``identity``); never a guess.
    """

    server: str | None = None
    """API server URL from the kubeconfig (live scans)."""
    cluster_id: str | None = None
    """``metadata.uid`` of the ``kube-system`` namespace: stable for a cluster's lifetime."""
    server_version: str | None = None
    """``gitVersion`` from the apiserver's ``/version``."""
    user: UserInfo | None = None
    unavailable: tuple[tuple[str, str], ...] = ()
    """(fact, reason) for every fact above that a live scan could not learn."""
    kinds_requested: tuple[str, ...] = ()
    kinds_read: tuple[str, ...] = ()
    """Kinds listed without a gap in any namespace asked for."""
    namespaces_requested: tuple[str, ...] = ()
    """Namespaces asked for; empty with ``all_namespaces``."""
    namespaces_read: tuple[str, ...] = ()
    """Namespaces every namespaced kind was listed in without a gap (``*``: cluster-wide)."""
    first_resource_version: str | None = None
    """``metadata.resourceVersion`` of the first LIST that answered."""
    last_resource_version: str | None = None
    """``metadata.resourceVersion`` of the last LIST that answered."""
    list_started_at: str | None = None
    list_finished_at: str | None = None
    inputs: tuple[InputFile, ...] = ()
    """Dump or manifest files read (``--from``, ``manifests``)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one scan saw."""

    source: SourceInfo
    collected_at: str
    workloads: tuple[Workload, ...] = ()
    revisions: tuple[Revision, ...] = ()
    pods: tuple[PodRecord, ...] = ()
    services: tuple[ServiceRecord, ...] = ()
    nodes: tuple[NodeRecord, ...] = ()
    gaps: tuple[Gap, ...] = field(default=())
    registry_tags: tuple[RegistryTag, ...] = ()
    """Tags resolved against their registries (empty unless ``--registry-check``)."""
    registry_indexes: tuple[RegistryIndex, ...] = ()
    """Indexes read to compare platform manifests with index digests (registry check)."""
    provenance: Provenance = field(default_factory=Provenance)
    """Cluster identity, scan identity, LIST window, input files: what the source learnt."""
