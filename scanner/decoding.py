"""Decode untrusted JSON and YAML text into plain data, with one set of limits.

Every reader of user files calls this module: ``sources.manifests`` (manifests for
``driftscan manifests`` and ``pin``), ``sources.dump`` (``scan --from``), ``sources.live``
(kubeconfig files) and ``report.loading`` (``driftscan report``). It holds the project's
only YAML loader and its only nesting limit, so every input is refused the same way.

YAML is composed with the safe loader and turned into data here, accepting only the
standard tags (strings, numbers, booleans, null, timestamps, maps, sequences, merge keys):
``!!python/object…`` or any custom tag is refused, and so are recursive aliases, alias
expansion past a node budget (the "billion laughs" bomb), nesting past :data:`MAX_DEPTH`
and duplicate keys. JSON is read with ``orjson`` and held to the same depth.
Every refusal is a :class:`Problem` carrying the line when one is known; callers add the
file name and raise their own ``errors.InputError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import yaml
import yaml.constructor
import yaml.nodes

__all__ = ["MAX_DEPTH", "JsonList", "Problem", "Unparsable", "json_list", "json_value",
           "yaml_documents", "yaml_nodes"]

MAX_DEPTH = 200
"""Deepest nesting accepted; Kubernetes objects (CRD schemas included) stay far below."""
_ALIAS_BUDGET_FLOOR = 100_000
_ALIAS_BUDGET_RATIO = 10

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(
    _TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary")
)
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"
_MERGE_TAG = _TAG + "merge"
_BOOL_TAG = _TAG + "bool"
_STR_TAG = _TAG + "str"
_TRUE = frozenset({"y", "yes", "true", "on"})
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubectlLoader(_BASE_LOADER):  # type: ignore[misc]
    """The safe loader with the plain-scalar rules of kubectl's YAML reader (go-yaml v2).

    kubectl reads YAML 1.1 values: ``y``/``n``, ``yes``/``no`` and ``on``/``off`` are
    booleans, ``~`` and ``null`` are null. It does not know PyYAML's ``=`` (the
    ``!!value`` tag, a string to kubectl), base-60 numbers (``1:30`` stays a string) or
    implicit timestamps (strings once they reach an object). Only plain scalars are
    resolved; quoted ones stay strings.
    """

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """The tag of an untagged node (called by the composer once per node).

        The same answer as PyYAML's resolver with these rules and no path resolvers, in
        one lookup: this runs for every scalar of every file.
        """
        if kind is yaml.nodes.ScalarNode:
            if implicit[0]:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.nodes.SequenceNode else _MAP_TAG


for _tag, _pattern, _first in (
    ("bool", r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
             r"|on|On|ON|off|Off|OFF)$", "yYnNtTfFoO"),
    ("int", r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)"
            r"|[-+]?0x[0-9a-fA-F_]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("merge", r"^<<$", "<"),
):
    _KubectlLoader.add_implicit_resolver(_TAG + _tag, re.compile(_pattern), list(_first))
_KubectlLoader.add_implicit_resolver(_TAG + "null", re.compile(r"^$"), [""])
_LOADER: Any = _KubectlLoader


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
            raise Problem(None, _too_deep()) from e
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


def _huge_number() -> str:
    return "a number has more than 4,300 digits; no Kubernetes field holds one"


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
            raise Problem(None, _too_deep())
        stack.extend((child, depth + 1) for child in children)


def _too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} levels"


# --- YAML ----------------------------------------------------------------------------------


def yaml_nodes(text: str) -> list[yaml.nodes.Node]:
    """Compose every non-empty document of ``text`` (no data is built yet).

    Raises:
        Unparsable: invalid YAML.
        Problem: nested too deeply for the composer.
    """
    try:
        return [n for n in yaml.compose_all(text, Loader=_LOADER) if n is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = e.problem or e.context or "invalid YAML"
        raise Unparsable(line, f"invalid YAML: {what}") from e
    except yaml.YAMLError as e:
        raise Unparsable(1, f"invalid YAML: {' '.join(str(e).split())}") from e
    except RecursionError as e:  # the pure-Python composer recurses per nesting level
        raise Problem(1, "invalid YAML: nested too deeply") from e


def yaml_documents(text: str) -> Iterator[tuple[yaml.nodes.Node, Any]]:
    """Each non-empty document of ``text`` as ``(node, plain data)``, in order.

    The text is composed at once; data is built document by document, so a caller can
    collect its own problems with the documents before a refused one.

    Raises:
        Problem: invalid YAML, an unsafe tag, an alias bomb or recursive alias, nesting
            deeper than :data:`MAX_DEPTH`, a duplicate key.
    """
    documents = yaml_nodes(text)
    builder = _Builder(documents)
    for doc in documents:
        yield doc, builder.value(doc)


class _Builder:
    """Turns composed nodes into plain data, refusing unsafe tags and alias bombs."""

    def __init__(self, documents: list[yaml.nodes.Node]) -> None:
        self.documents = documents
        self.budget = _ALIAS_BUDGET_FLOOR
        self.counted = False
        self.produced = 0

    def _raise_budget(self) -> bool:
        """Grow the budget to its ratio of distinct nodes; False when it had grown already.

        Counting the distinct nodes costs a walk of the whole text, so it is done only for
        the rare text that produces more values than the floor.
        """
        if self.counted:
            return False
        distinct: set[int] = set()
        for doc in self.documents:
            _count(doc, distinct)
        self.budget = max(_ALIAS_BUDGET_FLOOR, _ALIAS_BUDGET_RATIO * len(distinct))
        self.counted = True
        return True

    def value(self, node: yaml.nodes.Node, depth: int = 0, active: set[int] | None = None,
              ) -> Any:
        """``node`` as plain data; ``active`` holds the containers being built above it."""
        self.produced += 1
        if self.produced > self.budget and not (self._raise_budget()
                                                and self.produced <= self.budget):
            raise Problem(
                node.start_mark.line + 1,
                f"YAML aliases expand to more than {self.budget:,} nodes (an alias bomb?);"
                " refusing to expand",
            )
        if depth > MAX_DEPTH:
            raise Problem(node.start_mark.line + 1, _too_deep())
        if isinstance(node, yaml.nodes.ScalarNode):
            return self._scalar(node)  # a scalar holds nothing, so cannot recurse
        inner = set() if active is None else active
        key = id(node)
        if key in inner:
            raise Problem(node.start_mark.line + 1, "recursive YAML alias")
        inner.add(key)  # one set along the path, not a copy per level
        try:
            if isinstance(node, yaml.nodes.SequenceNode):
                if node.tag != _SEQ_TAG:
                    raise _unsafe(node)
                if depth >= MAX_DEPTH:
                    return [self.value(child, depth + 1, inner) for child in node.value]
                return [self._child(child, depth, inner) for child in node.value]
            if isinstance(node, yaml.nodes.MappingNode):
                if node.tag != _MAP_TAG:
                    raise _unsafe(node)
                return self._mapping(node, depth, inner)
        finally:
            inner.discard(key)
        raise Problem(node.start_mark.line + 1, f"unexpected YAML node {type(node).__name__}")

    def _child(self, node: yaml.nodes.Node, depth: int, active: set[int]) -> Any:
        """The value of a child of a container at ``depth`` (< :data:`MAX_DEPTH`).

        A plain string, most of any manifest, is taken as it is; it still counts toward
        the alias budget, which the next container checks.
        """
        if node.tag == _STR_TAG and isinstance(node, yaml.nodes.ScalarNode):
            self.produced += 1
            return node.value
        return self.value(node, depth + 1, active)

    def _scalar(self, node: yaml.nodes.ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # most scalars: no constructor needed
        if node.tag not in _SCALAR_TAGS:
            raise _unsafe(node)
        if node.tag in (_TAG + "timestamp", _TAG + "binary"):
            return node.value  # Kubernetes reads these as strings
        if node.tag == _BOOL_TAG:
            return node.value.lower() in _TRUE
        try:
            if node.tag == _TAG + "int" and node.value.lstrip("+-").startswith("0o"):
                sign = -1 if node.value.startswith("-") else 1
                return sign * int(node.value.lstrip("+-")[2:].replace("_", ""), 8)
            return _CONSTRUCTOR.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as e:
            why = (_huge_number() if node.tag == _TAG + "int"
                   else f"unreadable value: {' '.join(str(e).split())}")
            raise Problem(node.start_mark.line + 1, why) from e

    def _mapping(self, node: yaml.nodes.MappingNode, depth: int, active: set[int],
                 ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            tag = key_node.tag
            if tag == _STR_TAG and isinstance(key_node, yaml.nodes.ScalarNode):
                text = key_node.value  # nearly every key
            elif tag == _MERGE_TAG:
                for source in self._merge_sources(value_node, depth, active):
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            elif not isinstance(key_node, yaml.nodes.ScalarNode):
                raise Problem(key_node.start_mark.line + 1, "mapping key is not a scalar")
            else:
                key = self._scalar(key_node)
                text = key if isinstance(key, str) else _key_text(key)
            if text in result:
                raise Problem(key_node.start_mark.line + 1, f"duplicate key {text!r}")
            result[text] = (self._child(value_node, depth, active) if depth < MAX_DEPTH
                            else self.value(value_node, depth + 1, active))
        for k, v in merged.items():
            result.setdefault(k, v)
        return result

    def _merge_sources(self, node: yaml.nodes.Node, depth: int, active: set[int],
                       ) -> list[dict[str, Any]]:
        nodes = node.value if isinstance(node, yaml.nodes.SequenceNode) else [node]
        sources = []
        for item in nodes:
            value = self.value(item, depth + 1, active)
            if not isinstance(value, dict):
                raise Problem(item.start_mark.line + 1, "merge key (<<) needs a mapping")
            sources.append(value)
        return sources


def _key_text(key: Any) -> str:
    """A non-string key as kubectl's JSON conversion spells it (``true``, ``null``…)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _unsafe(node: yaml.nodes.Node) -> Problem:
    tag = node.tag
    shown = "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag
    return Problem(
        node.start_mark.line + 1,
        f"YAML tag {shown} is not allowed (only plain data: strings, numbers, booleans,"
        " null, maps, lists)",
    )


def _count(node: yaml.nodes.Node, seen: set[int]) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.nodes.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.nodes.MappingNode):
            for k, v in current.value:
                stack.extend((k, v))
