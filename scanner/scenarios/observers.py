"""The observer interface: how progress of a run reaches the terminal, the journal, tests.

``running`` calls one method per event on the observer in the run context; observers
override what they care about. :class:`Observers` fans one event out to several. An
observer may raise ``KeyboardInterrupt`` to stop the run (tests do, to prove that cleanup
still happens); any other exception from an observer is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Iterable

from scanner.scenarios import definitions as d
from scanner.scenarios import records

__all__ = ["Observer", "Observers"]


class Observer:
    """Receives run events; every method does nothing unless overridden."""

    def say(self, message: str) -> None:
        """A line of progress from outside the scenarios (cluster start-up, shutdown)."""

    def run_started(self, run: records.RunRecord, scenarios: list[d.Scenario]) -> None:
        """The run begins with these scenarios."""

    def scenario_started(self, record: records.ScenarioRecord) -> None:
        """A scenario begins (its namespace is not created yet)."""

    def step_started(self, record: records.ScenarioRecord, step: d.Step) -> None:
        """A step begins."""

    def step_finished(self, record: records.ScenarioRecord, step: records.StepRecord) -> None:
        """A step ended (any status)."""

    def scan_finished(self, record: records.ScenarioRecord, scan: records.ScanRecord) -> None:
        """A scan ended and its expectations were checked (``scan.results``)."""

    def cleanup_finished(self, record: records.ScenarioRecord,
                         cleanup: records.CleanupRecord) -> None:
        """The scenario's namespace and nodes were removed (or kept, by policy)."""

    def scenario_finished(self, record: records.ScenarioRecord) -> None:
        """A scenario ended; ``record.status`` and ``record.deviated`` are final."""

    def run_finished(self, run: records.RunRecord) -> None:
        """The run ended; ``run.status`` is final."""


class Observers(Observer):
    """Sends every event to each observer in turn."""

    def __init__(self, observers: Iterable[Observer]) -> None:
        self.observers = list(observers)

    def say(self, message: str) -> None:  # noqa: D102 - fan-out of the base method
        for o in self.observers:
            o.say(message)

    def run_started(self, run: records.RunRecord, scenarios: list[d.Scenario]) -> None:  # noqa: D102
        for o in self.observers:
            o.run_started(run, scenarios)

    def scenario_started(self, record: records.ScenarioRecord) -> None:  # noqa: D102
        for o in self.observers:
            o.scenario_started(record)

    def step_started(self, record: records.ScenarioRecord, step: d.Step) -> None:  # noqa: D102
        for o in self.observers:
            o.step_started(record, step)

    def step_finished(self, record: records.ScenarioRecord,  # noqa: D102
                      step: records.StepRecord) -> None:
        for o in self.observers:
            o.step_finished(record, step)

    def scan_finished(self, record: records.ScenarioRecord,  # noqa: D102
                      scan: records.ScanRecord) -> None:
        for o in self.observers:
            o.scan_finished(record, scan)

    def cleanup_finished(self, record: records.ScenarioRecord,  # noqa: D102
                         cleanup: records.CleanupRecord) -> None:
        for o in self.observers:
            o.cleanup_finished(record, cleanup)

    def scenario_finished(self, record: records.ScenarioRecord) -> None:  # noqa: D102
        for o in self.observers:
            o.scenario_finished(record)

    def run_finished(self, run: records.RunRecord) -> None:  # noqa: D102
        for o in self.observers:
            o.run_finished(run)
