"""Decode untrusted JSON and YAML text into plain data, with one set of limits.

Every reader of user files calls this module: ``sources.manifests`` (manifests for
``driftscan manifests`` and ``pin``), ``sources.dump`` (``scan --from``), ``sources.live``
(kubeconfig files) and ``report.loading`` (``driftscan report``). It holds the project's
only nesting limit and, in :mod:`scanner.yaml_loader` (imported on the first YAML text:
a JSON dump never pays for PyYAML), its only YAML loader, so every input is refused the
same way.

YAML is composed with the safe loader and turned into data accepting only the standard
tags (strings, numbers, booleans, null, timestamps, maps, sequences, merge keys):
``!!python/object…`` or any custom tag is refused, and so are recursive aliases, alias
expansion past a node budget (the "billion laughs" bomb), nesting past :data:`MAX_DEPTH`
and duplicate keys. JSON is read with ``orjson`` and held to the same depth.
Every refusal is a :class:`Problem` carrying the line when one is known; callers add the
file name and raise their own ``errors.InputError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import yaml.nodes

__all__ = ["MAX_DEPTH", "TOO_DEEP", "JsonList", "Problem", "Unparsable", "json_list",
           "json_value", "yaml_documents", "yaml_nodes"]

MAX_DEPTH = 200
"""Deepest nesting accepted; Kubernetes objects (CRD schemas included) stay far below."""
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
"""The message of every refusal for depth."""


class Problem(ValueError):
    """Text that cannot be decoded, or is refused, at ``line`` (None when unknown)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def where(self, name: str) -> str:
        """``name:line: message`` (``name: message`` when the line is unknown)."""
        at = f"{name}:{self.line}" if self.line is not None else name
        return f"{at}: {self.message}"


class Unparsable(Problem):
    """Text that is not JSON (or not YAML) at all, as opposed to refused content."""


# --- JSON ----------------------------------------------------------------------------------


def json_value(text: str | bytes) -> Any:
    """Parse one JSON document, refusing nesting deeper than :data:`MAX_DEPTH`.

    ``orjson`` decodes (it stops at its own, deeper, limit instead of recursing without
    end); :func:`_shallow` proves from the text alone, at C speed, that the usual document
    is within the limit, and only text it cannot clear gets the exact walk of the value.

    Raises:
        Unparsable: not JSON.
        Problem: nested too deeply.
    """
    shallow = _shallow(text)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if not shallow and "depth limit" in e.msg:
            raise Problem(None, TOO_DEEP) from e
        raise Unparsable(e.lineno, f"column {e.colno}: {e.msg}") from e
    if not shallow:
        _check_depth(value)
    return value


class JsonList:
    """A JSON object's ``items`` list, decoded a batch of items at a time.

    Made by :func:`json_list`: :attr:`wrapper` is the object itself, its ``items`` holding
    one placeholder per batch; :meth:`batches` yields the real items.
    """

    def __init__(self, wrapper: dict[str, Any], data: bytes,
                 spans: list[tuple[int, int]]) -> None:
        self.wrapper = wrapper
        self._data = data
        self._spans = spans

    def batches(self) -> Iterator[list[Any]]:
        """Each batch's items, in order; the previous batch can be freed meanwhile.

        Raises:
            Unparsable: a batch is not JSON on its own (then the whole text is not, or
                was not split where :func:`json_list` assumed: decode it whole).
        """
        for start, end in self._spans:
            try:
                items = orjson.loads(b"[" + self._data[start:end] + b"]")
            except orjson.JSONDecodeError as e:
                raise Unparsable(None, e.msg) from e
            yield items


_BATCH_BYTES = 1 << 20
_MARKERS = (b"7301946825", b"5820361947", b"9164082753", b"4072815369")


def json_list(data: bytes, batch_bytes: int = _BATCH_BYTES) -> JsonList | None:
    """``data``'s top-level ``items`` as a :class:`JsonList`, when it is laid out as kubectl does.

    Decoding a ``kubectl get -o json`` dump whole holds the decoder's own copy of the
    document and every item's objects at once; a batch at a time, each batch's objects go
    as soon as they are read, and the next batch reuses their memory. ``kubectl`` writes
    each item as an indented block (``"items": [``, then ``{`` … ``},`` on lines of their
    own), and raw newlines never occur inside JSON strings, so the lines between two items
    are found with ``bytes.find``. The split is then proven rather than trusted: the text
    with each batch replaced by one marker number, found nowhere else in it, must decode
    to an object whose ``items`` are exactly those markers, and each batch must decode as a
    list on its own (:meth:`JsonList.batches` raises otherwise). When both hold, the text is
    JSON and its ``items`` are the batches' items, in order: what :func:`json_value` would
    return, without its peak memory.

    Returns:
        None for any other layout, text nested past :data:`MAX_DEPTH` (or not proven
        within it) and text that is not JSON: the caller decodes it whole, which gives
        the answer, or the error, of :func:`json_value`.
    """
    head = data.find(b'"items": [\n')
    if head < 0:
        return None
    start = head + len(b'"items": [\n')
    window = data[start:start + 256]
    indent = len(window) - len(window.lstrip(b" "))
    if indent == 0 or data[start + indent:start + indent + 2] != b"{\n":
        return None
    margin = b"\n" + b" " * indent
    start += indent
    end = _items_end(data, start, margin)
    if end < 0 or not _shallow(data):
        return None
    outside = data[:start] + b" " + data[end:]  # the object's text around its items
    marker = next((m for m in _MARKERS if m not in outside), None)
    if marker is None:
        return None
    between = margin + b"}," + margin + b"{"
    spans: list[tuple[int, int]] = []
    position = start
    while True:
        cut = data.find(between, position + batch_bytes, end)
        if cut < 0:
            spans.append((position, end))
            break
        spans.append((position, cut + len(margin) + 1))
        position = cut + len(between) - 1
    try:
        wrapper = orjson.loads(data[:start] + b",".join([marker] * len(spans)) + data[end:])
    except orjson.JSONDecodeError:
        return None
    number = int(marker)
    items = wrapper.get("items") if isinstance(wrapper, dict) else None
    # Only the marker's own digits make that integer (a float such as 7.3e9 may equal it).
    if (type(items) is not list or len(items) != len(spans)
            or any(type(n) is not int or n != number for n in items)):
        return None
    return JsonList(wrapper, data, spans)


def _items_end(data: bytes, start: int, margin: bytes) -> int:
    """Where the last item's block ends: its ``}`` line, then the line closing the list."""
    end = len(data)
    for _ in range(16):  # the object's other keys may hold blocks at the same indent
        end = data.rfind(margin + b"}", start, end)
        if end < 0:
            return -1
        if data[end + len(margin) + 1:end + len(margin) + 257].lstrip()[:1] == b"]":
            return end + len(margin) + 1
    return -1


_STRUCTURE = b'[]{}"'
_KEEP = (bytes.maketrans(b"{}", b"[]"), bytes(c for c in range(256) if c not in _STRUCTURE))


def _shallow(text: str | bytes) -> bool:
    """True when ``text`` certainly nests no deeper than :data:`MAX_DEPTH` brackets.

    Keeps only brackets and quotes (escaped quotes dropped first), drops strings, then
    peels innermost ``[]`` pairs, one level per round: if nothing is left after
    :data:`MAX_DEPTH` rounds, no value sits deeper than the limit. Every step is one
    C-level pass, so a 35 MB dump costs tens of milliseconds. False means "not proven"
    (too deep, or not JSON): the caller decides on the decoded value.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = data.translate(*_KEEP).replace(b'""', b"")
    if b'"' in kept:  # strings holding brackets: keep what lies between them
        kept = b"".join(kept.split(b'"')[::2])
    for _ in range(MAX_DEPTH):
        if not kept:
            return True
        peeled = kept.replace(b"[]", b"")
        if len(peeled) == len(kept):
            return False  # unbalanced: not JSON, the decoder says so
        kept = peeled
    return not kept


def _check_depth(value: Any) -> None:
    """Refuse ``value`` if anything in it sits deeper than :data:`MAX_DEPTH`.

    The rule :class:`_Builder` applies to YAML: the root is depth 0, and no value, scalar
    or not, may be deeper; an empty list or mapping at the limit is fine.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        children = (current.values() if isinstance(current, dict)
                    else current if isinstance(current, list) else None)
        if not children:
            continue
        if depth >= MAX_DEPTH:
            raise Problem(None, TOO_DEEP)
        stack.extend((child, depth + 1) for child in children)


# --- YAML ----------------------------------------------------------------------------------


def yaml_nodes(text: str) -> list[yaml.nodes.Node]:
    """Compose every non-empty document of ``text`` (no data is built yet).

    Raises:
        Unparsable: invalid YAML.
        Problem: nested too deeply for the composer.
    """
    from scanner import yaml_loader

    return yaml_loader.nodes(text)


def yaml_documents(text: str) -> Iterator[tuple[yaml.nodes.Node, Any]]:
    """Each non-empty document of ``text`` as ``(node, plain data)``, in order.

    The text is composed at once; data is built document by document, so a caller can
    collect its own problems with the documents before a refused one.

    Raises:
        Problem: invalid YAML, an unsafe tag, an alias bomb or recursive alias, nesting
            deeper than :data:`MAX_DEPTH`, a duplicate key.
    """
    from scanner import yaml_loader

    return yaml_loader.documents(text)
