"""The compliance controls driftscan's rules evidence, in one catalog.

Each ``Rule`` (``scanner/detectors/``) names the controls its findings are evidence
for by id; the rule set refuses an id that is not here. docs/rules.md, the report's
rule metadata and its audit summary (per control: workloads in and out of compliance)
are all generated from this catalog and the rules.

The mapping is deliberately narrow: a rule names a control only when a finding of the
rule is direct evidence that the control's intent is not met for that workload.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG", "IDS", "Control", "by_id"]


@dataclass(frozen=True)
class Control:
    """One control of one framework."""

    id: str
    """Stable id used in rules and reports, e.g. ``NIST-800-53:CM-2``."""
    framework: str
    title: str
    """The control's name, with what driftscan checks of it."""


CATALOG = (
    Control("NIST-800-53:CM-2", "NIST SP 800-53 Rev. 5",
            "CM-2 Baseline Configuration: every replica runs the one build that was approved"),
    Control("NIST-800-53:CM-3", "NIST SP 800-53 Rev. 5",
            "CM-3 Configuration Change Control: changes are complete, deliberate and recorded"),
    Control("NIST-800-53:SI-7", "NIST SP 800-53 Rev. 5",
            "SI-7 Software, Firmware, and Information Integrity: the running software is the"
            " build that was verified"),
    Control("SOC2:CC7.1", "SOC 2 (2017 TSC)",
            "CC7.1 Detection of configuration changes that introduce vulnerabilities"),
    Control("SOC2:CC8.1", "SOC 2 (2017 TSC)",
            "CC8.1 Changes are authorized, tested and implemented as approved"),
    Control("SLSA-1.0:verify-artifacts", "SLSA v1.0",
            "Verifying artifacts: consumers name the artifact by digest so its provenance"
            " can be checked"),
)
"""Every control a rule may name, in the order reports list them."""

_BY_ID = {c.id: c for c in CATALOG}
IDS = frozenset(_BY_ID)


def by_id(control_id: str) -> Control:
    """The control with this id.

    Raises:
        KeyError: no such control.
    """
    return _BY_ID[control_id]
