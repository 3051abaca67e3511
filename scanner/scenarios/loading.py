"""Read scenario files, validate them, and build ``definitions.Scenario`` objects.

Called by the CLI (``scenario list`` / ``scenario run``) and by tests. A file is checked
in two passes and every problem is collected before anything is raised:

1. the JSON Schema (``scenarios/schema.json``; the packaged copy
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
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from scanner import detectors, errors, findings
from scanner.scenarios import definitions as d
from scanner.scenarios import resources

__all__ = [
    "InvalidScenarios",
    "Problem",
    "library",
    "library_dir",
    "library_files",
    "load_file",
    "load_files",
    "parse_duration",
    "schema",
    "select",
]

SCHEMA_COMMENT = "# yaml-language-server: $schema="
EXTRA_RULES = ("latent-drift",)
"""Rules that exist but are not in the default detector registry (``--registry-check``)."""
NON_DRIFT_FAMILIES = frozenset({"tags"})
"""Rule families that describe tag hygiene, not drift; ``clean: true`` allows them."""
_DUMMY_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: Path
    message: str
    where: str = ""
    """``steps[3] scale "grow"`` or ``expect.after-scale-up``; empty for the whole file."""
    field: str = ""
    """Path inside ``where``: ``replicas``, ``fires[0].rule``."""
    line: int | None = None

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        parts = [p for p in (self.where, self.field) if p]
        return f"{location}: {': '.join([*parts, self.message])}"


class InvalidScenarios(errors.ScenarioInvalid):
    """Scenario files break the schema or refer to things that do not exist."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        files = sorted({str(p.file) for p in problems})
        head = (f"scenario file {files[0]} is invalid" if len(files) == 1
                else f"{len(files)} scenario files are invalid")
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{head} ({count}):\n{lines}",
                         hint="fix the fields named above; docs/scenarios.md describes each")
        self.problems = tuple(problems)


# --- discovery -------------------------------------------------------------------------


def library_dir() -> Path:
    """The scenario library: ``DRIFTSCAN_SCENARIOS_DIR``, else ``scenarios/`` of the checkout."""
    env = os.environ.get("DRIFTSCAN_SCENARIOS_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "scenarios"
    return checkout if checkout.is_dir() else Path("scenarios").resolve()


def library_files(directory: Path | None = None) -> list[Path]:
    """Every ``*.yaml`` directly in the library folder, sorted by file name."""
    folder = directory or library_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def library(directory: Path | None = None) -> list[d.Scenario]:
    """Load and validate the whole library."""
    return load_files(library_files(directory))


def select(names: Sequence[str], *, all_: bool, files: Sequence[str],
           directory: Path | None = None) -> list[d.Scenario]:
    """The scenarios a ``scenario run`` asks for: library names, ``--all``, ``--file``.

    Raises:
        errors.InputError: nothing selected, or a name not in the library.
        InvalidScenarios: a selected file is invalid.
    """
    if not names and not all_ and not files:
        raise errors.InputError("no scenario selected",
                                hint="name scenarios, pass --all, or --file PATH "
                                     "(`driftscan scenario list` shows the library)")
    chosen: list[d.Scenario] = []
    if names or all_:
        lib = library(directory)
        by_name = {s.name: s for s in lib}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise errors.InputError(
                f"unknown scenario{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                hint=f"the library has: {', '.join(by_name) or '(nothing)'}")
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
    problems: list[Problem] = []
    result: list[d.Scenario] = []
    seen: dict[str, Path] = {}
    for path in paths:
        scenario, found = _load(path)
        problems.extend(found)
        if scenario is None:
            continue
        if scenario.name in seen:
            problems.append(Problem(path, f"name {scenario.name!r} is already used by "
                                          f"{seen[scenario.name]}", field="name"))
            continue
        seen[scenario.name] = path
        result.append(scenario)
    if problems:
        raise InvalidScenarios(problems)
    return result


def load_file(path: Path) -> d.Scenario:
    """Load one file.

    Raises:
        InvalidScenarios: with every problem the file has.
    """
    return load_files([path])[0]


def parse_duration(value: float | int | str) -> float:
    """Seconds from ``30``, ``2.5``, ``"500ms"``, ``"30s"`` or ``"2m"``.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"not a positive duration: {value!r}")
        return float(value)
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m)", value.strip())
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    number = float(m.group(1))
    return number / 1000 if m.group(2) == "ms" else number * (60 if m.group(2) == "m" else 1)


def _load(path: Path) -> tuple[d.Scenario | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(path, f"cannot read the file: {e}")]
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [Problem(path, f"not valid YAML: {getattr(e, 'problem', None) or e}",
                              line=line)]
    if not isinstance(data, dict):
        return None, [Problem(path, "the file must hold one YAML mapping (name, steps, expect)")]
    lines = _Lines(root)
    schema_errors = _schema_errors(data)
    problems = [_schema_problem(path, e, lines) for e in schema_errors]
    builder = _Builder(path, text, data, lines, _broken(schema_errors))
    scenario = builder.build()
    problems.extend(builder.problems)
    problems.sort(key=lambda p: (p.line or 0, p.where, p.field))
    if problems:
        return None, problems
    return scenario, []


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


_ACTIONS = ("apply", "push", "set-image", "scale", "delete-pods", "add-node", "drain-node",
            "pause", "resume", "wait", "sleep", "scan")
_WAITS = ("rollout", "pods", "condition", "replicasets")


def _schema_problem(path: Path, error: Any, lines: _Lines) -> Problem:
    p = list(error.absolute_path)
    where, rest = _where(p, lines.data_at(p[:2]))
    field_path = _field(rest)
    message = _message(error)
    return Problem(path, message, where=where, field=field_path, line=lines.line(p))


def _where(p: list[Any], step: Any) -> tuple[str, list[Any]]:
    if len(p) >= 2 and p[0] in ("steps", "finally") and isinstance(p[1], int):
        return _step_label(p[0], p[1], step), p[2:]
    if len(p) >= 2 and p[0] == "expect":
        return f"expect.{p[1]}", p[2:]
    return "", p


def _step_label(phase: str, index: int, step: Any) -> str:
    label = f"{phase}[{index}]"
    if isinstance(step, dict):
        actions = [a for a in _ACTIONS if a in step]
        if len(actions) == 1:
            label += f" {actions[0]}"
        if isinstance(step.get("name"), str):
            label += f" {step['name']!r}"
    return label


def _field(rest: Sequence[Any]) -> str:
    out = ""
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any) -> str:
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        keys = _WAITS if "rollout" in error.schema.get("properties", {}) else _ACTIONS
        present = [k for k in keys if k in error.instance]
        kind = "a wait" if keys is _WAITS else "a step"
        if not present:
            return f"{kind} needs exactly one of: {', '.join(keys)}"
        return (f"{kind} has several actions ({', '.join(present)}); put each in a step "
                "of its own")
    if error.validator in ("anyOf", "oneOf", "pattern") and custom:
        return f"{error.instance!r} is not {custom}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}"
                f"; allowed: {', '.join(allowed)}")
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


# --- pass 2: build and cross-check ----------------------------------------------------


@dataclass
class _Template:
    """What the scenario's manifests declare about one workload."""

    kind: str
    name: str
    containers: set[str] = field(default_factory=set)


class _Builder:
    """Turns validated data into definitions, collecting cross-reference problems."""

    def __init__(self, path: Path, text: str, data: Mapping[str, Any], lines: _Lines,
                 broken: set[tuple[Any, ...]]) -> None:
        self.path = path
        self.text = text
        self.data = data
        self.lines = lines
        self.broken = broken
        self.problems: list[Problem] = []
        self.manifests: dict[Path, str] = {}
        self.workloads: dict[str, _Template] = {}
        self.builds: set[str] = set()
        self.nodes: set[str] = set()
        self.scans: list[str] = []

    def problem(self, p: list[Any], message: str, where: str = "", field_: str = "") -> None:
        self.problems.append(Problem(self.path, message, where=where, field=field_,
                                     line=self.lines.line(p)))

    def build(self) -> d.Scenario | None:
        root_broken = any(len(b) == 1 for b in self.broken)
        steps = self._steps("steps")
        finally_steps = self._steps("finally")
        expect = self._expectations()
        if root_broken or self.problems or any(len(b) >= 2 for b in self.broken):
            return None
        data = self.data
        name = str(data["name"])
        timeout = data.get("timeout")
        return d.Scenario(
            name=name,
            file=self.path.resolve(),
            title=str(data.get("title") or name),
            description=str(data.get("description") or "").strip(),
            steps=tuple(steps),
            finally_steps=tuple(finally_steps),
            expect=expect,
            tags=tuple(data.get("tags") or ()),
            min_nodes=int((data.get("requires") or {}).get("nodes", 1)),
            timeout=(parse_duration(timeout) if timeout is not None
                     else d.DEFAULT_SCENARIO_TIMEOUT),
            source=dict(data),
            source_text=self.text,
            manifests=dict(self.manifests),
        )

    # steps

    def _steps(self, phase: str) -> list[d.Step]:
        raw = self.data.get(phase)
        if not isinstance(raw, list):
            return []
        out = []
        for i, item in enumerate(raw):
            if (phase, i) in self.broken or not isinstance(item, dict):
                continue
            if any((phase, i, k) in self.broken for k in _ACTIONS if k in item):
                continue
            step = self._step(phase, i, item)
            if step is not None:
                out.append(step)
        return out

    def _step(self, phase: str, i: int, item: Mapping[str, Any]) -> d.Step | None:
        kind = next(a for a in _ACTIONS if a in item)
        where = _step_label(phase, i, item)
        p: list[Any] = [phase, i, kind]
        before = len(self.problems)
        action = self._action(kind, item[kind], p, where, phase)
        if action is None or len(self.problems) > before:
            return None
        is_wait = isinstance(action, d.WaitRollout | d.WaitPods | d.WaitCondition
                             | d.WaitReplicaSets)
        default = d.DEFAULT_WAIT_TIMEOUT if is_wait else d.DEFAULT_STEP_TIMEOUT
        if isinstance(action, d.Sleep):
            default = action.seconds + 5
        timeout = item.get("timeout") if (phase, i, "timeout") not in self.broken else None
        return d.Step(index=i, phase=phase, action=action,
                      name=str(item["name"]) if item.get("name") else None,
                      timeout=parse_duration(timeout) if timeout is not None else default,
                      inject=bool(item.get("inject", False)))

    def _action(self, kind: str, value: Any, p: list[Any], where: str,
                phase: str) -> d.Action | None:
        if kind == "apply":
            return self._apply(value, p, where)
        if kind == "push":
            self._check_text(value["repository"], p + ["repository"], where, "repository",
                             digests=False)
            self.builds.add(str(value["build"]))
            return d.Push(str(value["repository"]), str(value["tag"]), str(value["build"]))
        if kind == "set-image":
            w = self._workload(value["workload"], p + ["workload"], where, "workload")
            if w is not None and value["container"] not in self.workloads[str(w)].containers:
                known = ", ".join(sorted(self.workloads[str(w)].containers))
                self.problem(p + ["container"], f"{w} has no container {value['container']!r}"
                             f" (its containers: {known})", where, "container")
            self._check_text(value["image"], p + ["image"], where, "image")
            return d.SetImage(d.Workload.parse(value["workload"]), str(value["container"]),
                              str(value["image"])) if w else None
        if kind == "scale":
            w = self._workload(value["workload"], p + ["workload"], where, "workload",
                               kinds=("Deployment", "StatefulSet"))
            return d.Scale(w, int(value["replicas"])) if w else None
        if kind == "delete-pods":
            count = value.get("count")
            return d.DeletePods(str(value["selector"]), int(count) if count else None)
        if kind == "add-node":
            name = str(value if isinstance(value, str) else value["name"])
            if name in self.nodes:
                self.problem(p, f"node {name!r} is added twice", where)
            self.nodes.add(name)
            return d.AddNode(name)
        if kind == "drain-node":
            node = value.get("node")
            if node is not None and node not in self.nodes:
                self.problem(p + ["node"], f"node {node!r} is not added by an earlier add-node "
                             "step (drain a node you added, or use `hosting: SELECTOR`)",
                             where, "node")
            return d.DrainNode(node, value.get("hosting"))
        if kind in ("pause", "resume"):
            w = self._workload(value, p, where, "", kinds=("Deployment",))
            if w is None:
                return None
            return d.Pause(w) if kind == "pause" else d.Resume(w)
        if kind == "wait":
            return self._wait(value, p, where)
        if kind == "sleep":
            return d.Sleep(parse_duration(value))
        if kind == "scan":
            if phase != "steps":
                self.problem(p, "scan steps belong in `steps`, not in `finally`", where)
                return None
            if value in self.scans:
                self.problem(p, f"scan label {value!r} is used twice", where)
            self.scans.append(str(value))
            return d.Scan(str(value))
        raise AssertionError(kind)

    def _apply(self, value: Any, p: list[Any], where: str) -> d.Apply | None:
        shown = [value] if isinstance(value, str) else list(value)
        files = []
        for j, name in enumerate(shown):
            q = p if isinstance(value, str) else p + [j]
            f = (self.path.parent / name).resolve()
            files.append(f)
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                self.problem(q, f"cannot read manifest {name}: "
                             f"{getattr(e, 'strerror', None) or e}", where, _field(q[3:]))
                continue
            self.manifests[f] = text
            self._check_manifest(name, text, q, where)
        return d.Apply(tuple(files), tuple(shown))

    def _check_manifest(self, name: str, text: str, p: list[Any], where: str) -> None:
        bad = [m for m in d.placeholders(text) if not _known_placeholder(m)]
        for m in bad:
            self.problem(p, f"manifest {name}: unknown placeholder "
                         f"{{{{ {m[0]}{':' + m[1] if m[1] else ''} }}}}; use {{{{ registry }}}}, "
                         "{{ namespace }} or {{ digest:BUILD }}", where)
        for _, build in (m for m in d.placeholders(text) if m[0] == "digest"):
            if build is not None and build not in self.builds:
                self.problem(p, f"manifest {name}: {{{{ digest:{build} }}}} names a build not "
                             "pushed by an earlier step", where)
        dummy = d.Values("registry.invalid:5000", "ns", _AnyDigest())
        filled = d.PLACEHOLDER.sub(
            lambda m: d.substitute(m.group(0), dummy)
            if _known_placeholder((m.group(1), m.group(2))) else "placeholder", text)
        try:
            docs = [doc for doc in yaml.safe_load_all(filled) if doc is not None]
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            self.problem(p, f"manifest {name} is not valid YAML{at}: "
                         f"{getattr(e, 'problem', None) or e}", where)
            return
        for k, doc in enumerate(docs):
            label = f"manifest {name} document {k + 1}"
            if not isinstance(doc, dict):
                self.problem(p, f"{label} is not a mapping", where)
                continue
            kind = doc.get("kind")
            meta: dict[str, Any] = (doc["metadata"] if isinstance(doc.get("metadata"), dict)
                                    else {})
            obj_name = meta.get("name")
            if kind not in resources.KINDS:
                self.problem(p, f"{label}: kind {kind!r} cannot be applied (namespaced kinds "
                             f"only: {', '.join(sorted(resources.KINDS))})", where)
                continue
            if doc.get("apiVersion") != resources.KINDS[kind].api_version:
                self.problem(p, f"{label}: {kind} needs apiVersion "
                             f"{resources.KINDS[kind].api_version}, not {doc.get('apiVersion')!r}",
                             where)
            if not isinstance(obj_name, str) or not obj_name:
                self.problem(p, f"{label}: {kind} has no metadata.name", where)
                continue
            if meta.get("namespace") not in (None, "ns"):
                self.problem(p, f"{label}: {kind}/{obj_name} sets metadata.namespace; leave it "
                             "out (or write {{ namespace }}): scenarios run in their own "
                             "namespace", where)
            if kind in resources.WORKLOAD_KINDS:
                spec = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {})
                names = {str(c.get("name")) for key in ("containers", "initContainers")
                         for c in spec.get(key) or [] if isinstance(c, dict)}
                self.workloads[f"{kind}/{obj_name}"] = _Template(kind, obj_name, names)

    def _workload(self, text: str, p: list[Any], where: str, field_: str,
                  kinds: Sequence[str] = resources.WORKLOAD_KINDS) -> d.Workload | None:
        w = d.Workload.parse(text)
        if w.kind not in kinds:
            self.problem(p, f"{text}: this step works on {' or '.join(kinds)} only", where,
                         field_)
            return None
        if text not in self.workloads:
            known = ", ".join(sorted(self.workloads)) or "none yet"
            self.problem(p, f"{text} is not created by an earlier apply step (applied so far: "
                         f"{known})", where, field_)
            return None
        return w

    def _check_text(self, text: str, p: list[Any], where: str, field_: str,
                    digests: bool = True) -> None:
        for name, arg in d.placeholders(text):
            if not _known_placeholder((name, arg)) or (name == "digest" and not digests):
                self.problem(p, f"unknown placeholder in {text!r}", where, field_)
            elif name == "digest" and arg not in self.builds:
                self.problem(p, f"{{{{ digest:{arg} }}}} names a build not pushed by an "
                             "earlier step", where, field_)

    def _wait(self, value: Mapping[str, Any], p: list[Any], where: str) -> d.Wait | None:
        kind = next(k for k in _WAITS if k in value)
        v = value[kind]
        q = p + [kind]
        if kind == "rollout":
            w = self._workload(v, q, where, "rollout")
            return d.WaitRollout(w) if w else None
        if kind == "pods":
            build = v.get("build")
            if build is not None and build not in self.builds:
                self.problem(q + ["build"], f"build {build!r} is not pushed by an earlier step",
                             where, "pods.build")
            return d.WaitPods(str(v["selector"]), int(v["count"]), str(v.get("state", "ready")),
                              str(build) if build is not None else None)
        if kind == "condition":
            w = self._workload(v["workload"], q + ["workload"], where, "condition.workload")
            return d.WaitCondition(w, str(v["type"]), str(v["status"]),
                                   str(v["reason"]) if v.get("reason") else None) if w else None
        w = self._workload(v["workload"], q + ["workload"], where, "replicasets.workload",
                           kinds=("Deployment",))
        if "revision" in v and "replicas" not in v and "available" not in v:
            self.problem(q, "`revision` needs `replicas` or `available`", where, "replicasets")
        if ("replicas" in v or "available" in v) and "revision" not in v:
            self.problem(q, "`replicas` and `available` need `revision`", where, "replicasets")
        if w is None:
            return None
        return d.WaitReplicaSets(w, v.get("holding"), v.get("revision"), v.get("replicas"),
                                 v.get("available"))

    # expectations

    def _expectations(self) -> dict[str, d.ScanExpectation]:
        raw = self.data.get("expect")
        out: dict[str, d.ScanExpectation] = {}
        if not isinstance(raw, dict):
            return out
        known = _known_rules()
        for label, spec in raw.items():
            p: list[Any] = ["expect", label]
            where = f"expect.{label}"
            if ("expect", label) in self.broken or not isinstance(spec, dict):
                continue
            if label not in self.scans:
                self.problem(p, f"no scan step has the label {label!r} (scans: "
                             f"{', '.join(self.scans) or 'none'})", where)
            fires = []
            for j, f in enumerate(spec.get("fires") or []):
                q = p + ["fires", j]
                if f["rule"] not in known:
                    self.problem(q + ["rule"], f"unknown rule {f['rule']!r} (see `driftscan "
                                 "rules`)", where, f"fires[{j}].rule")
                    continue
                if spec.get("clean") is True and known[f["rule"]] not in NON_DRIFT_FAMILIES:
                    self.problem(q, f"clean: true contradicts expecting {f['rule']} to fire",
                                 where, f"fires[{j}]")
                fires.append(d.Fires(
                    rule=f["rule"], workload=d.Workload.parse(f["workload"]),
                    container=f.get("container"),
                    severity=findings.Severity(f["severity"]) if f.get("severity") else None,
                    digests=self._count(f.get("digests"), q + ["digests"], where,
                                        f"fires[{j}].digests"),
                    revisions=self._count(f.get("revisions"), q + ["revisions"], where,
                                          f"fires[{j}].revisions")))
            absent = []
            for j, a in enumerate(spec.get("absent") or []):
                q = p + ["absent", j]
                if a.get("rule") is not None and a["rule"] not in known:
                    self.problem(q + ["rule"], f"unknown rule {a['rule']!r} (see `driftscan "
                                 "rules`)", where, f"absent[{j}].rule")
                if a.get("container") and not a.get("workload"):
                    self.problem(q, "`container` needs `workload`", where, f"absent[{j}]")
                absent.append(d.Absent(
                    rule=a.get("rule"),
                    workload=d.Workload.parse(a["workload"]) if a.get("workload") else None,
                    container=a.get("container")))
            out[label] = d.ScanExpectation(label, tuple(fires), tuple(absent), spec.get("clean"))
        return out

    def _count(self, value: Any, p: list[Any], where: str, field_: str) -> d.Count | None:
        if value is None:
            return None
        if isinstance(value, int):
            return d.Count(value, value)
        count = d.Count(value.get("min"), value.get("max"))
        if count.min is not None and count.max is not None and count.min > count.max:
            self.problem(p, f"min {count.min} is greater than max {count.max}", where, field_)
        return count


class _AnyDigest(dict[str, str]):
    """Stands in for every build's digest while manifests are checked."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return _DUMMY_DIGEST


def _known_placeholder(m: tuple[str, str | None]) -> bool:
    name, arg = m
    return (name in d.PLAIN_NAMES and arg is None) or (name == "digest" and arg is not None)


def _known_rules() -> dict[str, str]:
    """Rule id → family, for every rule expectations may name."""
    out = {r.id: r.family for r in detectors.REGISTRY.rules()}
    for extra in EXTRA_RULES:
        out.setdefault(extra, "registry")
    return out
