"""Read saved ``kubectl get … -o json`` (or ``-o yaml``) output into a ``Snapshot``.

Accepts ``List`` and ``*List`` objects (kubectl's output and the raw API's), single
objects, YAML multi-document streams, and any number of files (``-`` is stdin). Kinds
driftscan does not need (ConfigMaps, Events, custom resources …) are skipped without
being read. A file that is neither JSON nor YAML (or not text), an object of a kind nobody
knows, or an object missing a field driftscan needs does not end the scan when other
objects could be read: each becomes a ``model.Gap`` (kind ``File``) naming the file and the
object, everything readable is scanned, and the report is incomplete (exit code 3), as
``driftscan manifests`` does with unreadable files. Input from which *nothing* could be
read, a path that does not exist, or a folder is an ``errors.InputError`` listing every
problem (exit 2): there is no scan to report.

Text is decoded by :mod:`scanner.decoding`, the project's one safe loader: nesting past
its depth limit, YAML alias bombs and unsafe YAML tags are refused, not followed.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from scanner import decoding, errors, model, reading
from scanner.sources import parsing

__all__ = ["MAX_DUMP_BYTES", "load", "load_texts"]

MAX_DUMP_BYTES = 1 << 30
"""Largest dump read per file (1 GiB: about 100,000 pods as kubectl writes them)."""

_MAX_PROBLEMS_SHOWN = 5
_CLUSTER_SCOPED = frozenset({"Node"})
_DUMP_HINT = (
    "pass the output of `kubectl get pods,rs,deploy,sts,ds,jobs,cronjobs,rc,svc,nodes,"
    "controllerrevisions -A -o json`"
)


def load(paths: Sequence[str], namespaces: Sequence[str] = ()) -> model.Snapshot:
    """Read dump files (``-`` for stdin) into one snapshot.

    Args:
        paths: files to read, in order; a later copy of an object replaces an earlier one.
        namespaces: keep only namespaced objects of these namespaces; empty keeps all.

    Returns:
        The snapshot, ``source.type == "dump"``; unreadable files and unusable objects
        are in ``gaps``.

    Raises:
        errors.InputError: a path does not exist or is a folder, or nothing at all could
            be read (every problem is listed).
    """
    texts: list[tuple[str, str | bytes]] = []
    unreadable: list[str] = []
    digests: list[tuple[str, _Digest]] = []
    for path in paths:
        try:
            data = _read(path)
            digests.append((path, _Digest(data)))
            texts.append((path, data if _ascii_json(data) else _text(path, data)))
        except _Unreadable as e:
            unreadable.append(str(e))
    snapshot = load_texts(texts, namespaces, unreadable)
    inputs = tuple(model.InputFile(path, digest.hexdigest(), digest.size)
                   for path, digest in digests)
    return dataclasses.replace(
        snapshot, provenance=dataclasses.replace(snapshot.provenance, inputs=inputs))


class _Digest:
    """The sha256 of a file's bytes, computed on another thread while the file is decoded.

    ``hashlib`` lets go of the interpreter while it hashes a large buffer, so the digest
    of a 45 MB dump costs no time of its own on a machine with a second core.
    """

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._hash = hashlib.sha256()
        self._thread = threading.Thread(target=self._hash.update, args=(data,),
                                        name="dump-digest", daemon=True)
        self._thread.start()

    def hexdigest(self) -> str:
        """The hex digest, once the hashing thread is done."""
        self._thread.join()
        return self._hash.hexdigest()


def load_texts(
    texts: Sequence[tuple[str, str | bytes]], namespaces: Sequence[str] = (),
    unreadable: Sequence[str] = (),
) -> model.Snapshot:
    """Like :func:`load` for already-read ``(name, text)`` pairs.

    A text may be ``bytes`` only when it is ASCII. ``unreadable`` lists files that could
    not be read at all, as gap reasons.
    """
    collector = parsing.Collector()
    problems: list[str] = list(unreadable)
    wanted = frozenset(namespaces)
    for name, text in texts:
        if isinstance(text, bytes) and _add_list(collector, name, text, wanted, problems):
            continue
        try:
            documents = _decode(name, text)
        except errors.InputError as e:
            problems.append(e.message)
            continue
        for where, obj, kind_hint in _objects(name, documents, problems):
            _add(collector, where, obj, kind_hint, wanted, problems)
    if problems and not _collected(collector):
        shown = "; ".join(problems[:_MAX_PROBLEMS_SHOWN])
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        suffix = f" (and {more} more)" if more > 0 else ""
        raise errors.InputError(
            f"{len(problems)} problem(s) in the input: {shown}{suffix}", hint=_DUMP_HINT
        )
    source = model.SourceInfo(
        type="dump",
        files=tuple(name for name, _ in texts),
        namespaces=tuple(sorted(wanted)),
        all_namespaces=not wanted,
    )
    gaps = [model.Gap(kind="File", namespace=None, reason=f"{p}; left out of the scan")
            for p in problems]
    seen = collector.namespaces()
    gaps += [
        model.Gap("Namespace", ns, f"no object in the input is in namespace {ns}: a mistyped"
                  " -n, or a dump taken without it")
        for ns in sorted(wanted - seen)
    ]
    return collector.snapshot(source, _now(), gaps)


def _add_list(collector: parsing.Collector, name: str, data: bytes,
              namespaces: frozenset[str], problems: list[str]) -> bool:
    """Read a kubectl ``List`` a batch of items at a time (:func:`decoding.json_list`).

    Its records and problems join the scan only when every batch decoded; False (nothing
    added) when ``data`` is not such a List or a batch did not decode on its own: the
    caller then decodes it whole and reports what that finds.
    """
    listed = decoding.json_list(data)
    if listed is None or not _is_list(listed.wrapper):
        return False
    own = parsing.Collector()
    own_problems: list[str] = []
    item_kind = _item_kind(listed.wrapper)
    count = 0
    try:
        for batch in listed.batches():
            for where, item in _items(name, batch, count, own_problems):
                _add(own, where, item, item_kind, namespaces, own_problems)
            count += len(batch)
    except decoding.Problem:
        return False
    collector.merge(own)
    problems.extend(own_problems)
    return True


def _collected(collector: parsing.Collector) -> bool:
    return bool(collector.pods or collector.workloads or collector.revisions
                or collector.services or collector.nodes)


class _Unreadable(Exception):
    """A dump file that exists but cannot be read as text."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: str) -> bytes:
    """The file's exact bytes (hashed for the report's provenance before decoding)."""
    try:
        return reading.data(path, MAX_DUMP_BYTES)
    except reading.Refused as e:
        if e.message == "no such file":
            raise errors.InputError(f"{path}: no such file", hint=_DUMP_HINT) from e
        if e.message == "is a directory":
            raise errors.InputError(f"{path}: is a directory, not a dump file") from e
        # Too large, binary, or an OS error: the file exists but cannot be read.
        raise _Unreadable(f"{path}: {e.message}") from e


def _ascii_json(data: bytes) -> bool:
    """Whether ``data`` is JSON in ASCII (kubectl's usual output).

    ASCII is valid UTF-8 as it stands: the decoder reads the bytes themselves, without a
    decoded copy of the whole file.
    """
    return data[:4096].lstrip()[:1] in (b"{", b"[") and data.isascii()


def _text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Unreadable(f"{path}: not a text file (not UTF-8)") from e


def _decode(name: str, text: str | bytes) -> list[Any]:
    if isinstance(text, bytes):
        try:
            return [decoding.json_value(text)]
        except decoding.Problem:
            text = text.decode("ascii")  # the same answer, with YAML's second opinion
    stripped = text.lstrip()
    if not stripped:
        raise errors.InputError(f"{name}: empty file")
    json_error = ""
    if stripped[0] in "{[":
        try:
            return [decoding.json_value(text)]
        except decoding.Unparsable as e:  # may still be YAML in flow style
            json_error = f"line {e.line} {e.message}"
        except decoding.Problem as e:
            raise errors.InputError(e.where(name)) from e
    try:
        documents = [d for _, d in decoding.yaml_documents(text) if d is not None]
    except decoding.Unparsable as e:
        detail = json_error or f"line {e.line}: {e.message.removeprefix('invalid YAML: ')}"
        raise errors.InputError(f"{name}: not valid JSON or YAML ({detail})") from e
    except decoding.Problem as e:
        raise errors.InputError(e.where(name)) from e
    if not documents:
        raise errors.InputError(f"{name}: no objects in the file")
    return documents


def _objects(
    name: str, documents: list[Any], problems: list[str]
) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """Yield ``(where, object, kind to assume when the object names none)``."""
    for d, doc in enumerate(documents, start=1):
        where_doc = name if len(documents) == 1 else f"{name} document {d}"
        if isinstance(doc, list):
            items: list[Any] = doc
            item_kind = ""
        elif isinstance(doc, Mapping) and _is_list(doc):
            raw_items = doc.get("items")
            if raw_items is None:
                raw_items = []
            if not isinstance(raw_items, list):
                problems.append(f"{where_doc}: items is not a list")
                continue
            items = raw_items
            item_kind = _item_kind(doc)
        elif isinstance(doc, Mapping):
            yield where_doc, doc, ""
            continue
        else:
            problems.append(f"{where_doc}: expected a Kubernetes object or List, not {_type(doc)}")
            continue
        for where, item in _items(where_doc, items, 0, problems):
            yield where, item, item_kind


def _items(where_doc: str, items: list[Any], before: int,
           problems: list[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, item)`` of each object in ``items``, numbered from ``before + 1``."""
    for i, item in enumerate(items, start=before + 1):
        if not isinstance(item, Mapping):
            problems.append(f"{where_doc} item {i}: expected an object, not {_type(item)}")
            continue
        yield f"{where_doc} item {i}", item


def _is_list(doc: Mapping[str, Any]) -> bool:
    kind = doc.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in doc


def _item_kind(doc: Mapping[str, Any]) -> str:
    """The kind of a ``*List``'s items (``PodList``: ``Pod``); none for a plain ``List``."""
    kind = str(doc.get("kind", ""))
    return kind[: -len("List")] if kind != "List" else ""


def _type(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), type(value).__name__)


def _add(
    collector: parsing.Collector,
    where: str,
    obj: Mapping[str, Any],
    kind_hint: str,
    namespaces: frozenset[str],
    problems: list[str],
) -> None:
    kind = obj.get("kind") or kind_hint
    api_version = obj.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        problems.append(f"{where}: object has no kind")
        return
    if kind == "Rollout" and not (isinstance(api_version, str)
                                  and api_version.startswith(parsing.ROLLOUT_GROUP + "/")):
        return  # another project's Rollout kind: a custom resource driftscan does not read
    if kind not in _READ_KINDS:
        if kind in parsing.IGNORED_KINDS:
            return
        if isinstance(api_version, str) and parsing.is_custom_resource(api_version):
            return
        problems.append(f"{_label(where, kind, obj)}: unknown kind {kind!r}")
        return
    if namespaces and kind not in _CLUSTER_SCOPED:
        meta = obj.get("metadata")
        namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
        if namespace not in namespaces:
            return
    try:
        collector.add(kind, obj)
    except parsing.ObjectProblem as e:
        problems.append(f"{_label(where, kind, obj)}: {e}")


_READ_KINDS = frozenset(parsing.KINDS)


def _label(where: str, kind: str, obj: Mapping[str, Any]) -> str:
    """``where (Kind namespace/name)`` for a problem line (built only for a problem)."""
    return f"{where} ({_shown(kind)} {_shown(_identity(obj))})"


def _shown(text: str) -> str:
    """``text`` for a one-line message: escapes instead of line breaks and control bytes."""
    return text if text.isprintable() else repr(text)[1:-1]


def _identity(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "without metadata"
    name = meta.get("name") or "<no name>"
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)
