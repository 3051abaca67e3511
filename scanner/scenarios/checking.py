"""The second validation pass: cross-references a schema cannot express, and the build.

``loading`` validates a file against the JSON Schema, then hands the data to
:class:`Checker`, which turns every step and expectation that passed the schema into
``definitions`` objects and collects what does not fit together: manifest files that do
not exist, do not parse, or hold cluster-scoped or foreign-namespace objects; workloads
and containers that no earlier ``apply`` creates; ``{{ digest:BUILD }}`` for builds not
pushed yet; nodes not added; scan labels without a scan; unknown rule ids; ``clean: true``
next to an expected drift finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scanner import detectors, findings, suggest
from scanner.detectors import rules
from scanner.scenarios import definitions as d
from scanner.scenarios import problems, resources

__all__ = ["ACTIONS", "WAITS", "Checker", "field_path", "step_label"]

_DUMMY_DIGEST = "sha256:" + "0" * 64

ACTIONS = ("apply", "push", "set-image", "scale", "delete-pods", "add-node", "drain-node",
            "pause", "resume", "wait", "sleep", "scan")
WAITS = ("rollout", "pods", "condition", "replicasets")


def step_label(phase: str, index: int, step: Any) -> str:
    """``steps[3] scale 'grow'``: where a step is, its action, and its name."""
    label = f"{phase}[{index}]"
    if isinstance(step, dict):
        actions = [a for a in ACTIONS if a in step]
        if len(actions) == 1:
            label += f" {actions[0]}"
        if isinstance(step.get("name"), str):
            label += f" {step['name']!r}"
    return label


def field_path(rest: Sequence[Any]) -> str:
    """``fires[0].rule`` from a data path inside a step or expectation."""
    out = ""
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out




@dataclass
class _Template:
    """What the scenario's manifests declare about one workload."""

    kind: str
    name: str
    containers: set[str] = field(default_factory=set)


class Checker:
    """Turns validated data into definitions, collecting cross-reference problems."""

    def __init__(self, path: Path, text: str, data: Mapping[str, Any],
                 line_of: Callable[[Sequence[Any]], int | None],
                 broken: set[tuple[Any, ...]]) -> None:
        """Check ``data`` (parsed from ``text`` of ``path``); skip the ``broken`` parts.

        ``line_of(path)`` gives the line of a data path, for problem messages; ``broken``
        holds the steps and expectations that already failed the schema.
        """
        self.path = path
        self.text = text
        self.data = data
        self.line_of = line_of
        self.broken = broken
        self.problems: list[problems.Problem] = []
        self.manifests: dict[Path, str] = {}
        self.workloads: dict[str, _Template] = {}
        self.builds: set[str] = set()
        self.nodes: set[str] = set()
        self.scans: list[str] = []

    def problem(self, p: list[Any], message: str, where: str = "", field_: str = "") -> None:
        """Record a problem at data path ``p``."""
        self.problems.append(problems.Problem(self.path, message, where=where, field=field_,
                                              line=self.line_of(p)))

    def build(self) -> d.Scenario | None:
        """The scenario, or ``None`` when the file has problems (see ``problems``)."""
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
            timeout=(d.parse_duration(timeout) if timeout is not None
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
            if any((phase, i, k) in self.broken for k in ACTIONS if k in item):
                continue
            step = self._step(phase, i, item)
            if step is not None:
                out.append(step)
        return out

    def _step(self, phase: str, i: int, item: Mapping[str, Any]) -> d.Step | None:
        kind = next(a for a in ACTIONS if a in item)
        where = step_label(phase, i, item)
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
                      timeout=d.parse_duration(timeout) if timeout is not None else default,
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
            return d.SetImage(d.WorkloadName.parse(value["workload"]), str(value["container"]),
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
            return d.Sleep(d.parse_duration(value))
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
                             f"{getattr(e, 'strerror', None) or e}", where, field_path(q[3:]))
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
                             "pushed by an earlier step"
                             f"{suggest.did_you_mean(build, self.builds)}", where)
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
                  kinds: Sequence[str] = resources.WORKLOAD_KINDS) -> d.WorkloadName | None:
        w = d.WorkloadName.parse(text)
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
                             f"earlier step{suggest.did_you_mean(str(arg), self.builds)}",
                             where, field_)

    def _wait(self, value: Mapping[str, Any], p: list[Any], where: str) -> d.Wait | None:
        kind = next(k for k in WAITS if k in value)
        v = value[kind]
        q = p + [kind]
        if kind == "rollout":
            w = self._workload(v, q, where, "rollout")
            return d.WaitRollout(w) if w else None
        if kind == "pods":
            build = v.get("build")
            if build is not None and build not in self.builds:
                self.problem(q + ["build"], f"build {build!r} is not pushed by an earlier step"
                             f"{suggest.did_you_mean(str(build), self.builds)}",
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
                             f"{', '.join(self.scans) or 'none'})"
                             f"{suggest.did_you_mean(str(label), self.scans)}", where)
            fires = []
            for j, f in enumerate(spec.get("fires") or []):
                q = p + ["fires", j]
                if f["rule"] not in known:
                    self.problem(q + ["rule"], f"unknown rule {f['rule']!r} (see `driftscan "
                                 f"rules`){suggest.did_you_mean(str(f['rule']), known)}",
                                 where, f"fires[{j}].rule")
                    continue
                if spec.get("clean") is True and known[f["rule"]].drift:
                    self.problem(q, f"clean: true contradicts expecting {f['rule']} to fire",
                                 where, f"fires[{j}]")
                fires.append(d.Fires(
                    rule=f["rule"], workload=d.WorkloadName.parse(f["workload"]),
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
                                 f"rules`){suggest.did_you_mean(str(a['rule']), known)}",
                                 where, f"absent[{j}].rule")
                if a.get("container") and not a.get("workload"):
                    self.problem(q, "`container` needs `workload`", where, f"absent[{j}]")
                absent.append(d.Absent(
                    rule=a.get("rule"),
                    workload=d.WorkloadName.parse(a["workload"]) if a.get("workload") else None,
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


def _known_rules() -> dict[str, rules.Rule]:
    """Every rule expectations may name, by id."""
    return {r.id: r for r in detectors.RULES.rules()}
