"""Read scenario files, validate them, and build ``definitions.Scenario`` objects.

Called by the CLI (``scenario list`` / ``scenario run``) and by tests. A file is checked
in two passes and every problem is collected before anything is raised:

1. the JSON Schema (``library/schema.json``; the copy
   ``scanner/schemas/scenario-v1.json`` is what the code reads), draft 2020-12;
2. what a schema cannot say: manifest files exist and hold namespaced objects of known
   kinds, workloads named by steps are applied earlier, ``{{ digest:BUILD }}`` names a
   build pushed earlier, every ``expect`` label has a scan, rule ids exist.

Each problem names the file, the line, the step (``steps[3] scale``) and the field; all of
them go into one :class:`InvalidScenarios` (an ``errors.ScenarioInvalid``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from scanner import errors, suggest
from scanner.scenarios import checking, problems
from scanner.scenarios import definitions as d

__all__ = [
    "LIBRARY",
    "InvalidScenarios",
    "Problem",
    "discover",
    "folders",
    "library",
    "library_dir",
    "library_files",
    "load_file",
    "load_files",
    "schema",
    "searched",
    "select",
]

SCHEMA_COMMENT = "# yaml-language-server: $schema="
InvalidScenarios = problems.InvalidScenarios
Problem = problems.Problem


# --- discovery -------------------------------------------------------------------------


LIBRARY = "library"
"""How listings name the scenario library that ships inside the package."""


def library_dir() -> Path:
    """The scenario library shipped in the package (``scanner/library``).

    The same folder in a checkout and in an installed wheel.
    """
    return Path(str(importlib_resources.files("scanner") / "library"))


def library_files(directory: Path | None = None) -> list[Path]:
    """Every ``*.yaml`` directly in the library folder, sorted by file name."""
    folder = directory or library_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def library(directory: Path | None = None) -> list[d.Scenario]:
    """Load and validate the whole library."""
    return load_files(library_files(directory))


def folders(dirs: Sequence[Path] = ()) -> list[tuple[str, Path]]:
    """The folders ``scenario list`` and ``run`` search: the library, then each ``--dir``.

    Each comes as (origin, folder): ``library`` for the packaged library, the path as
    given for a team's folder.

    Raises:
        errors.InputError: a ``--dir`` does not exist, is not a folder, or holds no
            ``*.yaml`` — a typo must not quietly run the library alone.
    """
    found = [(LIBRARY, library_dir())]
    for directory in dict.fromkeys(dirs):
        if not directory.is_dir():
            raise errors.InputError(f"scenario folder {directory} does not exist",
                                    hint="pass a folder that holds scenario *.yaml files")
        if not library_files(directory):
            raise errors.InputError(f"scenario folder {directory} holds no *.yaml files",
                                    hint="scenario files sit directly in the folder "
                                         "(apps may sit below it)")
        found.append((str(directory), directory))
    return found


def searched(dirs: Sequence[Path] = ()) -> str:
    """What was searched, for a message: the library's folder and every ``--dir``."""
    places = [f"the library ({library_dir()})", *(f"--dir {p}" for p in dirs)]
    return ", ".join(places)


def discover(dirs: Sequence[Path] = ()) -> list[tuple[str, d.Scenario]]:
    """Every scenario of the library and of each ``--dir``, with where it comes from.

    Raises:
        errors.InputError: a ``--dir`` is unusable.
        InvalidScenarios: a file is invalid, or a name is used twice across folders.
    """
    places = folders(dirs)
    origin_of: dict[Path, str] = {}
    paths: list[Path] = []
    for origin, folder in places:
        for path in library_files(folder):
            if path.resolve() not in origin_of:
                origin_of[path.resolve()] = origin
                paths.append(path)
    return [(origin_of[s.file.resolve()], s) for s in load_files(paths)]


def select(names: Sequence[str], *, all_: bool, files: Sequence[str],
           dirs: Sequence[Path] = ()) -> list[d.Scenario]:
    """The scenarios a ``scenario run`` asks for: names, ``--all``, ``--file``.

    Names and ``--all`` pick from the library and every ``--dir``.

    Raises:
        errors.InputError: nothing selected (naming what was searched), a name found in
            no folder, an unusable ``--dir``.
        InvalidScenarios: a selected file is invalid.
    """
    if not names and not all_ and not files:
        raise errors.InputError("no scenario selected",
                                hint="name scenarios, pass --all, or --file PATH "
                                     "(`driftscan scenario list` shows the library)")
    folders(dirs)  # an unusable --dir is an error even when only --file selects
    chosen: list[d.Scenario] = []
    if names or all_:
        lib = [s for _, s in discover(dirs)]
        by_name = {s.name: s for s in lib}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise errors.InputError(
                f"unknown scenario{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                hint=f"searched {searched(dirs)}; they have: "
                     f"{', '.join(by_name) or '(nothing)'}")
        chosen = list(lib) if all_ else [by_name[n] for n in dict.fromkeys(names)]
    if files:
        for path in files:
            if not Path(path).is_file():
                raise errors.InputError(f"scenario file {path} does not exist")
        extra = load_files([Path(p) for p in files])
        taken = {s.name for s in chosen}
        clashes = [s for s in extra if s.name in taken]
        if clashes:
            raise errors.InputError(
                f"scenario name {clashes[0].name!r} ({clashes[0].file}) is selected twice",
                hint="give the file another `name`")
        chosen.extend(extra)
    if not chosen:
        # A run of zero scenarios would pass while checking nothing.
        raise errors.InputError(f"no scenarios selected: searched {searched(dirs)}",
                                hint="add scenario *.yaml files, or pass --file PATH")
    return chosen


# --- loading ---------------------------------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    """The scenario JSON Schema (the packaged copy of ``scenarios/schema.json``)."""
    text = (importlib_resources.files("scanner") / "schemas" / "scenario-v1.json").read_text(
        encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_files(paths: Iterable[Path]) -> list[d.Scenario]:
    """Load every file; raise one :class:`InvalidScenarios` listing all problems of all files."""
    found: list[problems.Problem] = []
    result: list[d.Scenario] = []
    seen: dict[str, Path] = {}
    for path in paths:
        scenario, trouble = _load(path)
        found.extend(trouble)
        if scenario is None:
            continue
        if scenario.name in seen:
            found.append(problems.Problem(path, f"name {scenario.name!r} is already used by "
                                                f"{seen[scenario.name]}", field="name"))
            continue
        seen[scenario.name] = path
        result.append(scenario)
    if found:
        raise problems.InvalidScenarios(found)
    return result


def load_file(path: Path) -> d.Scenario:
    """Load one file.

    Raises:
        InvalidScenarios: with every problem the file has.
    """
    return load_files([path])[0]


def _load(path: Path) -> tuple[d.Scenario | None, list[problems.Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, [problems.Problem(path, f"cannot read the file: {e}")]
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [problems.Problem(
            path, f"not valid YAML: {getattr(e, 'problem', None) or e}"
            f"{_placeholder_hint(text, line)}", line=line)]
    if not isinstance(data, dict):
        return None, [problems.Problem(
            path, "the file must hold one YAML mapping (name, steps, expect)")]
    lines = _Lines(root)
    schema_errors = _schema_errors(data)
    found = [_schema_problem(path, e, lines) for e in schema_errors]
    checker = checking.Checker(path, text, data, lines.line, _broken(schema_errors))
    scenario = checker.build()
    found.extend(checker.problems)
    found.sort(key=lambda p: (p.line or 0, p.where, p.field))
    if found:
        return None, found
    return scenario, []


_UNQUOTED = re.compile(r"(?:([A-Za-z_][\w-]*):|-)\s+(\{\{[^}]*\}\}[^,\s}\]]*)")


def _placeholder_hint(text: str, line: int | None) -> str:
    """A hint when an unquoted ``{{ … }}`` placeholder (a YAML flow mapping) broke the file."""
    lines = text.splitlines()
    near = lines[max(0, (line or 1) - 2):line] if line else lines
    for candidate in reversed(near):
        match = _UNQUOTED.search(candidate)
        if match:
            key = f"{match.group(1)}: " if match.group(1) else "- "
            return (f"; a value that starts with {{{{ must be quoted, e.g."
                    f" {key}\"{match.group(2)}\"")
    return ""


# --- schema errors ---------------------------------------------------------------------


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def _schema_errors(data: Mapping[str, Any]) -> list[Any]:
    return sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))


def _broken(schema_errors: Iterable[Any]) -> set[tuple[Any, ...]]:
    """Steps and expectations that break the schema (pass 2 skips them), or the root."""
    out: set[tuple[Any, ...]] = set()
    for e in schema_errors:
        p = list(e.absolute_path)
        if len(p) >= 3 and p[0] in ("steps", "finally"):
            out.add(tuple(p[:3]))  # one field of a step: its other fields are still checked
        elif len(p) >= 2 and p[0] in ("steps", "finally", "expect"):
            out.add(tuple(p[:2]))
        else:
            out.add(tuple(p[:1]) or ("<root>",))
    return out


def _schema_problem(path: Path, error: Any, lines: _Lines) -> problems.Problem:
    p = list(error.absolute_path)
    where, rest = _where(p, lines.data_at(p[:2]))
    field_path = checking.field_path(rest)
    message = _message(error)
    return problems.Problem(path, message, where=where, field=field_path, line=lines.line(p))


def _where(p: list[Any], step: Any) -> tuple[str, list[Any]]:
    if len(p) >= 2 and p[0] in ("steps", "finally") and isinstance(p[1], int):
        return checking.step_label(p[0], p[1], step), p[2:]
    if len(p) >= 2 and p[0] == "expect":
        return f"expect.{p[1]}", p[2:]
    return "", p


def _message(error: Any) -> str:
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        waits = "rollout" in error.schema.get("properties", {})
        keys = checking.WAITS if waits else checking.ACTIONS
        present = [k for k in keys if k in error.instance]
        kind = "a wait" if waits else "a step"
        if not present:
            return f"{kind} needs exactly one of: {', '.join(keys)}"
        return (f"{kind} has several actions ({', '.join(present)}); put each in a step "
                "of its own")
    if error.validator in ("anyOf", "oneOf", "pattern") and custom:
        return f"{error.instance!r} is not {custom}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        close = [(e, m) for e in extra if (m := suggest.closest(str(e), allowed))]
        if len(extra) == 1 and close:
            mean = f"; did you mean {close[0][1]!r}?"
        else:
            mean = ("; did you mean " + ", ".join(f"{m!r} for {e!r}" for e, m in close) + "?"
                    if close else "")
        return (f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}"
                f"{mean}; allowed: {', '.join(allowed)}")
    return str(error.message)


class _Lines:
    """Line numbers of YAML nodes, by data path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def _node(self, p: Sequence[Any]) -> yaml.Node | None:
        node = self.root
        for part in p:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if getattr(k, "value", None) == part),
                            None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if 0 <= part < len(node.value) else None
            else:
                return node
            if node is None:
                return None
        return node

    def line(self, p: Sequence[Any]) -> int | None:
        """1-based line of the deepest node on ``p`` that exists."""
        for depth in range(len(p), -1, -1):
            node = self._node(p[:depth])
            if node is not None:
                return int(node.start_mark.line) + 1
        return None

    def data_at(self, p: Sequence[Any]) -> Any:
        """The plain value at ``p`` (for naming steps), or None."""
        node = self._node(p)
        if node is None:
            return None
        try:
            return yaml.safe_load(yaml.serialize(node))
        except yaml.YAMLError:
            return None

