"""Read Kubernetes manifests (files, folders, stdin) safely, keeping every image's position.

``driftscan manifests`` and ``driftscan pin`` call :func:`load` with the paths the user
gave: YAML or JSON files, folders (searched for ``*.yaml``, ``*.yml`` and ``*.json``),
or ``-`` for stdin (Helm/Kustomize output). Multi-document streams and ``kind: List``
objects are read; every workload kind with a pod template (Deployment, StatefulSet,
DaemonSet, Job, CronJob, ReplicaSet, ReplicationController, PodTemplate, Argo Rollouts'
Rollout, Pod) becomes a :class:`ManifestObject` (read by
:class:`scanner.sources.manifest_objects.Reader`) that keeps its file, document number and
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner import decoding, errors, model, reading
from scanner.sources import manifest_objects, parsing

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

# The records a file's objects become (defined with the reader that builds them).
ImageField = manifest_objects.ImageField
ManifestObject = manifest_objects.ManifestObject
Unreadable = manifest_objects.Unreadable
Skipped = manifest_objects.Skipped


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
        reader = manifest_objects.Reader(name, path, text)
        objects: list[ManifestObject] = []
        try:
            objects.extend(reader.objects(text))
        except decoding.Problem as p:
            documents = _split_documents(text)
            reader = manifest_objects.Reader(name, path, text)
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
