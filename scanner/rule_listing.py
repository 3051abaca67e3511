"""``driftscan rules`` and docs/rules.md, both generated from the detectors' rule set.

A test regenerates docs/rules.md with :func:`markdown` and fails when the file differs,
so the docs cannot drift from the rules.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from scanner import controls, detectors
from scanner.detectors import rules

__all__ = ["checked_by", "markdown", "table"]


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
        " do not edit by hand.",
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
    """Print the rules as a table."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("Rule", style="bold", no_wrap=True)
    t.add_column("Severity")
    t.add_column("Title", overflow="fold")
    for rule in detectors.RULES.rules():
        t.add_row(rule.id, rule.severity.value, rule.title)
    console.print(t)
    console.print("Why each rule matters and how to fix it: `driftscan rules --format markdown`"
                  " (docs/rules.md).", style="dim", highlight=False)
