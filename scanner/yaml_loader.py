"""The YAML half of :mod:`scanner.decoding`: kubectl's scalar rules, and data built safely.

Imported by ``decoding.yaml_nodes`` and ``decoding.yaml_documents`` on the first YAML
text, so that reading a JSON dump never loads PyYAML. Callers use those two functions;
the limits and the :class:`~scanner.decoding.Problem` they raise are ``decoding``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
import yaml.constructor
import yaml.nodes

from scanner.decoding import MAX_DEPTH, TOO_DEEP, Problem, Unparsable

__all__ = ["documents", "nodes"]

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


def nodes(text: str) -> list[yaml.nodes.Node]:
    """:func:`scanner.decoding.yaml_nodes` (documented there)."""
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


def documents(text: str) -> Iterator[tuple[yaml.nodes.Node, Any]]:
    """:func:`scanner.decoding.yaml_documents` (documented there)."""
    composed = nodes(text)
    builder = _Builder(composed)
    for doc in composed:
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
            raise Problem(node.start_mark.line + 1, TOO_DEEP)
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


def _huge_number() -> str:
    return "a number has more than 4,300 digits; no Kubernetes field holds one"
