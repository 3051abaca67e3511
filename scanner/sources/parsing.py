"""Turn raw Kubernetes objects (decoded JSON/YAML) into ``model`` records.

Shared by ``dump`` and ``live``: both hand every object to a :class:`Collector`, which
keeps only the compact records and lets the raw dict go. Problems with an object are
raised as :class:`ObjectProblem` carrying a short, field-precise message; the caller
adds the file or API path and turns it into ``errors.InputError``.

Strings that repeat across thousands of pods (images, imageIDs, node names, label
keys and values) are interned so each distinct value is stored once.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from scanner import model

__all__ = [
    "IGNORE_ANNOTATION",
    "IGNORED_KINDS",
    "KINDS",
    "VOLUME_PREFIX",
    "ROLLOUT_GROUP",
    "WORKLOAD_KINDS",
    "Collector",
    "ObjectProblem",
    "image_volumes",
    "is_custom_resource",
]

IGNORE_ANNOTATION = model.IGNORE_ANNOTATION
VOLUME_PREFIX = "volume:"
"""Image volumes are listed beside containers under this prefix and the volume's name."""

KINDS = (
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "PodTemplate",
    "Rollout",
    "Service",
    "Node",
    "ControllerRevision",
)
"""Kinds driftscan reads (``Rollout``: Argo Rollouts, ``argoproj.io``)."""

WORKLOAD_KINDS = frozenset({
    "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController",
    "PodTemplate", "Rollout",
})
"""Kinds whose pod template :func:`parse_workload` reads."""
ROLLOUT_GROUP = "argoproj.io"
"""API group of Argo Rollouts' ``Rollout``; other groups' ``Rollout`` kinds are not read."""

IGNORED_KINDS = frozenset(
    {
        "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "EndpointSlice",
        "Event", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "IngressClass",
        "NetworkPolicy", "PersistentVolumeClaim", "PersistentVolume", "StorageClass",
        "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "LimitRange",
        "ResourceQuota", "PriorityClass", "Lease", "CustomResourceDefinition",
        "CSIDriver", "CSINode", "VolumeAttachment",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
        "RuntimeClass", "ComponentStatus", "CertificateSigningRequest", "FlowSchema",
        "PriorityLevelConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)
"""Built-in kinds that may sit in a dump and carry nothing driftscan needs (never read)."""

_TEMPLATE_HASH = "pod-template-hash"
_REVISION_HASH = "controller-revision-hash"
_DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
_HOST_VARIABLE = re.compile(r"_(ADDR|ADDRESS|HOST|HOSTNAME|URL|URI|ENDPOINT|SERVER|SERVICE)$")
_URL_HOST = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/\s]*@)?([A-Za-z0-9.-]+)")
_HOST_PORT = re.compile(r"(?<![\w./-])([a-z0-9][a-z0-9.-]*[a-z0-9]):\d{1,5}\b")
_SVC_NAME = re.compile(r"\b([a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*\.svc(?:\.[a-z0-9.-]+)?)\b")
_BARE_HOST = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_TEMPLATE_OWNERS = frozenset({"ReplicaSet", "StatefulSet", "DaemonSet", "Job"})
# The revision annotation is an int64 in decimal; str.isdigit() also accepts "²" and
# other Unicode digits, and int() refuses more than 4,300 digits.
_REVISION_NUMBER = re.compile(r"[0-9]{1,18}")
_intern = sys.intern


class ObjectProblem(ValueError):
    """An object lacks a field driftscan needs, or a field has the wrong type."""


def is_custom_resource(api_version: str) -> bool:
    """True for objects of an API group outside Kubernetes' own (``*.k8s.io`` aside)."""
    group = api_version.rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


class Collector:
    """Accumulates records by identity; a later copy of the same object replaces it."""

    def __init__(self) -> None:
        self.workloads: dict[tuple[str, str, str], model.Workload] = {}
        self.revisions: dict[tuple[str, str, str], model.Revision] = {}
        self.pods: dict[tuple[str, str], model.PodRecord] = {}
        self.services: dict[tuple[str, str], model.ServiceRecord] = {}
        self.nodes: dict[str, model.NodeRecord] = {}

    def add(self, kind: str, obj: Mapping[str, Any]) -> None:
        """Parse one object of a kind listed in :data:`KINDS` and keep its record.

        Raises:
            ObjectProblem: the object lacks a required field or has a malformed one.
        """
        if kind == "Pod":
            pod = parse_pod(obj)
            self.pods[(pod.namespace, pod.name)] = pod
        elif kind in WORKLOAD_KINDS:
            spec = obj.get("spec")
            if (kind == "Rollout" and isinstance(spec, dict) and spec.get("template") is None
                    and isinstance(spec.get("workloadRef"), dict)):
                return  # the template lives in the Deployment it references
            w = parse_workload(kind, obj)
            self.workloads[(w.kind, w.namespace, w.name)] = w
        elif kind == "ReplicaSet":
            owner = _controller(_meta(obj))
            if owner is None:
                w = parse_workload(kind, obj)
                self.workloads[(w.kind, w.namespace, w.name)] = w
            else:
                r = parse_replicaset(obj, owner)
                self.revisions[(r.kind, r.namespace, r.name)] = r
        elif kind == "ControllerRevision":
            r = parse_controller_revision(obj)
            self.revisions[(r.kind, r.namespace, r.name)] = r
        elif kind == "Service":
            s = parse_service(obj)
            self.services[(s.namespace, s.name)] = s
        elif kind == "Node":
            n = parse_node(obj)
            self.nodes[n.name] = n
        else:
            raise ObjectProblem(f"kind {kind!r} is not one driftscan reads")

    def merge(self, other: Collector) -> None:
        """Take every record of ``other`` (used to join parallel listings)."""
        self.workloads.update(other.workloads)
        self.revisions.update(other.revisions)
        self.pods.update(other.pods)
        self.services.update(other.services)
        self.nodes.update(other.nodes)

    def namespaces(self) -> frozenset[str]:
        """The namespaces of every namespaced object collected so far."""
        found = {w.namespace for w in self.workloads.values()}
        found.update(r.namespace for r in self.revisions.values())
        found.update(p.namespace for p in self.pods.values())
        found.update(s.namespace for s in self.services.values())
        return frozenset(found)

    def snapshot(
        self, source: model.SourceInfo, collected_at: str, gaps: Iterable[model.Gap] = ()
    ) -> model.Snapshot:
        """Freeze the collected records into a snapshot, sorted for stable output."""
        return model.Snapshot(
            source=source,
            collected_at=collected_at,
            workloads=tuple(self.workloads[k] for k in sorted(self.workloads)),
            revisions=tuple(self.revisions[k] for k in sorted(self.revisions)),
            pods=tuple(self.pods[k] for k in sorted(self.pods)),
            services=tuple(self.services[k] for k in sorted(self.services)),
            nodes=tuple(self.nodes[k] for k in sorted(self.nodes)),
            gaps=tuple(gaps),
        )


# --- typed access to raw dicts -----------------------------------------------------------


def _map(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Any:
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


def _list(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> list[Any]:
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


def _str(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
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


def _int(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ObjectProblem(f"{path} is not an integer")
    return value


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = _map(obj, "metadata", "metadata", required=True)
    return meta


def _name(meta: Mapping[str, Any]) -> str:
    return _str(meta, "name", "metadata.name", required=True)


def _namespace(meta: Mapping[str, Any]) -> str:
    return _intern(_str(meta, "namespace", "metadata.namespace", required=True))


def _labels(meta: Mapping[str, Any], key: str = "labels") -> model.Labels:
    raw = _map(meta, key, f"metadata.{key}")
    if not raw:
        return _NO_LABELS
    try:
        return _label_set(tuple(raw.items()))
    except TypeError:  # a value that is a list or mapping: unhashable, never cached
        return _label_set.__wrapped__(tuple(raw.items()))


_NO_LABELS: model.Labels = frozenset()


@functools.lru_cache(maxsize=8192)
def _label_set(items: tuple[tuple[Any, Any], ...]) -> model.Labels:
    """One frozen, interned label set per distinct set: the pods of a revision share it."""
    return frozenset((_intern(str(k)), _intern(str(v))) for k, v in items)


def _controller(meta: Mapping[str, Any]) -> model.OwnerRef | None:
    refs = _list(meta, "ownerReferences", "metadata.ownerReferences")
    chosen: Mapping[str, Any] | None = None
    for ref in refs:
        if not isinstance(ref, dict):
            raise ObjectProblem("metadata.ownerReferences[] is not an object")
        if ref.get("controller") is True:
            chosen = ref
            break
    if chosen is None:
        return None
    return model.OwnerRef(
        kind=_intern(_str(chosen, "kind", "ownerReferences[].kind", required=True)),
        name=_intern(_str(chosen, "name", "ownerReferences[].name", required=True)),
        uid=_str(chosen, "uid", "ownerReferences[].uid"),
    )


def _ignored(meta: Mapping[str, Any]) -> frozenset[str]:
    annotations = _map(meta, "annotations", "metadata.annotations")
    raw = annotations.get(IGNORE_ANNOTATION)
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _conditions(status: Mapping[str, Any]) -> tuple[model.Condition, ...]:
    result = []
    for c in _list(status, "conditions", "status.conditions"):
        if not isinstance(c, dict):
            raise ObjectProblem("status.conditions[] is not an object")
        result.append(
            model.Condition(
                type=_str(c, "type", "status.conditions[].type"),
                status=_str(c, "status", "status.conditions[].status"),
                reason=_str(c, "reason", "status.conditions[].reason"),
                message=_str(c, "message", "status.conditions[].message"),
            )
        )
    return tuple(result)


def _is_ready(status: Mapping[str, Any]) -> bool:
    for c in _list(status, "conditions", "status.conditions"):
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _hosts_of(container: Mapping[str, Any]) -> tuple[str, ...]:
    hosts: set[str] = set()
    texts: list[str] = []
    for env in _seq(container.get("env")):
        if not isinstance(env, dict):
            continue
        value = env.get("value")
        if not isinstance(value, str) or not value:
            continue
        texts.append(value)
        name = env.get("name")
        if isinstance(name, str) and _HOST_VARIABLE.search(name.upper()):
            bare = value.strip().lower()
            if _BARE_HOST.match(bare):
                hosts.add(bare)
    for key in ("command", "args"):
        for arg in _seq(container.get(key)):
            if isinstance(arg, str):
                texts.append(arg)
    for text in texts:
        lowered = text.lower()
        hosts.update(m.group(1).lower() for m in _URL_HOST.finditer(text))
        hosts.update(m.group(1) for m in _HOST_PORT.finditer(lowered))
        hosts.update(m.group(1) for m in _SVC_NAME.finditer(lowered))
    return tuple(sorted(_intern(h) for h in hosts))


def _seq(value: Any) -> list[Any]:
    """``value`` when it is a list, else nothing: hosts are a hint, never a reason to fail."""
    return value if isinstance(value, list) else []


def _revision_number(value: Any) -> int | None:
    """The ``deployment.kubernetes.io/revision`` annotation as a number, None if it is not one."""
    if isinstance(value, str) and _REVISION_NUMBER.fullmatch(value):
        return int(value)
    return None


def _template_containers(
    pod_spec: Mapping[str, Any], path: str, *, with_hosts: bool
) -> tuple[model.ContainerSpec, ...]:
    result: list[model.ContainerSpec] = []
    for key, role in (
        ("initContainers", model.ContainerRole.INIT),
        ("containers", model.ContainerRole.MAIN),
        ("ephemeralContainers", model.ContainerRole.EPHEMERAL),
    ):
        for c in _list(pod_spec, key, f"{path}.{key}", required=key == "containers"):
            if not isinstance(c, dict):
                raise ObjectProblem(f"{path}.{key}[] is not an object")
            name = _str(c, "name", f"{path}.{key}[].name", required=True)
            result.append(
                model.ContainerSpec(
                    name=_intern(name),
                    role=_role(role, c),
                    image=_intern(_str(c, "image", f"{path}.{key}[{name}].image")),
                    pull_policy=_intern(_str(c, "imagePullPolicy", "imagePullPolicy")),
                    hosts=_hosts_of(c) if with_hosts else (),
                )
            )
    for name, reference, policy in image_volumes(pod_spec, path):
        result.append(model.ContainerSpec(name=_intern(name), role=model.ContainerRole.VOLUME,
                                          image=_intern(reference), pull_policy=policy))
    return tuple(result)


def image_volumes(pod_spec: Mapping[str, Any], path: str = "spec",
                  ) -> list[tuple[str, str, str]]:
    """``(name, reference, pullPolicy)`` of each image volume (``volumes[].image``).

    The name is ``volume:<volume name>``: container names are DNS labels, so it never
    collides with one.
    """
    result = []
    for v in _list(pod_spec, "volumes", f"{path}.volumes"):
        if not isinstance(v, dict) or not isinstance(v.get("image"), dict):
            continue
        source = v["image"]
        name = _str(v, "name", f"{path}.volumes[].name", required=True)
        reference = _str(source, "reference", f"{path}.volumes[{name}].image.reference")
        policy = _str(source, "pullPolicy", f"{path}.volumes[{name}].image.pullPolicy")
        if reference:
            result.append((f"{VOLUME_PREFIX}{name}", reference, policy))
    return result


def _role(role: model.ContainerRole, container: Mapping[str, Any]) -> model.ContainerRole:
    if role is model.ContainerRole.INIT and container.get("restartPolicy") == "Always":
        return model.ContainerRole.SIDECAR
    return role


def _pod_template_spec(spec: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    template = _map(spec, "template", f"{path}.template", required=True)
    pod_spec: Mapping[str, Any] = _map(
        template, "spec", f"{path}.template.spec", required=True
    )
    return pod_spec


# --- kinds --------------------------------------------------------------------------------


_STATUS_LISTS = (
    ("initContainerStatuses", model.ContainerRole.INIT),
    ("containerStatuses", model.ContainerRole.MAIN),
    ("ephemeralContainerStatuses", model.ContainerRole.EPHEMERAL),
)


def parse_pod(obj: Mapping[str, Any]) -> model.PodRecord:
    """Parse a Pod."""
    meta = _meta(obj)
    name = _name(meta)
    namespace = _namespace(meta)
    spec = _map(obj, "spec", "spec", required=True)
    status = _map(obj, "status", "status")
    statuses: dict[tuple[bool, str], Mapping[str, Any]] = {}
    for key, role in _STATUS_LISTS:
        for s in _list(status, key, f"status.{key}"):
            if not isinstance(s, dict):
                raise ObjectProblem(f"status.{key}[] is not an object")
            statuses[(role.is_init, _str(s, "name", f"status.{key}[].name"))] = s
    owner = _controller(meta)
    # Controlled pods share their template's hosts; only pods without one keep their own.
    keep_hosts = owner is None or owner.kind not in _TEMPLATE_OWNERS
    containers: list[model.ContainerRecord] = []
    hosts: set[str] = set()
    for key, role in (
        ("initContainers", model.ContainerRole.INIT),
        ("containers", model.ContainerRole.MAIN),
        ("ephemeralContainers", model.ContainerRole.EPHEMERAL),
    ):
        for c in _list(spec, key, f"spec.{key}", required=key == "containers"):
            if not isinstance(c, dict):
                raise ObjectProblem(f"spec.{key}[] is not an object")
            cname = _str(c, "name", f"spec.{key}[].name", required=True)
            s = statuses.pop((role.is_init, cname), {})
            containers.append(_container_record(cname, _role(role, c), c, s))
            if keep_hosts:
                hosts.update(_hosts_of(c))
    for vname, reference, policy in image_volumes(spec):
        containers.append(_container_record(
            vname, model.ContainerRole.VOLUME,
            {"image": reference, "imagePullPolicy": policy}, {}))
    for (is_init, cname), s in statuses.items():
        # A status without a spec entry (hand-trimmed dumps): keep what the kubelet said.
        role = model.ContainerRole.INIT if is_init else model.ContainerRole.MAIN
        containers.append(_container_record(cname, role, {"image": s.get("image", "")}, s))
    if not containers:
        raise ObjectProblem("spec.containers is empty")
    return model.PodRecord(
        namespace=namespace,
        name=name,
        uid=_str(meta, "uid", "metadata.uid"),
        owner=owner,
        node=_intern(_str(spec, "nodeName", "spec.nodeName")),
        phase=_intern(_str(status, "phase", "status.phase")),
        created=_str(meta, "creationTimestamp", "metadata.creationTimestamp"),
        deleting=bool(meta.get("deletionTimestamp")),
        ready=_is_ready(status),
        labels=_labels(meta),
        containers=tuple(containers),
        hosts=tuple(sorted(hosts)),
        ignored_rules=_ignored(meta),
    )


def _container_record(
    name: str,
    role: model.ContainerRole,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
) -> model.ContainerRecord:
    where = f"container {name!r}"
    image_id = status.get("imageID") or ""
    if not isinstance(image_id, str):
        raise ObjectProblem(f"{where}: imageID is not a string")
    state = status.get("state")
    waiting = state.get("waiting") if isinstance(state, dict) else None
    reason = waiting.get("reason", "") if isinstance(waiting, dict) else ""
    image = spec.get("image") or ""
    if not isinstance(image, str):
        raise ObjectProblem(f"{where}: image is not a string")
    restarts = status.get("restartCount", 0)
    return model.ContainerRecord(
        name=_intern(name),
        role=role,
        image=_intern(image),
        pull_policy=_intern(str(spec.get("imagePullPolicy") or "")),
        image_id=_intern(image_id),
        waiting_reason=_intern(str(reason or "")),
        ready=status.get("ready") is True,
        restart_count=restarts if isinstance(restarts, int) else 0,
        has_status=bool(status),
    )


def parse_workload(kind: str, obj: Mapping[str, Any]) -> model.Workload:
    """Parse a workload of :data:`WORKLOAD_KINDS` or a bare ReplicaSet."""
    meta = _meta(obj)
    spec = _map(obj, "spec", "spec", required=kind != "PodTemplate")
    status = _map(obj, "status", "status")
    if kind == "CronJob":
        job_template = _map(spec, "jobTemplate", "spec.jobTemplate", required=True)
        job_spec = _map(job_template, "spec", "spec.jobTemplate.spec", required=True)
        pod_spec = _pod_template_spec(job_spec, "spec.jobTemplate.spec")
    elif kind == "PodTemplate":
        spec = {}  # a PodTemplate is a template and nothing else: no spec, no status
        pod_spec = _map(_map(obj, "template", "template", required=True), "spec",
                        "template.spec", required=True)
    else:
        pod_spec = _pod_template_spec(spec, "spec")
    strategy_key = "strategy" if kind == "Deployment" else "updateStrategy"
    strategy = _map(spec, strategy_key, f"spec.{strategy_key}")
    rolling = _map(strategy, "rollingUpdate", f"spec.{strategy_key}.rollingUpdate")
    default_strategy = {"Deployment": "RollingUpdate", "StatefulSet": "RollingUpdate",
                        "DaemonSet": "RollingUpdate"}.get(kind, "")
    annotations = _map(meta, "annotations", "metadata.annotations")
    revision = annotations.get(_DEPLOYMENT_REVISION)
    selector = _map(spec, "selector", "spec.selector")
    replicas = _int(spec, "replicas", "spec.replicas")
    if replicas is None and kind in ("Deployment", "StatefulSet", "ReplicaSet",
                                     "ReplicationController", "Rollout"):
        replicas = 1
    return model.Workload(
        kind=kind,
        namespace=_namespace(meta),
        name=_name(meta),
        uid=_str(meta, "uid", "metadata.uid"),
        owner=_controller(meta),
        containers=_template_containers(pod_spec, "spec.template.spec", with_hosts=True),
        created=_str(meta, "creationTimestamp", "metadata.creationTimestamp"),
        generation=_int(meta, "generation", "metadata.generation") or 0,
        observed_generation=_int(status, "observedGeneration", "status.observedGeneration")
        or 0,
        replicas=replicas,
        strategy=_str(strategy, "type", f"spec.{strategy_key}.type") or default_strategy,
        partition=_int(rolling, "partition", "rollingUpdate.partition") or 0,
        paused=spec.get("paused") is True,
        suspended=spec.get("suspend") is True,
        progress_deadline_seconds=_int(
            spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds"
        ),
        conditions=_conditions(status),
        revision=_revision_number(revision),
        current_revision=_str(status, "currentRevision", "status.currentRevision"),
        update_revision=_str(status, "updateRevision", "status.updateRevision"),
        updated_replicas=_int(status, "updatedReplicas", "status.updatedReplicas"),
        ready_replicas=_int(status, "readyReplicas", "status.readyReplicas"),
        available_replicas=_int(status, "availableReplicas", "status.availableReplicas"),
        desired_number_scheduled=_int(
            status, "desiredNumberScheduled", "status.desiredNumberScheduled"
        ),
        updated_number_scheduled=_int(
            status, "updatedNumberScheduled", "status.updatedNumberScheduled"
        ),
        selector=_labels(selector, "matchLabels"),
        ignored_rules=_ignored(meta),
    )


def parse_replicaset(obj: Mapping[str, Any], owner: model.OwnerRef) -> model.Revision:
    """Parse a ReplicaSet that a controller owns (a Deployment revision)."""
    meta = _meta(obj)
    spec = _map(obj, "spec", "spec", required=True)
    status = _map(obj, "status", "status")
    labels = dict(_labels(meta))
    name = _name(meta)
    annotations = _map(meta, "annotations", "metadata.annotations")
    number = annotations.get(_DEPLOYMENT_REVISION)
    return model.Revision(
        kind="ReplicaSet",
        namespace=_namespace(meta),
        name=name,
        uid=_str(meta, "uid", "metadata.uid"),
        owner=owner,
        hash=_intern(labels.get(_TEMPLATE_HASH) or name.rpartition("-")[2]),
        number=_revision_number(number),
        containers=_template_containers(
            _pod_template_spec(spec, "spec"), "spec.template.spec", with_hosts=False
        ),
        created=_str(meta, "creationTimestamp", "metadata.creationTimestamp"),
        replicas=_int(spec, "replicas", "spec.replicas"),
        ready_replicas=_int(status, "readyReplicas", "status.readyReplicas"),
        available_replicas=_int(status, "availableReplicas", "status.availableReplicas"),
    )


def parse_controller_revision(obj: Mapping[str, Any]) -> model.Revision:
    """Parse a ControllerRevision (StatefulSet and DaemonSet history)."""
    meta = _meta(obj)
    name = _name(meta)
    labels = dict(_labels(meta))
    number = _int(obj, "revision", "revision")
    data = _map(obj, "data", "data")
    containers: tuple[model.ContainerSpec, ...] = ()
    template = _map(_map(data, "spec", "data.spec"), "template", "data.spec.template")
    pod_spec = _map(template, "spec", "data.spec.template.spec")
    if pod_spec.get("containers") is not None:
        containers = _template_containers(pod_spec, "data.spec.template.spec", with_hosts=False)
    owner = _controller(meta)
    revision_hash = labels.get(_REVISION_HASH)
    if not revision_hash:
        revision_hash = name.removeprefix(f"{owner.name}-") if owner else name
    return model.Revision(
        kind="ControllerRevision",
        namespace=_namespace(meta),
        name=name,
        uid=_str(meta, "uid", "metadata.uid"),
        owner=owner,
        hash=_intern(revision_hash),
        number=number,
        containers=containers,
        created=_str(meta, "creationTimestamp", "metadata.creationTimestamp"),
    )


def parse_service(obj: Mapping[str, Any]) -> model.ServiceRecord:
    """Parse a Service."""
    meta = _meta(obj)
    spec = _map(obj, "spec", "spec")
    selector = _map(spec, "selector", "spec.selector")
    return model.ServiceRecord(
        namespace=_namespace(meta),
        name=_name(meta),
        selector=frozenset((_intern(str(k)), _intern(str(v))) for k, v in selector.items()),
        type=_str(spec, "type", "spec.type") or "ClusterIP",
        cluster_ip=_str(spec, "clusterIP", "spec.clusterIP"),
    )


def parse_node(obj: Mapping[str, Any]) -> model.NodeRecord:
    """Parse a Node."""
    meta = _meta(obj)
    spec = _map(obj, "spec", "spec")
    status = _map(obj, "status", "status")
    info = _map(status, "nodeInfo", "status.nodeInfo")
    return model.NodeRecord(
        name=_intern(_name(meta)),
        container_runtime=_str(info, "containerRuntimeVersion", "containerRuntimeVersion"),
        architecture=_str(info, "architecture", "status.nodeInfo.architecture"),
        ready=any(c.type == "Ready" and c.status == "True" for c in _conditions(status)),
        unschedulable=spec.get("unschedulable") is True,
    )
