"""Kubernetes manifests' documents → workloads, with the exact position of every image.

:class:`Reader` reads the YAML (JSON included) documents of one file through
:mod:`scanner.decoding`, the project's one safe loader, and keeps the composed nodes: each
workload kind with a pod template becomes a :class:`ManifestObject` whose
:class:`ImageField` entries hold the line, column and character span of each image
scalar, so findings point at the right line and ``pin`` can rewrite that scalar and
nothing else. What cannot be read becomes an :class:`Unreadable` entry saying what to do
(render Helm templates first, ``kustomize build`` patch files, fix the duplicate key…);
objects of other kinds that carry a pod template become :class:`Skipped`.

``manifests`` finds and reads the files and hands each one's text to a :class:`Reader`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.nodes

from scanner import decoding, images, model
from scanner.sources import parsing

__all__ = ["ImageField", "ManifestObject", "Reader", "Skipped", "Unreadable"]

_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"

_POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "Pod": ("spec",),
}
_OTHER_TEMPLATE_PATHS = (("spec", "template", "spec"),
                         ("spec", "jobTemplate", "spec", "template", "spec"))
_HELM_HINT = "render the chart first: `helm template CHART | driftscan manifests -`"
_KUSTOMIZE_HINT = "check the build instead: `kustomize build DIR | driftscan manifests -`"
_CONTAINER_LISTS = (
    ("initContainers", model.ContainerRole.INIT),
    ("containers", model.ContainerRole.MAIN),
    ("ephemeralContainers", model.ContainerRole.EPHEMERAL),
)



@dataclass(frozen=True)
class ImageField:
    """One container's ``image`` scalar: its value and exactly where it is written."""

    container: str
    role: model.ContainerRole
    image: str
    pull_policy: str
    """``imagePullPolicy`` as written; "" when absent."""
    path: str
    """Field path inside the object, e.g. ``spec.template.spec.containers[0].image``."""
    line: int
    """1-based line of the scalar."""
    column: int
    """1-based column of the scalar's first character (its quote, if quoted)."""
    end_line: int
    """1-based line where the scalar ends (``line`` unless it wraps)."""
    end_column: int
    """1-based column just past the scalar's last character."""
    start: int
    """Character offset of the scalar in the file's text (quotes included)."""
    end: int
    """Character offset just past the scalar."""
    style: str
    """"" (plain), ``'``, ``"``, ``|`` or ``>``."""
    ref: images.ImageRef


@dataclass(frozen=True)
class ManifestObject:
    """A workload found in a manifest, with its position and its images."""

    file: str
    document: int
    """1-based document number inside the file."""
    line: int
    """1-based line where the object starts."""
    kind: str
    api_version: str
    namespace: str
    """``metadata.namespace`` as written; "" when the manifest leaves it to kubectl."""
    name: str
    images: tuple[ImageField, ...]
    data: Mapping[str, Any] = field(repr=False)
    """The object as plain data (safe types only)."""

    @property
    def label(self) -> str:
        """``Kind/name`` with the namespace when the manifest names one."""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    @property
    def where(self) -> str:
        """``file:line``."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Unreadable:
    """A file, document or object that could not be read, and what to do about it."""

    file: str
    line: int | None
    """1-based; None when the problem is the whole file (not UTF-8, too large…)."""
    reason: str
    hint: str

    @property
    def where(self) -> str:
        """``file:line`` (``file`` when the line is unknown)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def text(self) -> str:
        """One line: where, why, and what to do."""
        return f"{self.where}: {self.reason} ({self.hint})"


@dataclass(frozen=True)
class Skipped:
    """An object of a kind driftscan does not know that carries a pod template."""

    file: str
    line: int
    kind: str
    api_version: str
    name: str

    @property
    def label(self) -> str:
        """``Kind/name (apiVersion)``."""
        return f"{self.kind}/{self.name} ({self.api_version or 'no apiVersion'})"



class Reader:
    """Reads one file's documents into workloads, collecting its problems and skips."""

    def __init__(self, name: str, path: Path | None, text: str) -> None:
        self.name = name
        self.path = path
        self.text = text
        self.problems: list[Unreadable] = []
        self.skipped: list[Skipped] = []

    # -- problems, each with what to do about it

    def problem(self, line: int | None, reason: str, hint: str = "fix the manifest") -> None:
        """Record a problem at ``line`` with what to do about it."""
        self.problems.append(Unreadable(self.name, line, reason, hint))

    def refused(self, p: decoding.Problem, text: str) -> None:
        """The decoder gave up on ``text`` (the file, or one document of it)."""
        template = _template_line(text)
        syntax = isinstance(p, decoding.Unparsable) or "not a scalar" in p.message
        if syntax and template is not None:
            self.problem(template, "a Helm/Go template leftover ({{ … }}): not YAML until"
                         f" it is rendered ({p.message} at line {p.line})", self._helm_hint())
        elif isinstance(p, decoding.Unparsable):
            self.problem(p.line, p.message, "fix the YAML syntax at that line (kubectl cannot"
                         " read it either), or leave the file out if it is not a manifest")
        elif p.message.startswith("duplicate key"):
            self.problem(p.line, p.message, "keep one of them: kubectl apply refuses"
                         " duplicate fields")
        elif p.message.startswith("YAML tag"):
            self.problem(p.line, p.message, "drop the tag: kubectl reads plain data only")
        else:
            self.problem(p.line, p.message, "fix the manifest")

    def _helm_hint(self) -> str:
        """How to render: naming the chart when the file sits in one (``Chart.yaml``)."""
        if self.path is not None:
            for folder in list(self.path.parents)[:4]:
                if (folder / "Chart.yaml").is_file():
                    return (f"render the chart first: `helm template {folder} | driftscan"
                            " manifests -`")
        return _HELM_HINT

    def _object_problem(self, line: int, data: Mapping[str, Any], reason: str) -> None:
        """A workload that lacks a field: name a kustomize patch or template as such."""
        if _has_patch_directive(data):
            self.problem(line, f"{reason}: a kustomize patch ($patch), not a whole object",
                         _KUSTOMIZE_HINT)
        elif self.path is not None and _in_kustomization(self.path):
            self.problem(line, f"{reason}: the folder is a kustomization, so this is"
                         " probably a patch", _KUSTOMIZE_HINT)
        else:
            self.problem(line, reason)

    # -- reading

    def objects(self, text: str, first: int = 1) -> Iterator[ManifestObject]:
        """The workloads of ``text`` (the file, or one document of it numbered ``first``)."""
        for number, (doc, data) in enumerate(decoding.yaml_documents(text), start=first):
            line = doc.start_mark.line + 1
            if data is None:
                continue
            if not isinstance(data, dict):
                self.problem(line, f"document {number} is not an object (a mapping with"
                             " apiVersion and kind)")
                continue
            if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"),
                                                                          list):
                items = _child(doc, "items")
                item_nodes = items.value if isinstance(items, yaml.nodes.SequenceNode) else []
                for item_node, item in zip(item_nodes, data["items"], strict=False):
                    found = self._object(number, item_node, item)
                    if found is not None:
                        yield found
                continue
            found = self._object(number, doc, data)
            if found is not None:
                yield found

    def _object(self, number: int, node: yaml.nodes.Node, data: Any) -> ManifestObject | None:
        line = node.start_mark.line + 1
        if not isinstance(data, dict):
            self.problem(line, "list item is not an object")
            return None
        kind = data.get("kind")
        if kind is not None and not isinstance(kind, str):
            self.problem(line, "kind is not a string")
            return None
        api_version = str(data.get("apiVersion", ""))
        if kind not in _POD_SPEC_PATHS or (
                kind == "Rollout" and not api_version.startswith(parsing.ROLLOUT_GROUP + "/")):
            self._maybe_skipped(line, data)
            return None
        meta = data.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            self._object_problem(line, data, f"{kind} has no metadata.name")
            return None
        label = f"{kind} {meta['name']}"
        namespace = meta.get("namespace") or ""
        if not isinstance(namespace, str):
            self.problem(line, f"{label}: metadata.namespace is not a string")
            return None
        if "$patch" in data:
            self._object_problem(line, data, label)
            return None
        if kind == "Rollout" and _child(_child(node, "spec"), "template") is None \
                and isinstance((data.get("spec") or {}).get("workloadRef"), dict):
            return None  # its pod template is the referenced Deployment's
        pod_spec_node: yaml.nodes.Node | None = node
        trail: list[str] = []
        for key in _POD_SPEC_PATHS[kind]:
            pod_spec_node = _child(pod_spec_node, key)
            trail.append(key)
            if pod_spec_node is None:
                self._object_problem(line, data, f"{label} has no {'.'.join(trail)}")
                return None
        fields: list[ImageField] = []
        base = ".".join(trail)
        if _child(pod_spec_node, "containers") is None:
            self._object_problem(line, data, f"{label} has no {base}.containers")
            return None
        for list_key, role in _CONTAINER_LISTS:
            list_node = _child(pod_spec_node, list_key)
            if list_node is None:
                continue
            if not isinstance(list_node, yaml.nodes.SequenceNode):
                self.problem(list_node.start_mark.line + 1, f"{label}: {base}.{list_key} is"
                             " not a list")
                continue
            for index, container in enumerate(list_node.value):
                self._image_field(label, container, f"{base}.{list_key}[{index}]", role,
                                  fields)
        self._volumes(label, pod_spec_node, base, fields)
        return ManifestObject(
            file=self.name,
            document=number,
            line=line,
            kind=str(kind),
            api_version=api_version,
            namespace=namespace,
            name=meta["name"],
            images=tuple(fields),
            data=data,
        )

    def _maybe_skipped(self, line: int, data: Mapping[str, Any]) -> None:
        """Note an object of another kind that carries a pod template."""
        kind = data.get("kind")
        if not isinstance(kind, str) or not kind or kind in parsing.IGNORED_KINDS:
            return
        for path in _OTHER_TEMPLATE_PATHS:
            current: Any = data
            for key in path:
                current = current.get(key) if isinstance(current, dict) else None
            if isinstance(current, dict) and isinstance(current.get("containers"), list):
                meta = data.get("metadata")
                name = meta.get("name") if isinstance(meta, dict) else None
                self.skipped.append(Skipped(self.name, line, kind,
                                            str(data.get("apiVersion", "")),
                                            str(name or "(no name)")))
                return

    def _image_field(self, label: str, container: yaml.nodes.Node, where: str,
                     role: model.ContainerRole, fields: list[ImageField]) -> None:
        line = container.start_mark.line + 1
        if not isinstance(container, yaml.nodes.MappingNode):
            self.problem(line, f"{label}: {where} is not an object")
            return
        cname_node = _child(container, "name")
        cname = cname_node.value if isinstance(cname_node, yaml.nodes.ScalarNode) else ""
        if not cname:
            self.problem(line, f"{label}: {where} has no name")
            return
        if role is model.ContainerRole.INIT:
            restart = _child(container, "restartPolicy")
            if isinstance(restart, yaml.nodes.ScalarNode) and restart.value == "Always":
                role = model.ContainerRole.SIDECAR
        policy_node = _child(container, "imagePullPolicy")
        policy = policy_node.value if isinstance(policy_node, yaml.nodes.ScalarNode) else ""
        self._image(label, f"container {cname}", str(cname), role, _child(container, "image"),
                    f"{where}.image", str(policy or ""), fields)

    def _volumes(self, label: str, pod_spec: yaml.nodes.Node | None, base: str,
                 fields: list[ImageField]) -> None:
        volumes = _child(pod_spec, "volumes")
        if not isinstance(volumes, yaml.nodes.SequenceNode):
            return
        for index, volume in enumerate(volumes.value):
            source = _child(volume, "image")
            if source is None:
                continue
            name_node = _child(volume, "name")
            vname = name_node.value if isinstance(name_node, yaml.nodes.ScalarNode) else ""
            if not vname:
                self.problem(volume.start_mark.line + 1,
                             f"{label}: {base}.volumes[{index}] has no name")
                continue
            policy_node = _child(source, "pullPolicy")
            policy = policy_node.value if isinstance(policy_node, yaml.nodes.ScalarNode) else ""
            self._image(label, f"image volume {vname}", f"{parsing.VOLUME_PREFIX}{vname}",
                        model.ContainerRole.VOLUME, _child(source, "reference"),
                        f"{base}.volumes[{index}].image.reference", str(policy or ""), fields)

    def _image(self, label: str, what: str, container: str, role: model.ContainerRole,
               image_node: yaml.nodes.Node | None, path: str, policy: str,
               fields: list[ImageField]) -> None:
        if image_node is None:
            return  # no image: nothing to check or pin
        image_line = image_node.start_mark.line + 1
        if not isinstance(image_node, yaml.nodes.ScalarNode) or image_node.tag != _TAG + "str":
            self.problem(image_line, f"{label}: {path} ({what}) is not a string")
            return
        value = image_node.value
        ref = images.try_parse(value)
        if ref is None:
            if "{{" in value:
                self.problem(image_line, f"{label}: image {value!r} ({what}) is a template"
                             " leftover", self._helm_hint())
            elif any(c in value for c in "<>$"):
                self.problem(image_line, f"{label}: image {value!r} ({what}) is a"
                             " placeholder, not an image reference",
                             "put the real image there, or run the step that fills it in")
            else:
                self.problem(image_line, f"{label}: {value!r} ({what}) is not a valid image"
                             " reference", "fix the image name")
            return
        fields.append(
            ImageField(
                container=container,
                role=role,
                image=value,
                pull_policy=policy,
                path=path,
                line=image_line,
                column=image_node.start_mark.column + 1,
                end_line=image_node.end_mark.line + 1,
                end_column=image_node.end_mark.column + 1,
                start=image_node.start_mark.index,
                end=image_node.end_mark.index,
                style=image_node.style or "",
                ref=ref,
            )
        )


def _template_line(text: str) -> int | None:
    """The 1-based line of the first ``{{`` of a Go template, or None."""
    at = text.find("{{")
    return None if at < 0 else text.count("\n", 0, at) + 1


def _has_patch_directive(data: Any) -> bool:
    """True when a strategic-merge-patch directive (``$patch``…) sits anywhere in ``data``."""
    stack = [data]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if any(isinstance(k, str) and k.startswith("$") for k in current):
                return True
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _in_kustomization(path: Path) -> bool:
    return any((path.parent / name).is_file() for name in _KUSTOMIZATIONS)


def _child(node: yaml.nodes.Node | None, key: str) -> yaml.nodes.Node | None:
    """The value node of ``key`` in a mapping node, looking through merge keys (``<<``)."""
    if not isinstance(node, yaml.nodes.MappingNode):
        return None
    merged: list[yaml.nodes.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            sources = (value_node.value if isinstance(value_node, yaml.nodes.SequenceNode)
                       else [value_node])
            merged.extend(sources)
        elif isinstance(key_node, yaml.nodes.ScalarNode) and key_node.value == key:
            found: yaml.nodes.Node = value_node
            return found
    for source in merged:
        inherited = _child(source, key)
        if inherited is not None:
            return inherited
    return None

