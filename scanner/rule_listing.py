"""``driftscan rules [RULE]`` and docs/rules.md, all generated from the detectors' rule set.

A test regenerates docs/rules.md with :func:`markdown` and fails when the file differs,
so the docs cannot drift from the rules.
"""

from __future__ import annotations

import textwrap

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner import controls, detectors, errors, suggest
from scanner.detectors import rules

__all__ = ["checked_by", "explain", "find", "markdown", "table"]


def checked_by(rule: rules.Rule) -> str:
    """Which commands check the rule, from what it needs (template, live state, registry)."""
    return {
        rules.Needs.TEMPLATE: "`scan`, `manifests`",
        rules.Needs.LIVE: "`scan`",
        rules.Needs.REGISTRY: "`scan --registry-check`",
    }[rule.needs]


def markdown() -> str:
    """docs/rules.md: one section per rule, anchored by its id."""
    lines = [
        "# driftscan rules",
        "",
        "Generated from the detectors' rules by `driftscan rules --format markdown`;"
        " do not edit by hand. In a terminal, `driftscan rules` lists every rule with its"
        " severity, what it checks and the fix, and `driftscan rules RULE` prints one in"
        " full.",
        "",
        f"Opt a workload out of rules with the annotation `{detectors.IGNORE_ANNOTATION}:"
        " rule-a,rule-b` (`*` for all) on the workload (or on a bare pod).",
        "",
        "`driftscan scan` checks live clusters and dumps; `driftscan manifests` checks YAML"
        " before it is applied (only the rules that judge a pod template alone: the others"
        " need live revisions and pods); `latent-drift` needs `scan --registry-check`, which"
        " asks each image's registry what its tag names now. `driftscan pin` fixes what the"
        " tag rules find (docs/pinning.md).",
        "",
        "| rule | default severity | checked by | title | controls |",
        "|---|---|---|---|---|",
    ]
    for rule in detectors.RULES.rules():
        lines.append(f"| [`{rule.id}`](#{rule.id}) | {rule.severity.value} |"
                     f" {checked_by(rule)} | {rule.title} | {', '.join(rule.controls)} |")
    lines += [
        "",
        "## Controls",
        "",
        "Each rule names the compliance controls its findings are evidence for; every report"
        " has an *audit summary* that lists, per control, the workloads with such findings"
        " (out of compliance) and the others (in compliance, for what the scan could read).",
        "",
        "| control | framework | what driftscan checks of it | rules |",
        "|---|---|---|---|",
    ]
    for control in controls.CATALOG:
        named = [r.id for r in detectors.RULES.rules() if control.id in r.controls]
        lines.append(f"| `{control.id}` | {control.framework} | {control.title} |"
                     f" {', '.join(f'[`{r}`](#{r})' for r in named)} |")
    for rule in detectors.RULES.rules():
        lines += [
            "",
            f"## {rule.id}",
            "",
            f"**{rule.title}** — default severity **{rule.severity.value}**"
            f" (detector module `scanner/detectors/{rule.family}.py`; checked by"
            f" {checked_by(rule)}).",
            "",
            f"*Why it matters:* {rule.rationale}",
            "",
            f"*Remediation:* {rule.remediation}",
            "",
            f"*Evidence for:* {', '.join(f'`{c}`' for c in rule.controls) or 'no control'}.",
        ]
    return "\n".join(lines) + "\n"


def table(console: Console) -> None:
    """Print every rule: id, default severity, what it checks and the general fix."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("Rule", style="bold", no_wrap=True)
    t.add_column("Severity", no_wrap=True)
    t.add_column("What it checks", ratio=2, overflow="fold")
    t.add_column("Fix", ratio=3, overflow="fold")
    for rule in detectors.RULES.rules():
        t.add_row(rule.id, rule.severity.value, rule.title, rule.remediation)
    console.print(t)
    console.print(Text("Why a rule matters, in full: driftscan rules RULE (docs/rules.md)",
                       style="dim"))


def find(rule_id: str) -> rules.Rule:
    """The rule named ``rule_id``.

    Raises:
        errors.InputError: no such rule (with the closest id, when one is close).
    """
    if rule_id in detectors.RULES:
        return detectors.RULES.rule(rule_id)
    ids = [r.id for r in detectors.RULES.rules()]
    raise errors.InputError(
        f"unknown rule {rule_id!r}{suggest.did_you_mean(rule_id, ids)}",
        hint="`driftscan rules` lists every rule")


def explain(rule_id: str, console: Console, width: int = 88) -> None:
    """Print one rule in full, section by section (as ``kubectl explain`` does a field).

    Raises:
        errors.InputError: no such rule.
    """
    rule = find(rule_id)

    def section(title: str, body: str) -> None:
        console.print(Text(title, style="bold"))
        for line in textwrap.wrap(body, width=width - 2):
            console.print(Text(f"  {line}"), soft_wrap=True)
        console.print()

    head = Text()
    head.append("RULE:     ", style="bold")
    head.append(rule.id)
    console.print(head)
    console.print(Text(f"SEVERITY: {rule.severity.value} (default)"))
    console.print(Text("CHECKED BY: driftscan " + checked_by(rule).replace("`", "")))
    console.print()
    section("WHAT IT CHECKS:", rule.title + ".")
    section("WHY IT MATTERS:", rule.rationale)
    section("FIX:", rule.remediation + " Each finding names the exact digest, why that one,"
            " and a ready command.")
    section("OPT OUT:", f"annotate the workload {detectors.IGNORE_ANNOTATION}: {rule.id}")
    console.print(Text(f"DOCS: docs/rules.md#{rule.id}"))
