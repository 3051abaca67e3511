"""Turn raw Kubernetes objects (decoded JSON/YAML) into ``model`` records.

Shared by ``dump`` and ``live``: both hand every object to a :class:`Collector`, which
keeps only the compact records and lets the raw dict go. Problems with an object are
raised as :class:`ObjectProblem` (from :mod:`scanner.sources.fields`, which reads each
field with its type) carrying a short, field-precise message; the caller adds the file
or API path and turns it into ``errors.InputError``.

Strings that repeat across thousands of pods (images, imageIDs, node names, label
keys and values) are interned so each distinct value is stored once.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from scanner import model
from scanner.sources import fields

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

ObjectProblem = fields.ObjectProblem
"""Raised for an object that lacks a field driftscan needs (see :mod:`fields`)."""


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
            owner = fields.controller_of(fields.metadata(obj))
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


# Per container list: its key, role, and the field paths problems name (built once).
_CONTAINER_LISTS = tuple(
    (key, role, f".{key}", f".{key}[]", key == "containers")
    for key, role in (("initContainers", model.ContainerRole.INIT),
                      ("containers", model.ContainerRole.MAIN),
                      ("ephemeralContainers", model.ContainerRole.EPHEMERAL))
)


def _containers(pod_spec: Mapping[str, Any], path: str, key: str, where: str,
                required: bool) -> list[Any]:
    """The ``key`` list of ``pod_spec`` (``[]`` when absent); callers try a list first."""
    found = pod_spec.get(key)
    if type(found) is list:
        return found
    if found is None and not required:
        return []
    return fields.sequence(pod_spec, key, path + where, required=required)


def _template_containers(
    pod_spec: Mapping[str, Any], path: str, *, with_hosts: bool
) -> tuple[model.ContainerSpec, ...]:
    result: list[model.ContainerSpec] = []
    for key, role, where, item, required in _CONTAINER_LISTS:
        found = pod_spec.get(key)  # most templates have no init or ephemeral containers
        if found is None and not required:
            continue
        for c in found if type(found) is list else _containers(pod_spec, path, key, where,
                                                                required):
            if not isinstance(c, dict):
                raise ObjectProblem(f"{path}{item} is not an object")
            name = c.get("name")
            if type(name) is not str or not name:
                name = fields.string(c, "name", f"{path}{item}.name", required=True)
            image = c.get("image")
            if type(image) is not str:
                image = fields.string(c, "image", f"{path}{where}[{name}].image")
            policy = c.get("imagePullPolicy")
            if type(policy) is not str:
                policy = fields.string(c, "imagePullPolicy", "imagePullPolicy")
            result.append(
                model.ContainerSpec(
                    name=_intern(name),
                    role=_role(role, c),
                    image=_intern(image),
                    pull_policy=_intern(policy),
                    hosts=_hosts_of(c) if with_hosts else (),
                )
            )
    if "volumes" in pod_spec:
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
    for v in fields.sequence(pod_spec, "volumes", f"{path}.volumes"):
        if not isinstance(v, dict) or not isinstance(v.get("image"), dict):
            continue
        source = v["image"]
        name = fields.string(v, "name", f"{path}.volumes[].name", required=True)
        reference = fields.string(source, "reference", f"{path}.volumes[{name}].image.reference")
        policy = fields.string(source, "pullPolicy", f"{path}.volumes[{name}].image.pullPolicy")
        if reference:
            result.append((f"{VOLUME_PREFIX}{name}", reference, policy))
    return result


def _role(role: model.ContainerRole, container: Mapping[str, Any]) -> model.ContainerRole:
    if role is model.ContainerRole.INIT and container.get("restartPolicy") == "Always":
        return model.ContainerRole.SIDECAR
    return role


def _pod_template_spec(spec: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    template = fields.mapping(spec, "template", f"{path}.template", required=True)
    pod_spec: Mapping[str, Any] = fields.mapping(
        template, "spec", f"{path}.template.spec", required=True
    )
    return pod_spec


# --- kinds --------------------------------------------------------------------------------


_STATUS_LISTS = tuple(
    (key, role.is_init, f"status.{key}", f"status.{key}[]")
    for key, role in (("initContainerStatuses", model.ContainerRole.INIT),
                      ("containerStatuses", model.ContainerRole.MAIN),
                      ("ephemeralContainerStatuses", model.ContainerRole.EPHEMERAL))
)
_NO_STATUS: Mapping[str, Any] = {}


def parse_pod(obj: Mapping[str, Any]) -> model.PodRecord:
    """Parse a Pod."""
    meta = fields.metadata(obj)
    name = fields.name_of(meta)
    namespace = fields.namespace_of(meta)
    spec = fields.mapping(obj, "spec", "spec", required=True)
    status = fields.mapping(obj, "status", "status")
    statuses: dict[tuple[bool, str], Mapping[str, Any]] = {}
    for key, is_init, path, item in _STATUS_LISTS:
        found = status.get(key)
        if found is None:
            continue
        for s in found if type(found) is list else fields.sequence(status, key, path):
            if not isinstance(s, dict):
                raise ObjectProblem(f"{item} is not an object")
            statuses[(is_init, fields.string(s, "name", f"{item}.name"))] = s
    owner = fields.controller_of(meta)
    # Controlled pods share their template's hosts; only pods without one keep their own.
    keep_hosts = owner is None or owner.kind not in _TEMPLATE_OWNERS
    containers: list[model.ContainerRecord] = []
    hosts: set[str] = set()
    for key, role, where, item, required in _CONTAINER_LISTS:
        found = spec.get(key)
        if found is None and not required:
            continue
        for c in found if type(found) is list else _containers(spec, "spec", key, where,
                                                                required):
            if not isinstance(c, dict):
                raise ObjectProblem(f"spec{item} is not an object")
            cname = c.get("name")
            if type(cname) is not str or not cname:
                cname = fields.string(c, "name", f"spec{item}.name", required=True)
            s = statuses.pop((role.is_init, cname), _NO_STATUS) if statuses else _NO_STATUS
            containers.append(_container_record(cname, _role(role, c), c, s))
            if keep_hosts:
                hosts.update(_hosts_of(c))
    if "volumes" in spec:
        for vname, reference, policy in image_volumes(spec):
            containers.append(_container_record(
                vname, model.ContainerRole.VOLUME,
                {"image": reference, "imagePullPolicy": policy}, _NO_STATUS))
    for (is_init, cname), s in statuses.items():
        # A status without a spec entry (hand-trimmed dumps): keep what the kubelet said.
        role = model.ContainerRole.INIT if is_init else model.ContainerRole.MAIN
        containers.append(_container_record(cname, role, {"image": s.get("image", "")}, s))
    if not containers:
        raise ObjectProblem("spec.containers is empty")
    return model.PodRecord(
        namespace=namespace,
        name=name,
        uid=fields.string(meta, "uid", "metadata.uid"),
        owner=owner,
        node=_intern(fields.string(spec, "nodeName", "spec.nodeName")),
        phase=_intern(fields.string(status, "phase", "status.phase")),
        created=fields.string(meta, "creationTimestamp", "metadata.creationTimestamp"),
        deleting=bool(meta.get("deletionTimestamp")),
        ready=fields.is_ready(status),
        labels=fields.labels_of(meta),
        containers=tuple(containers),
        hosts=tuple(sorted(hosts)) if hosts else (),
        ignored_rules=fields.ignored_rules(meta),
    )


def _container_record(
    name: str,
    role: model.ContainerRole,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
) -> model.ContainerRecord:
    image_id = status.get("imageID") or ""
    if not isinstance(image_id, str):
        raise ObjectProblem(f"container {name!r}: imageID is not a string")
    state = status.get("state")
    waiting = state.get("waiting") if isinstance(state, dict) else None
    reason = waiting.get("reason", "") if isinstance(waiting, dict) else ""
    image = spec.get("image") or ""
    if not isinstance(image, str):
        raise ObjectProblem(f"container {name!r}: image is not a string")
    policy = spec.get("imagePullPolicy") or ""
    restarts = status.get("restartCount", 0)
    return model.ContainerRecord(
        name=_intern(name),
        role=role,
        image=_intern(image),
        pull_policy=_intern(policy if type(policy) is str else str(policy)),
        image_id=_intern(image_id),
        waiting_reason=_intern(reason if type(reason) is str else str(reason or "")),
        ready=status.get("ready") is True,
        restart_count=restarts if isinstance(restarts, int) else 0,
        has_status=bool(status),
    )


def parse_workload(kind: str, obj: Mapping[str, Any]) -> model.Workload:
    """Parse a workload of :data:`WORKLOAD_KINDS` or a bare ReplicaSet."""
    meta = fields.metadata(obj)
    spec = fields.mapping(obj, "spec", "spec", required=kind != "PodTemplate")
    status = fields.mapping(obj, "status", "status")
    if kind == "CronJob":
        job_template = fields.mapping(spec, "jobTemplate", "spec.jobTemplate", required=True)
        job_spec = fields.mapping(job_template, "spec", "spec.jobTemplate.spec", required=True)
        pod_spec = _pod_template_spec(job_spec, "spec.jobTemplate.spec")
    elif kind == "PodTemplate":
        spec = {}  # a PodTemplate is a template and nothing else: no spec, no status
        template = fields.mapping(obj, "template", "template", required=True)
        pod_spec = fields.mapping(template, "spec", "template.spec", required=True)
    else:
        pod_spec = _pod_template_spec(spec, "spec")
    strategy_key = "strategy" if kind == "Deployment" else "updateStrategy"
    strategy = fields.mapping(spec, strategy_key, f"spec.{strategy_key}")
    rolling = fields.mapping(strategy, "rollingUpdate", f"spec.{strategy_key}.rollingUpdate")
    default_strategy = {"Deployment": "RollingUpdate", "StatefulSet": "RollingUpdate",
                        "DaemonSet": "RollingUpdate"}.get(kind, "")
    annotations = fields.mapping(meta, "annotations", "metadata.annotations")
    revision = annotations.get(_DEPLOYMENT_REVISION)
    selector = fields.mapping(spec, "selector", "spec.selector")
    replicas = fields.integer(spec, "replicas", "spec.replicas")
    if replicas is None and kind in ("Deployment", "StatefulSet", "ReplicaSet",
                                     "ReplicationController", "Rollout"):
        replicas = 1
    return model.Workload(
        kind=kind,
        namespace=fields.namespace_of(meta),
        name=fields.name_of(meta),
        uid=fields.string(meta, "uid", "metadata.uid"),
        owner=fields.controller_of(meta),
        containers=_template_containers(pod_spec, "spec.template.spec", with_hosts=True),
        created=fields.string(meta, "creationTimestamp", "metadata.creationTimestamp"),
        generation=fields.integer(meta, "generation", "metadata.generation") or 0,
        observed_generation=fields.integer(status, "observedGeneration",
                                           "status.observedGeneration") or 0,
        replicas=replicas,
        strategy=fields.string(strategy, "type", f"spec.{strategy_key}.type") or default_strategy,
        partition=fields.integer(rolling, "partition", "rollingUpdate.partition") or 0,
        paused=spec.get("paused") is True,
        suspended=spec.get("suspend") is True,
        progress_deadline_seconds=fields.integer(
            spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds"
        ),
        conditions=fields.conditions_of(status),
        revision=_revision_number(revision),
        current_revision=fields.string(status, "currentRevision", "status.currentRevision"),
        update_revision=fields.string(status, "updateRevision", "status.updateRevision"),
        updated_replicas=fields.integer(status, "updatedReplicas", "status.updatedReplicas"),
        ready_replicas=fields.integer(status, "readyReplicas", "status.readyReplicas"),
        available_replicas=fields.integer(status, "availableReplicas", "status.availableReplicas"),
        desired_number_scheduled=fields.integer(
            status, "desiredNumberScheduled", "status.desiredNumberScheduled"
        ),
        updated_number_scheduled=fields.integer(
            status, "updatedNumberScheduled", "status.updatedNumberScheduled"
        ),
        selector=fields.labels_of(selector, "matchLabels"),
        ignored_rules=fields.ignored_rules(meta),
    )


def parse_replicaset(obj: Mapping[str, Any], owner: model.OwnerRef) -> model.Revision:
    """Parse a ReplicaSet that a controller owns (a Deployment revision)."""
    meta = fields.metadata(obj)
    spec = fields.mapping(obj, "spec", "spec", required=True)
    status = fields.mapping(obj, "status", "status")
    # Only the hash label is needed: read it as labels_of would, without the whole set.
    labels = fields.mapping(meta, "labels", "metadata.labels")
    hash_label = str(labels[_TEMPLATE_HASH]) if _TEMPLATE_HASH in labels else ""
    name = fields.name_of(meta)
    annotations = fields.mapping(meta, "annotations", "metadata.annotations")
    number = annotations.get(_DEPLOYMENT_REVISION)
    return model.Revision(
        kind="ReplicaSet",
        namespace=fields.namespace_of(meta),
        name=name,
        uid=fields.string(meta, "uid", "metadata.uid"),
        owner=owner,
        hash=_intern(hash_label or name.rpartition("-")[2]),
        number=_revision_number(number),
        containers=_template_containers(
            _pod_template_spec(spec, "spec"), "spec.template.spec", with_hosts=False
        ),
        created=fields.string(meta, "creationTimestamp", "metadata.creationTimestamp"),
        replicas=fields.integer(spec, "replicas", "spec.replicas"),
        ready_replicas=fields.integer(status, "readyReplicas", "status.readyReplicas"),
        available_replicas=fields.integer(status, "availableReplicas", "status.availableReplicas"),
    )


def parse_controller_revision(obj: Mapping[str, Any]) -> model.Revision:
    """Parse a ControllerRevision (StatefulSet and DaemonSet history)."""
    meta = fields.metadata(obj)
    name = fields.name_of(meta)
    labels = dict(fields.labels_of(meta))
    number = fields.integer(obj, "revision", "revision")
    data = fields.mapping(obj, "data", "data")
    containers: tuple[model.ContainerSpec, ...] = ()
    template = fields.mapping(fields.mapping(data, "spec", "data.spec"), "template",
                              "data.spec.template")
    pod_spec = fields.mapping(template, "spec", "data.spec.template.spec")
    if pod_spec.get("containers") is not None:
        containers = _template_containers(pod_spec, "data.spec.template.spec", with_hosts=False)
    owner = fields.controller_of(meta)
    revision_hash = labels.get(_REVISION_HASH)
    if not revision_hash:
        revision_hash = name.removeprefix(f"{owner.name}-") if owner else name
    return model.Revision(
        kind="ControllerRevision",
        namespace=fields.namespace_of(meta),
        name=name,
        uid=fields.string(meta, "uid", "metadata.uid"),
        owner=owner,
        hash=_intern(revision_hash),
        number=number,
        containers=containers,
        created=fields.string(meta, "creationTimestamp", "metadata.creationTimestamp"),
    )


def parse_service(obj: Mapping[str, Any]) -> model.ServiceRecord:
    """Parse a Service."""
    meta = fields.metadata(obj)
    spec = fields.mapping(obj, "spec", "spec")
    selector = fields.mapping(spec, "selector", "spec.selector")
    return model.ServiceRecord(
        namespace=fields.namespace_of(meta),
        name=fields.name_of(meta),
        selector=frozenset((_intern(str(k)), _intern(str(v))) for k, v in selector.items()),
        type=fields.string(spec, "type", "spec.type") or "ClusterIP",
        cluster_ip=fields.string(spec, "clusterIP", "spec.clusterIP"),
    )


def parse_node(obj: Mapping[str, Any]) -> model.NodeRecord:
    """Parse a Node."""
    meta = fields.metadata(obj)
    spec = fields.mapping(obj, "spec", "spec")
    status = fields.mapping(obj, "status", "status")
    info = fields.mapping(status, "nodeInfo", "status.nodeInfo")
    return model.NodeRecord(
        name=_intern(fields.name_of(meta)),
        container_runtime=fields.string(info, "containerRuntimeVersion", "containerRuntimeVersion"),
        architecture=fields.string(info, "architecture", "status.nodeInfo.architecture"),
        ready=any(c.type == "Ready" and c.status == "True" for c in fields.conditions_of(status)),
        unschedulable=spec.get("unschedulable") is True,
    )
