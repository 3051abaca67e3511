"""Read Kubernetes manifests (files, folders, stdin) safely, keeping every image's position.

``driftscan manifests`` and ``driftscan pin`` call :func:`load` with the paths the user
gave: YAML or JSON files, folders (searched for ``*.yaml``, ``*.yml`` and ``*.json``),
or ``-`` for stdin (Helm/Kustomize output). Multi-document streams and ``kind: List``
objects are read; every workload kind with a pod template (Deployment, StatefulSet,
DaemonSet, Job, CronJob, ReplicaSet, ReplicationController, PodTemplate, Argo Rollouts'
Rollout, Pod) becomes a :class:`ManifestObject` that keeps its file, document number and
line, and for each container (init and ephemeral ones too) and image volume
(``volumes[].image.reference``) the exact span of the image scalar in the file, so
findings point at the right line and ``pin`` can rewrite that scalar and nothing else.
An object of another kind that carries a pod template (an operator's workload) is
listed as :class:`Skipped`, never dropped without a word.

Safety: YAML (JSON included) is turned into data by :mod:`scanner.decoding`, the
project's one safe loader: only the standard tags (strings, numbers, booleans, null,
timestamps, maps, sequences, merge keys) are accepted, and ``!!python/object…`` or any
custom tag, recursive aliases, alias expansion past a node budget (the "billion laughs"
bomb), nesting past :data:`MAX_DEPTH` and duplicate keys are refused. Plain scalars
are read as kubectl reads them (YAML 1.1: ``=`` is a string, ``yes``/``on`` booleans).

A file that cannot be read is not the end of the run: each problem becomes an
:class:`Unreadable` entry on its :class:`ManifestFile` (``path:line``, the reason and
what to do: render Helm templates first, ``kustomize build`` patch files, fix the
duplicate key…), and everything readable is still checked. Only a path that does not
exist (a usage error) raises ``errors.InputError``.
"""

from __future__ import annotations

import re
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
    "Skipped",
    "Unreadable",
    "load",
    "load_texts",
    "snapshots_of",
]

TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet",
                  "ReplicationController", "PodTemplate", "Rollout", "Pod")
"""Kinds whose pod template (or, for a Pod, spec) names images."""

MAX_DEPTH = decoding.MAX_DEPTH
"""Deepest nesting accepted (the project-wide limit of :mod:`scanner.decoding`)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest input accepted per file."""
_SUFFIXES = (".yaml", ".yml", ".json")
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


@dataclass(frozen=True)
class ManifestFile:
    """One input file (or stdin) with its exact text and the workloads in it."""

    name: str
    """As given on the command line; ``-`` for stdin."""
    path: Path | None
    """The file on disk; None for stdin."""
    text: str
    objects: tuple[ManifestObject, ...]
    problems: tuple[Unreadable, ...] = ()
    """What could not be read; the objects that could are still in ``objects``."""
    skipped: tuple[Skipped, ...] = ()
    """Objects with a pod template of a kind driftscan does not check."""


def load(paths: Sequence[str], *, stdin_text: str | None = None) -> list[ManifestFile]:
    """Read every manifest ``paths`` names (files, folders, ``-`` for stdin).

    Args:
        paths: as given on the command line, in order.
        stdin_text: what ``-`` reads (tests); ``sys.stdin`` when None.

    Returns:
        One entry per file, in order (folders sorted by path); a file that could not be
        read (or only in part) lists why in ``problems``.

    Raises:
        errors.InputError: no path given, a path does not exist, a folder holds no
            manifests, or stdin is given twice (every such problem is listed).
    """
    if not paths:
        raise errors.InputError("no manifests given", hint="pass files, folders, or - for stdin")
    texts: list[tuple[str, Path | None, str]] = []
    problems: list[str] = []
    unreadable: list[ManifestFile] = []
    sequence: list[str] = []  # every name in the order given, read or not
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
            sequence.append("-")
            continue
        for path in _expand(raw, problems):
            sequence.append(str(path))
            reason, hint = "", ""
            try:
                texts.append((str(path), path, reading.text(path, MAX_FILE_BYTES)))
            except reading.Refused as e:
                reason = e.message  # too large, binary, not UTF-8, or an OS error
                hint = "check its permissions"
                if "larger" in reason:
                    hint = "split it, or check the parts that matter"
                elif "not a text file" in reason:
                    reason, hint = "not UTF-8 text", "save it as UTF-8, or leave it out"
            if reason:
                unreadable.append(ManifestFile(str(path), path, "", (), (
                    Unreadable(str(path), None, reason, hint),)))
    if problems:
        raise errors.InputError("; ".join(problems),
                                hint="pass files, folders, or - for stdin; nothing was checked")
    order = {name: i for i, name in enumerate(sequence)}
    read = load_texts(texts) + unreadable
    return sorted(read, key=lambda f: order[f.name]) if unreadable else read


def load_texts(texts: Sequence[tuple[str, Path | None, str]]) -> list[ManifestFile]:
    """Like :func:`load` for already-read ``(name, path, text)`` triples."""
    result: list[ManifestFile] = []
    for name, path, text in texts:
        reader = _Reader(name, path, text)
        objects: list[ManifestObject] = []
        try:
            objects.extend(reader.objects(text))
        except decoding.Problem as p:
            documents = _split_documents(text)
            reader = _Reader(name, path, text)
            objects = []
            if len(documents) == 1:
                reader.refused(p, text)
            # As kubectl does, read each document on its own: one bad one does not hide
            # the others.
            for number, document in enumerate(documents if len(documents) > 1 else [], 1):
                try:
                    objects.extend(reader.objects(document, number))
                except decoding.Problem as q:
                    reader.refused(q, document)
        result.append(ManifestFile(name, path, text, tuple(objects), tuple(reader.problems),
                                   tuple(reader.skipped)))
    return result


_SEPARATOR = re.compile(r"^---(?=[ \t]|$)", re.MULTILINE)


def _split_documents(text: str) -> list[str]:
    """Each ``---``-separated document of ``text``, the rest blanked out.

    Everything outside the document becomes spaces (newlines kept), so lines, columns and
    character offsets stay those of the file: findings and ``pin`` edits land in place.
    """
    starts = [m.start() for m in _SEPARATOR.finditer(text)]
    bounds = [0, *starts, len(text)]
    documents = []
    for begin, end in zip(bounds, bounds[1:], strict=False):
        if not text[begin:end].strip():
            continue
        blank_before = _BLANK.sub(" ", text[:begin])
        blank_after = _BLANK.sub(" ", text[end:])
        documents.append(blank_before + text[begin:end] + blank_after)
    return documents


_BLANK = re.compile(r"[^\n]")


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


class _Reader:
    """Reads one file's documents into workloads, collecting its problems and skips."""

    def __init__(self, name: str, path: Path | None, text: str) -> None:
        self.name = name
        self.path = path
        self.text = text
        self.problems: list[Unreadable] = []
        self.skipped: list[Skipped] = []

    # -- problems, each with what to do about it

    def problem(self, line: int | None, reason: str, hint: str = "fix the manifest") -> None:
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


# --- manifests → snapshot ------------------------------------------------------------------


def snapshots_of(objects: Sequence[ManifestObject], *, namespace: str = "default",
                 ) -> tuple[list[tuple[model.Snapshot, dict[model.WorkloadRef, ManifestObject]]],
                            list[tuple[ManifestObject, str]]]:
    """Snapshots holding ``objects`` (no pods), for the static detectors.

    Workloads go into as few snapshots as their identities allow (the same kind, namespace
    and name twice — overlays, copies — go to different snapshots, as each would be its own
    ``kubectl apply``): building and checking one snapshot per thousand objects is much
    faster than one per object.

    Args:
        objects: the workloads.
        namespace: used when the manifest names none (kubectl would use the context's).

    Returns:
        Each snapshot with the object behind each of its workloads, and each object that
        lacks a field the detectors need, with why.
    """
    batches: list[tuple[parsing.Collector, dict[model.WorkloadRef, ManifestObject]]] = []
    problems: list[tuple[ManifestObject, str]] = []
    for obj in objects:
        data = dict(obj.data)
        meta = dict(data.get("metadata") or {})
        meta["namespace"] = obj.namespace or namespace
        data["metadata"] = meta
        ref = model.WorkloadRef(obj.kind, meta["namespace"], obj.name)
        batch = next((b for b in batches if ref not in b[1]), None)
        if batch is None:
            batch = (parsing.Collector(), {})
            batches.append(batch)
        try:
            batch[0].add(obj.kind, data)
        except parsing.ObjectProblem as e:
            problems.append((obj, f"{obj.kind} {obj.name}: {e}"))
            continue
        batch[1][ref] = obj
    source = model.SourceInfo(type="manifests",
                              files=tuple(dict.fromkeys(o.file for o in objects)))
    return [(c.snapshot(source, ""), refs) for c, refs in batches], problems
