"""Rule metadata and the registry that holds every detector, refusing duplicate ids.

Each detector module declares its rules once (id, default severity, title, why it
matters, remediation) next to the function that checks them; ``detectors/__init__``
joins them into :data:`scanner.detectors.REGISTRY`, from which ``driftscan rules``,
docs/rules.md and the report's rule metadata are all generated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from scanner import controls as control_catalog
from scanner import findings, graph, model

__all__ = ["Check", "Detector", "DuplicateRule", "Registry", "Rule"]

Check = Callable[[model.Snapshot, graph.Graph], list[findings.Finding]]
"""A detector: a pure function of the snapshot and its graph."""

_RULE_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


class DuplicateRule(ValueError):
    """Two detectors declare the same rule id."""


@dataclass(frozen=True)
class Rule:
    """What a rule is, why it matters and what to do, in one place."""

    id: str
    severity: findings.Severity
    title: str
    rationale: str
    """Why it matters: the failure this rule prevents."""
    remediation: str
    """The general fix; findings add the exact digest and command."""
    family: str
    """The detector module that owns the rule."""
    controls: tuple[str, ...] = ()
    """Compliance controls a finding of this rule is evidence for (``scanner.controls``)."""

    def __post_init__(self) -> None:
        if not _RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} is not kebab-case")
        for name in ("title", "rationale", "remediation", "family"):
            if not getattr(self, name).strip():
                raise ValueError(f"rule {self.id}: {name} is empty")
        unknown = [c for c in self.controls if c not in control_catalog.IDS]
        if unknown:
            raise ValueError(f"rule {self.id}: unknown control(s) {', '.join(unknown)}")


@dataclass(frozen=True)
class Detector:
    """A rule and the function that checks it."""

    rule: Rule
    check: Check


class Registry:
    """Every detector, in declaration order, by unique rule id."""

    def __init__(self, detectors: Iterable[Detector]) -> None:
        self._by_id: dict[str, Detector] = {}
        for detector in detectors:
            rule_id = detector.rule.id
            if rule_id in self._by_id:
                raise DuplicateRule(f"rule id {rule_id!r} is declared twice")
            self._by_id[rule_id] = detector

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id.

        Raises:
            KeyError: no such rule.
        """
        return self._by_id[rule_id].rule

    def rules(self) -> list[Rule]:
        """Every rule, in declaration order."""
        return [d.rule for d in self._by_id.values()]
