"""What happened during a scenario run: steps, scans, expectation results, cleanup.

``running`` fills these records as it goes and hands them to observers; ``journal`` and
``junit`` turn them into files, ``terminal`` into lines. Two things are kept apart, as in
chaostoolkit's journal: the **status** says whether the run could be carried out
(``completed``, ``failed``, ``aborted``, ``interrupted``); **deviated** says whether
detection missed what the scenario expects. A completed, non-deviated scenario passed.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from scanner import exits
from scanner.report import document as report_model
from scanner.scenarios import definitions as d

__all__ = [
    "BuildRecord",
    "CleanupRecord",
    "ExpectationResult",
    "RunRecord",
    "ScanRecord",
    "ScenarioRecord",
    "Status",
    "StepRecord",
    "StepStatus",
]


class Status(enum.StrEnum):
    """Whether a scenario (or the run) could be carried out — not whether detection worked."""

    COMPLETED = "completed"
    """Every step ran; the expectations were checked."""
    FAILED = "failed"
    """A step failed or timed out, or the cluster stopped answering."""
    ABORTED = "aborted"
    """It did not start: the cluster cannot run it, or the run stopped before it."""
    INTERRUPTED = "interrupted"
    """Ctrl-C (SIGINT) or SIGTERM stopped it; cleanup still ran."""


class StepStatus(enum.StrEnum):
    """How one step ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


@dataclass
class StepRecord:
    """One step as it ran."""

    step: d.Step
    started: float
    """Wall-clock seconds since the epoch."""
    description: str = ""
    """The step's name or description with its placeholders filled in."""
    ended: float = 0.0
    duration_s: float = 0.0
    status: StepStatus = StepStatus.SUCCEEDED
    detail: str = ""
    """What the step did, or why it failed, in one or two sentences."""
    output: dict[str, Any] = field(default_factory=dict)
    """Structured result: digests pushed, pods deleted, the node drained, what a wait saw."""


    def describe(self) -> str:
        """The filled-in description, or the step's own."""
        return self.description or self.step.describe()


@dataclass
class BuildRecord:
    """A build the scenario published, and every tag it was pushed under."""

    name: str
    label: str
    """The build label inside the image (unique per scenario run)."""
    digest: str
    pushed_as: list[str] = field(default_factory=list)
    """``REGISTRY/REPOSITORY:TAG`` in push order."""


@dataclass
class ExpectationResult:
    """One expectation checked against one scan."""

    scan: str
    kind: str
    """``fires``, ``absent`` or ``clean``."""
    expected: dict[str, Any]
    """The expectation as the scenario file states it."""
    description: str
    """``digest-drift on Deployment/userservice (severity ≥ high, digests 2)``."""
    met: bool
    found: list[dict[str, Any]]
    """The findings that decided it (matching ones, or the offending ones)."""
    wanted: str
    """What the scan had to show: ``digest-drift on Deployment/x (…)``, ``no drift finding``."""
    detected: str
    """What it showed: ``found …``, ``found none``, or why it could not tell."""
    time_to_detect_s: float | None = None
    """For met ``fires`` expectations: seconds from the injection to the scan's result."""

    @property
    def message(self) -> str:
        """Expected vs found, in one sentence."""
        return f"expected {self.wanted}; {self.detected}"


@dataclass
class ScanRecord:
    """One ``scan`` step: the report and when the drift was injected."""

    label: str
    step_path: str
    started: float
    ended: float
    duration_s: float
    report: report_model.Report
    report_json: dict[str, Any]
    injected_by: str | None = None
    """``steps[6]: CI re-pushes :latest`` — the step the drift is timed from."""
    time_to_detect_s: float | None = None
    """Seconds from the start of the injecting step to the end of this scan."""
    watch_time_to_detect_s: float | None = None
    """``--detector watch``: seconds from the start of the injecting step to the first change
    of the watcher's metrics for the scenario's namespace (None: not measured, or none)."""
    report_file: str | None = None
    """Path of the scan's report JSON, relative to the output folder."""
    html_file: str | None = None
    html_error: str | None = None
    results: list[ExpectationResult] = field(default_factory=list)


@dataclass
class CleanupRecord:
    """What the engine removed after the scenario."""

    namespace: str | None
    namespace_deleted: bool = False
    namespace_gone: bool | None = None
    """True once the apiserver no longer lists it; None: the run does not wait for the
    namespace controller (deletion goes on in the background)."""
    nodes_removed: list[str] = field(default_factory=list)
    nodes_uncordoned: list[str] = field(default_factory=list)
    images_deleted: list[str] = field(default_factory=list)
    """``REPOSITORY@DIGEST`` of the manifests the scenario pushed and cleanup deleted (on a
    shared registry; see ``targets.Target.shared_registry``)."""
    kept: str | None = None
    """Why nothing was removed (``--cleanup never`` / ``on-success``), when that applies."""
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass
class ScenarioRecord:
    """One scenario's run."""

    scenario: d.Scenario
    namespace: str | None = None
    started: float = 0.0
    """Wall-clock start; 0 for a scenario that never started."""
    ended: float = 0.0
    duration_s: float = 0.0
    status: Status = Status.ABORTED
    error: str | None = None
    """Why the run failed or was aborted (not set for deviations)."""
    error_step: str | None = None
    skipped: bool = False
    """Aborted because the provider cannot do what the scenario needs (node steps on kind
    or an existing cluster): reported, but it does not fail the run."""
    steps: list[StepRecord] = field(default_factory=list)
    scans: list[ScanRecord] = field(default_factory=list)
    builds: dict[str, BuildRecord] = field(default_factory=dict)
    cleanup: CleanupRecord | None = None
    cluster: dict[str, Any] = field(default_factory=dict)
    node_types: list[str] = field(default_factory=list)
    """The kinds of node its pods ran on: ``fake`` (KWOK), ``real`` (kubelet + containerd)."""

    @property
    def results(self) -> list[ExpectationResult]:
        """Every expectation result, scan by scan."""
        return [r for s in self.scans for r in s.results]

    @property
    def missing_scans(self) -> list[str]:
        """Labels the scenario expects results for but that never ran."""
        ran = {s.label for s in self.scans}
        return [label for label in self.scenario.expect if label not in ran]

    @property
    def deviated(self) -> bool:
        """Detection missed: an expectation was not met (only judged for completed runs)."""
        return any(not r.met for r in self.results)

    @property
    def passed(self) -> bool:
        """Completed, every expectation met."""
        return self.status is Status.COMPLETED and not self.deviated


@dataclass
class RunRecord:
    """A whole ``driftscan scenario run``."""

    run_id: str
    started: float = field(default_factory=time.time)
    ended: float = 0.0
    duration_s: float = 0.0
    status: Status = Status.COMPLETED
    error: str | None = None
    provider: str = ""
    isolate: bool = False
    cleanup_policy: str = "always"
    clusters: list[dict[str, Any]] = field(default_factory=list)
    """Every cluster the run used (one unless ``--isolate``)."""
    scenarios: list[ScenarioRecord] = field(default_factory=list)

    @property
    def deviated(self) -> bool:
        """Any scenario deviated."""
        return any(s.deviated for s in self.scenarios)

    @property
    def incomplete(self) -> bool:
        """A scan step's report had gaps: what it did not read proves nothing either way."""
        return any(scan.report.gaps for s in self.scenarios for scan in s.scans)

    def exit_code(self, *, allow_gaps: bool = False) -> int:
        """The run's exit code (:mod:`scanner.exits`).

        0 passed (skips allowed), 1 missed, 2 not carried out, 3 passed on incomplete
        scans (0 with ``allow_gaps``), 130 interrupted.
        """
        if self.status is Status.INTERRUPTED:
            return exits.INTERRUPTED
        if self.status is not Status.COMPLETED or any(
                s.status is not Status.COMPLETED and not s.skipped for s in self.scenarios):
            return exits.ERROR
        return exits.for_result(fails=self.deviated, incomplete=self.incomplete,
                                allow_gaps=allow_gaps)
