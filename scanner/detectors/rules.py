"""Rule metadata and the rule set that holds every detector, refusing duplicate ids.

Each detector module declares its rules once next to the function that checks them:
id, default severity, title, why it matters, remediation, and the facts the rest of the
program asks about a rule — what it :class:`Needs` to judge (a pod template, live state,
the registry), whether it is a drift rule or tag hygiene (:class:`Concern`), and whether
its score counts the builds it saw. ``detectors/__init__`` joins them into
:data:`scanner.detectors.RULES`, from which ``driftscan rules``, docs/rules.md, the
report's rule metadata, the manifest checker's rule list, scoring and the scenario
checks are all derived. A new rule touches ``detectors/``, its fixtures and the
generated docs only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from scanner import controls as control_catalog
from scanner import findings, graph, model

__all__ = ["Check", "Concern", "Detector", "DuplicateRule", "Needs", "Rule", "RuleSet"]

Check = Callable[[model.Snapshot, graph.Graph], list[findings.Finding]]
"""A detector: a pure function of the snapshot and its graph."""

_RULE_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


class DuplicateRule(ValueError):
    """Two detectors declare the same rule id."""


class Needs(enum.StrEnum):
    """The least a rule needs to judge a workload; each level includes the ones before."""

    TEMPLATE = "template"
    """The pod template alone: works on manifests before they are applied."""
    LIVE = "live"
    """Live state: revisions, pods and their imageIDs (a cluster or a dump)."""
    REGISTRY = "registry"
    """Live state plus the registry's answers (``scan --registry-check``)."""


class Concern(enum.StrEnum):
    """Whether a rule reports drift, or tag hygiene that only makes drift possible."""

    DRIFT = "drift"
    HYGIENE = "hygiene"


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
    """The detector module that owns the rule (checked against the detector's function)."""
    controls: tuple[str, ...] = ()
    """Compliance controls a finding of this rule is evidence for (``scanner.controls``)."""
    needs: Needs = field(kw_only=True)
    concern: Concern = field(kw_only=True)
    counts_builds: bool = field(default=False, kw_only=True)
    """Scoring adds points per extra build, split Service and upstream caller."""

    @property
    def static(self) -> bool:
        """Whether a pod template alone decides it (``driftscan manifests`` checks it)."""
        return self.needs is Needs.TEMPLATE

    @property
    def drift(self) -> bool:
        """Whether a finding means pods run different builds (not only tag hygiene)."""
        return self.concern is Concern.DRIFT

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

    def __post_init__(self) -> None:
        module = getattr(self.check, "__module__", "") or ""
        if module.startswith("scanner.detectors.") and module.rsplit(".", 1)[1] != self.rule.family:
            raise ValueError(f"rule {self.rule.id}: family {self.rule.family!r} but its"
                             f" detector lives in {module}")


class RuleSet:
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

    def only(self, keep: Callable[[Rule], bool]) -> RuleSet:
        """The detectors whose rule ``keep`` accepts, in the same order."""
        return RuleSet(d for d in self._by_id.values() if keep(d.rule))

    def ids(self, keep: Callable[[Rule], bool] = lambda rule: True) -> tuple[str, ...]:
        """Ids of the rules ``keep`` accepts, in declaration order."""
        return tuple(d.rule.id for d in self._by_id.values() if keep(d.rule))
