"""What detectors report: severities, findings and the digest-pinning advice they carry.

Detectors create :class:`Finding` objects; scoring weighs them and the report renders
them. A finding is structured data (workload, container, observed digests, the digest
to pin, typed evidence), never free text alone, so JSON, SARIF and HTML say the same
thing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from scanner import errors, evidence, initializers, model

__all__ = ["JSONValue", "Finding", "Pin", "Severity"]

JSONValue: TypeAlias = evidence.JSONValue
"""A value that ``json.dumps`` writes as is."""


class Severity(enum.Enum):
    """How bad a finding is, lowest first; the order ``--fail-on`` compares in."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for critical."""
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity spelled ``text`` (case-insensitive).

        Raises:
            errors.InputError: not a severity name.
        """
        try:
            return cls(text.strip().lower())
        except ValueError as e:
            names = ", ".join(s.value for s in cls)
            raise errors.InputError(f"unknown severity {text!r}", hint=f"use one of {names}") from e


_RANK = {s: i for i, s in enumerate(Severity)}


@initializers.fast_init
@dataclass(frozen=True)
class Pin:
    """How to pin one container to one build."""

    container: str
    image: str
    """The image as the spec writes it."""
    digest: str
    pinned_image: str
    """``image@digest`` (the tag is kept for readers; the digest decides)."""
    command: str | None
    """A ready ``kubectl set image …`` command, or None where kubectl cannot change it."""
    reason: str = ""
    """Why this digest: ``run by 20 of 25 pods; the tag now names sha256:dc83…``."""


@initializers.fast_init
@dataclass(frozen=True)
class Finding:
    """One rule firing for one workload (and, for most rules, one container)."""

    rule: str
    severity: Severity
    workload: model.WorkloadRef
    message: str
    container: str | None = None
    observed: tuple[str, ...] = ()
    """Digests (or raw imageIDs) seen among the workload's live pods."""
    expected: str | None = None
    """The digest driftscan suggests pinning to, when there is one."""
    evidence: evidence.Evidence = field(default_factory=evidence.Untyped)
    """What the rule saw, typed per rule family (see :mod:`scanner.evidence`)."""
    remediation: str = ""
    """What to do about this finding, with the exact digest and command where known."""
    pin: Pin | None = None

    def sort_key(self) -> tuple[int, str, str, str, str]:
        """Most severe first, then workload, rule and container."""
        return (-self.severity.rank, str(self.workload), self.rule, self.container or "",
                self.message)
