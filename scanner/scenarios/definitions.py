"""What a scenario file says, as typed, immutable data: steps, waits and expectations.

``loading`` builds these from YAML after validating it against the scenario schema;
``steps``, ``expectations`` and ``running`` read them. Nothing here does I/O. Image
references and manifests keep their ``{{ … }}`` placeholders; :func:`substitute` fills
them in at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from scanner import errors, findings

__all__ = [
    "Absent",
    "Action",
    "AddNode",
    "Apply",
    "Count",
    "DeletePods",
    "DrainNode",
    "Fires",
    "MUTATING",
    "Pause",
    "Push",
    "Resume",
    "Scale",
    "Scan",
    "ScanExpectation",
    "Scenario",
    "SetImage",
    "Sleep",
    "Step",
    "Values",
    "Wait",
    "WaitCondition",
    "WaitPods",
    "WaitReplicaSets",
    "WaitRollout",
    "WorkloadName",
    "parse_duration",
    "placeholders",
    "substitute",
]

DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_STEP_TIMEOUT = 60.0
DEFAULT_SCENARIO_TIMEOUT = 300.0


@dataclass(frozen=True)
class WorkloadName:
    """``Kind/name`` of a workload in the scenario's namespace."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> WorkloadName:
        """``Deployment/userservice`` → ``WorkloadName("Deployment", "userservice")``."""
        kind, _, name = text.partition("/")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


# --- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Apply:
    """Create or update every object in the manifest files (server-side apply)."""

    files: tuple[Path, ...]
    """Absolute paths (relative ones resolved against the scenario file's folder)."""
    shown: tuple[str, ...]
    """The paths as the scenario file writes them."""

    def describe(self) -> str:
        """One line for logs."""
        return "apply " + ", ".join(self.shown)


@dataclass(frozen=True)
class Push:
    """Publish ``build`` as ``repository:tag`` (re-pushing a tag moves it)."""

    repository: str
    tag: str
    build: str

    def describe(self) -> str:
        """One line for logs."""
        return f"push build {self.build} as {self.repository}:{self.tag}"


@dataclass(frozen=True)
class SetImage:
    """Change one container's image in a workload's pod template."""

    workload: WorkloadName
    container: str
    image: str

    def describe(self) -> str:
        """One line for logs."""
        return f"set image of {self.workload} container {self.container} to {self.image}"


@dataclass(frozen=True)
class Scale:
    """Set a workload's ``spec.replicas``."""

    workload: WorkloadName
    replicas: int

    def describe(self) -> str:
        """One line for logs."""
        return f"scale {self.workload} to {self.replicas}"


@dataclass(frozen=True)
class DeletePods:
    """Delete ``count`` matching pods (all when ``None``), oldest first."""

    selector: str
    count: int | None

    def describe(self) -> str:
        """One line for logs."""
        many = "all pods" if self.count is None else f"{self.count} pod(s)"
        return f"delete {many} matching {self.selector}"


@dataclass(frozen=True)
class AddNode:
    """Add a node; ``name`` is the scenario's own name for it."""

    name: str

    def describe(self) -> str:
        """One line for logs."""
        return f"add node {self.name}"


@dataclass(frozen=True)
class DrainNode:
    """Cordon a node and evict the scenario's pods from it."""

    node: str | None
    hosting: str | None

    def describe(self) -> str:
        """One line for logs."""
        if self.node is not None:
            return f"drain node {self.node}"
        return f"drain the node running most pods matching {self.hosting}"


@dataclass(frozen=True)
class Pause:
    """Set ``spec.paused: true`` on a Deployment."""

    workload: WorkloadName

    def describe(self) -> str:
        """One line for logs."""
        return f"pause {self.workload}"


@dataclass(frozen=True)
class Resume:
    """Set ``spec.paused: false`` on a Deployment."""

    workload: WorkloadName

    def describe(self) -> str:
        """One line for logs."""
        return f"resume {self.workload}"


@dataclass(frozen=True)
class WaitRollout:
    """The workload's rollout is complete."""

    workload: WorkloadName

    def describe(self) -> str:
        """One line for logs."""
        return f"wait for the rollout of {self.workload}"


@dataclass(frozen=True)
class WaitPods:
    """At least ``count`` live pods match, in ``state``, running ``build`` when given."""

    selector: str
    count: int
    state: str = "ready"
    build: str | None = None

    def describe(self) -> str:
        """One line for logs."""
        what = "ready" if self.state == "ready" else "in a pull error"
        build = f" running build {self.build}" if self.build else ""
        return f"wait for {self.count} pod(s) matching {self.selector} {what}{build}"


@dataclass(frozen=True)
class WaitCondition:
    """A workload's status condition has ``status`` (and ``reason``)."""

    workload: WorkloadName
    type: str
    status: str
    reason: str | None = None

    def describe(self) -> str:
        """One line for logs."""
        reason = f"/{self.reason}" if self.reason else ""
        return f"wait for {self.workload} condition {self.type}={self.status}{reason}"


@dataclass(frozen=True)
class WaitReplicaSets:
    """A Deployment's ReplicaSets: how many hold pods, or what one revision holds."""

    workload: WorkloadName
    holding: int | None = None
    revision: int | None = None
    replicas: int | None = None
    available: int | None = None

    def describe(self) -> str:
        """One line for logs."""
        parts = []
        if self.holding is not None:
            parts.append(f"{self.holding} ReplicaSet(s) holding pods")
        if self.revision is not None:
            wanted = []
            if self.replicas is not None:
                wanted.append(f"{self.replicas} replicas")
            if self.available is not None:
                wanted.append(f"≥{self.available} available")
            parts.append(f"revision {self.revision} with {' and '.join(wanted)}")
        return f"wait for {self.workload}: {'; '.join(parts)}"


Wait: TypeAlias = WaitRollout | WaitPods | WaitCondition | WaitReplicaSets


@dataclass(frozen=True)
class Sleep:
    """Do nothing for ``seconds``."""

    seconds: float

    def describe(self) -> str:
        """One line for logs."""
        return f"sleep {self.seconds:g}s"


@dataclass(frozen=True)
class Scan:
    """Scan the scenario's namespace; the result is checked against ``expect[label]``."""

    label: str

    def describe(self) -> str:
        """One line for logs."""
        return f"scan {self.label}"


Action: TypeAlias = (
    Apply | Push | SetImage | Scale | DeletePods | AddNode | DrainNode | Pause | Resume
    | WaitRollout | WaitPods | WaitCondition | WaitReplicaSets | Sleep | Scan
)

ACTION_NAMES: Mapping[type, str] = {
    Apply: "apply", Push: "push", SetImage: "set-image", Scale: "scale",
    DeletePods: "delete-pods", AddNode: "add-node", DrainNode: "drain-node", Pause: "pause",
    Resume: "resume", WaitRollout: "wait", WaitPods: "wait", WaitCondition: "wait",
    WaitReplicaSets: "wait", Sleep: "sleep", Scan: "scan",
}
"""The YAML key of each action."""

MUTATING = (Apply, Push, SetImage, Scale, DeletePods, AddNode, DrainNode, Pause, Resume)
"""Actions that change the cluster or its registry (candidates for "the injection")."""


@dataclass(frozen=True)
class Step:
    """One entry of ``steps`` or ``finally``."""

    index: int
    """Position in its list, from 0."""
    phase: str
    """``steps`` or ``finally``."""
    action: Action
    name: str | None = None
    timeout: float = DEFAULT_STEP_TIMEOUT
    inject: bool = False

    @property
    def kind(self) -> str:
        """The YAML key of the action (``scale``, ``wait``, …)."""
        return ACTION_NAMES[type(self.action)]

    @property
    def path(self) -> str:
        """``steps[3]`` — where the step sits in the file."""
        return f"{self.phase}[{self.index}]"

    def describe(self) -> str:
        """The step's name, or a one-line description of its action."""
        return self.name or self.action.describe()


# --- expectations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """An exact count (``min == max``) or a range; ``None`` bounds are open."""

    min: int | None = None
    max: int | None = None

    def holds(self, value: int) -> bool:
        """True when ``value`` lies within the bounds."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def __str__(self) -> str:
        if self.min is not None and self.min == self.max:
            return str(self.min)
        if self.max is None:
            return f"≥{self.min}"
        if self.min is None:
            return f"≤{self.max}"
        return f"{self.min}–{self.max}"

    def to_json(self) -> int | dict[str, int]:
        """The form the scenario file uses."""
        if self.min is not None and self.min == self.max:
            return self.min
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}


@dataclass(frozen=True)
class Fires:
    """A finding that must be in the scan."""

    rule: str
    workload: WorkloadName
    container: str | None = None
    severity: findings.Severity | None = None
    """Minimum severity."""
    digests: Count | None = None
    revisions: Count | None = None

    def describe(self) -> str:
        """``digest-drift on Deployment/userservice (severity ≥ high, 2 digests)``."""
        where = f"{self.workload}" + (f" container {self.container}" if self.container else "")
        extra = []
        if self.severity is not None:
            extra.append(f"severity ≥ {self.severity.value}")
        if self.digests is not None:
            extra.append(f"digests {self.digests}")
        if self.revisions is not None:
            extra.append(f"revisions {self.revisions}")
        return f"{self.rule} on {where}" + (f" ({', '.join(extra)})" if extra else "")

    def to_json(self) -> dict[str, Any]:
        """The expectation as the scenario file writes it."""
        out: dict[str, Any] = {"rule": self.rule, "workload": str(self.workload)}
        if self.container:
            out["container"] = self.container
        if self.severity is not None:
            out["severity"] = self.severity.value
        if self.digests is not None:
            out["digests"] = self.digests.to_json()
        if self.revisions is not None:
            out["revisions"] = self.revisions.to_json()
        return out


@dataclass(frozen=True)
class Absent:
    """A finding that must not be in the scan (rule, workload, or both)."""

    rule: str | None = None
    workload: WorkloadName | None = None
    container: str | None = None

    def describe(self) -> str:
        """``no digest-drift on Deployment/frontend``."""
        rule = self.rule or "drift finding"
        where = f" on {self.workload}" if self.workload else " anywhere"
        container = f" container {self.container}" if self.container else ""
        return f"no {rule}{where}{container}"

    def to_json(self) -> dict[str, Any]:
        """The expectation as the scenario file writes it."""
        out: dict[str, Any] = {}
        if self.rule:
            out["rule"] = self.rule
        if self.workload:
            out["workload"] = str(self.workload)
        if self.container:
            out["container"] = self.container
        return out


@dataclass(frozen=True)
class ScanExpectation:
    """What the scan labelled ``label`` must (and must not) find."""

    label: str
    fires: tuple[Fires, ...] = ()
    absent: tuple[Absent, ...] = ()
    clean: bool | None = None


# --- scenario --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One scenario file, validated."""

    name: str
    file: Path
    title: str
    description: str
    steps: tuple[Step, ...]
    finally_steps: tuple[Step, ...] = ()
    expect: Mapping[str, ScanExpectation] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    min_nodes: int = 1
    timeout: float = DEFAULT_SCENARIO_TIMEOUT
    source: Mapping[str, Any] = field(default_factory=dict)
    """The parsed YAML, for the journal."""
    source_text: str = ""
    """The file's text, for the journal (a run stays reproducible from its journal)."""
    manifests: Mapping[Path, str] = field(default_factory=dict)
    """Text of every manifest file the scenario applies, placeholders intact."""

    @property
    def all_steps(self) -> tuple[Step, ...]:
        """``steps`` then ``finally``."""
        return self.steps + self.finally_steps

    def scan_labels(self) -> list[str]:
        """Labels of the scan steps, in order."""
        return [s.action.label for s in self.steps if isinstance(s.action, Scan)]

    def needs_nodes(self) -> bool:
        """True when a step adds or drains nodes (not every provider can)."""
        return any(isinstance(s.action, AddNode | DrainNode) for s in self.all_steps)


# --- placeholders ----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*([a-z]+)(?:\s*:\s*([A-Za-z0-9._-]+))?\s*\}\}")
"""``{{ registry }}``, ``{{ namespace }}``, ``{{ digest:BUILD }}``."""
PLAIN_NAMES = ("registry", "namespace")


@dataclass(frozen=True)
class Values:
    """What the placeholders stand for in one run of one scenario."""

    registry: str
    namespace: str
    digests: Mapping[str, str] = field(default_factory=dict)
    """Build name → digest, for the builds pushed so far."""


def placeholders(text: str) -> list[tuple[str, str | None]]:
    """Every ``{{ name }}`` / ``{{ name:arg }}`` in ``text``, in order."""
    return [(m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(text)]


def substitute(text: str, values: Values) -> str:
    """Replace the placeholders in ``text``: plain string substitution, nothing evaluated.

    Raises:
        errors.ScenarioFailed: a ``{{ digest:BUILD }}`` names a build not pushed yet, or
            the placeholder is unknown (``loading`` rejects both, so this means a bug).
    """
    def one(m: re.Match[str]) -> str:
        name, arg = m.group(1), m.group(2)
        if name == "registry" and arg is None:
            return values.registry
        if name == "namespace" and arg is None:
            return values.namespace
        if name == "digest" and arg is not None:
            if arg not in values.digests:
                raise errors.ScenarioFailed(
                    f"{{{{ digest:{arg} }}}}: build {arg!r} has not been pushed yet",
                    hint="push the build in an earlier step")
            return values.digests[arg]
        raise errors.ScenarioFailed(f"unknown placeholder {m.group(0)!r}")

    return PLACEHOLDER.sub(one, text)


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
