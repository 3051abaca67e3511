"""What is wrong with a scenario file: one :class:`Problem` per finding, all in one error.

``loading`` (schema errors) and ``checking`` (cross-references) produce problems;
:class:`InvalidScenarios` carries every problem of every file a command loaded, so a user
fixes them in one go (chaostoolkit stops at the first; we do not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner import errors

__all__ = ["InvalidScenarios", "Problem"]


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
