"""Read Kubernetes manifests (files, folders, stdin) safely, keeping every image's position.

``driftscan manifests`` and ``driftscan pin`` call :func:`load` with the paths the user
gave: YAML or JSON files, folders (searched for ``*.yaml``, ``*.yml`` and ``*.json``),
or ``-`` for stdin (Helm/Kustomize output). Multi-document streams and ``kind: List``
objects are read; every workload kind with a pod template (Deployment, StatefulSet,
DaemonSet, Job, CronJob, ReplicaSet, Pod) becomes a :class:`ManifestObject` that keeps
its file, document number and line, and for each container (init and ephemeral ones
too) the exact span of the ``image`` scalar in the file, so findings point at the right
line and ``pin`` can rewrite that scalar and nothing else.

Safety: YAML (JSON included) is turned into data by :mod:`scanner.decoding`, the
project's one safe loader: only the standard tags (strings, numbers, booleans, null,
timestamps, maps, sequences, merge keys) are accepted, and ``!!python/object…`` or any
custom tag, recursive aliases, alias expansion past a node budget (the "billion laughs"
bomb), nesting past :data:`MAX_DEPTH` and duplicate keys are refused. Every problem in
every file is collected and raised together as one ``errors.InputError`` naming file
and line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.nodes

from scanner import decoding, errors, images, model, reading
from scanner.sources import parsing

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "TEMPLATE_KINDS",
    "ImageField",
    "ManifestFile",
    "ManifestObject",
    "load",
    "load_texts",
    "snapshot_of",
]

TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")
"""Kinds whose pod template (or, for a Pod, spec) names images."""

MAX_DEPTH = decoding.MAX_DEPTH
"""Deepest nesting accepted (the project-wide limit of :mod:`scanner.decoding`)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest input accepted per file."""
_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_PROBLEMS_SHOWN = 8
_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"

_POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
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
class ManifestFile:
    """One input file (or stdin) with its exact text and the workloads in it."""

    name: str
    """As given on the command line; ``-`` for stdin."""
    path: Path | None
    """The file on disk; None for stdin."""
    text: str
    objects: tuple[ManifestObject, ...]


def load(paths: Sequence[str], *, stdin_text: str | None = None) -> list[ManifestFile]:
    """Read every manifest ``paths`` names (files, folders, ``-`` for stdin).

    Args:
        paths: as given on the command line, in order.
        stdin_text: what ``-`` reads (tests); ``sys.stdin`` when None.

    Returns:
        One entry per file read, in order (folders sorted by path).

    Raises:
        errors.InputError: a path does not exist or is unreadable, or any file holds
            invalid or unsafe YAML, a malformed workload or an invalid image reference;
            every problem is listed.
    """
    if not paths:
        raise errors.InputError("no manifests given", hint="pass files, folders, or - for stdin")
    texts: list[tuple[str, Path | None, str]] = []
    problems: list[str] = []
    seen_stdin = False
    for raw in paths:
        if raw == "-":
            if seen_stdin:
                problems.append("- (stdin) is given twice")
                continue
            seen_stdin = True
            try:
                text = stdin_text if stdin_text is not None else reading.text("-", MAX_FILE_BYTES)
            except reading.Refused as e:
                problems.append(f"- (stdin): {e.message}")
                continue
            texts.append(("-", None, text))
            continue
        for path in _expand(raw, problems):
            try:
                texts.append((str(path), path, reading.text(path, MAX_FILE_BYTES)))
            except reading.Refused as e:
                problems.append(f"{path}: {e.message}")
    if problems:
        _raise(problems)
    return load_texts(texts)


def load_texts(texts: Sequence[tuple[str, Path | None, str]]) -> list[ManifestFile]:
    """Like :func:`load` for already-read ``(name, path, text)`` triples."""
    result: list[ManifestFile] = []
    problems: list[str] = []
    for name, path, text in texts:
        try:
            objects = tuple(_objects(name, text, problems))
        except decoding.Problem as p:
            problems.append(p.where(name))
            continue
        result.append(ManifestFile(name, path, text, objects))
    if problems:
        _raise(problems)
    return result


def _raise(problems: list[str]) -> None:
    shown = "; ".join(problems[:_MAX_PROBLEMS_SHOWN])
    more = len(problems) - _MAX_PROBLEMS_SHOWN
    suffix = f" (and {more} more)" if more > 0 else ""
    prefix = "" if len(problems) == 1 else f"{len(problems)} problems: "
    raise errors.InputError(
        f"{prefix}{shown}{suffix}",
        hint="fix the manifests; nothing was written",
    )


def _expand(raw: str, problems: list[str]) -> Iterator[Path]:
    path = Path(raw)
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in _SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            problems.append(f"{raw}: folder holds no .yaml, .yml or .json files")
        yield from found
    elif path.is_file():
        yield path
    else:
        problems.append(f"{raw}: no such file or folder")


# --- documents → workloads ---------------------------------------------------------------


def _objects(name: str, text: str, problems: list[str]) -> Iterator[ManifestObject]:
    for number, (doc, data) in enumerate(decoding.yaml_documents(text), start=1):
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{name}:{doc.start_mark.line + 1}: document {number} is not an"
                            " object (a mapping with apiVersion and kind)")
            continue
        if str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
            items = _child(doc, "items")
            item_nodes = items.value if isinstance(items, yaml.nodes.SequenceNode) else []
            for item_node, item in zip(item_nodes, data["items"], strict=False):
                found = _object(name, number, item_node, item, problems)
                if found is not None:
                    yield found
            continue
        found = _object(name, number, doc, data, problems)
        if found is not None:
            yield found


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


def _object(name: str, number: int, node: yaml.nodes.Node, data: Any, problems: list[str],
            ) -> ManifestObject | None:
    line = node.start_mark.line + 1
    if not isinstance(data, dict):
        problems.append(f"{name}:{line}: list item is not an object")
        return None
    kind = data.get("kind")
    if kind is not None and not isinstance(kind, str):
        problems.append(f"{name}:{line}: kind is not a string")
        return None
    if kind not in _POD_SPEC_PATHS:
        return None  # Services, ConfigMaps, CRDs …: nothing to check
    meta = data.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        problems.append(f"{name}:{line}: {kind} has no metadata.name")
        return None
    namespace = meta.get("namespace") or ""
    if not isinstance(namespace, str):
        problems.append(f"{name}:{line}: {kind} {meta['name']}: metadata.namespace is not a"
                        " string")
        return None
    pod_spec_node: yaml.nodes.Node | None = node
    trail: list[str] = []
    for key in _POD_SPEC_PATHS[kind]:
        pod_spec_node = _child(pod_spec_node, key)
        trail.append(key)
        if pod_spec_node is None:
            problems.append(f"{name}:{line}: {kind} {meta['name']} has no {'.'.join(trail)}")
            return None
    fields: list[ImageField] = []
    base = ".".join(trail)
    if _child(pod_spec_node, "containers") is None:
        problems.append(f"{name}:{line}: {kind} {meta['name']} has no {base}.containers")
        return None
    for list_key, role in _CONTAINER_LISTS:
        list_node = _child(pod_spec_node, list_key)
        if list_node is None:
            continue
        if not isinstance(list_node, yaml.nodes.SequenceNode):
            problems.append(f"{name}:{list_node.start_mark.line + 1}: {base}.{list_key} is"
                            " not a list")
            continue
        for index, container in enumerate(list_node.value):
            where = f"{base}.{list_key}[{index}]"
            problem = _image_field(name, container, where, role, fields)
            if problem:
                problems.append(problem)
    return ManifestObject(
        file=name,
        document=number,
        line=line,
        kind=str(kind),
        api_version=str(data.get("apiVersion", "")),
        namespace=namespace,
        name=meta["name"],
        images=tuple(fields),
        data=data,
    )


def _image_field(name: str, container: yaml.nodes.Node, where: str,
                 role: model.ContainerRole, fields: list[ImageField]) -> str | None:
    line = container.start_mark.line + 1
    if not isinstance(container, yaml.nodes.MappingNode):
        return f"{name}:{line}: {where} is not an object"
    cname_node = _child(container, "name")
    cname = cname_node.value if isinstance(cname_node, yaml.nodes.ScalarNode) else ""
    if not cname:
        return f"{name}:{line}: {where} has no name"
    if role is model.ContainerRole.INIT:
        restart = _child(container, "restartPolicy")
        if isinstance(restart, yaml.nodes.ScalarNode) and restart.value == "Always":
            role = model.ContainerRole.SIDECAR
    image_node = _child(container, "image")
    if image_node is None:
        return None  # no image: nothing to check or pin
    image_line = image_node.start_mark.line + 1
    if not isinstance(image_node, yaml.nodes.ScalarNode) or image_node.tag != _TAG + "str":
        return f"{name}:{image_line}: {where}.image (container {cname}) is not a string"
    value = image_node.value
    ref = images.try_parse(value)
    if ref is None:
        return (f"{name}:{image_line}: {value!r} (container {cname}) is not a valid image"
                " reference")
    policy_node = _child(container, "imagePullPolicy")
    policy = policy_node.value if isinstance(policy_node, yaml.nodes.ScalarNode) else ""
    fields.append(
        ImageField(
            container=str(cname),
            role=role,
            image=value,
            pull_policy=str(policy or ""),
            path=f"{where}.image",
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
    return None


# --- manifests → snapshot ------------------------------------------------------------------


def snapshot_of(obj: ManifestObject, *, namespace: str = "default") -> model.Snapshot:
    """A snapshot holding only ``obj`` (no pods), for the static detectors.

    Args:
        obj: the workload.
        namespace: used when the manifest names none (kubectl would use the context's).

    Raises:
        errors.InputError: the object lacks a field the detectors need.
    """
    data = dict(obj.data)
    meta = dict(data.get("metadata") or {})
    meta["namespace"] = obj.namespace or namespace
    data["metadata"] = meta
    collector = parsing.Collector()
    try:
        collector.add(obj.kind, data)
    except parsing.ObjectProblem as e:
        raise errors.InputError(f"{obj.where}: {obj.kind} {obj.name}: {e}",
                                hint="fix the manifest") from e
    source = model.SourceInfo(type="manifests", files=(obj.file,))
    return collector.snapshot(source, "")
