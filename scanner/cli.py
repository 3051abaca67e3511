"""Command line entry point ``driftscan``: parses arguments, calls one function, maps errors.

Every ``errors.DriftscanError`` becomes one message on stderr and exit code 2; nothing a
user can cause ends in a traceback. Exit codes (``scanner.exits``): 0 clean, 1 findings at
or above ``--fail-on`` (or a missed scenario expectation), 2 usage or environment error,
3 incomplete (gaps or unreadable input, nothing at ``--fail-on``), 130 interrupted.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scanner import __version__, errors, exits, heap

if TYPE_CHECKING:
    from scanner.report import html as html_report


_DETAIL_LEVELS = ["info", "low", "medium", "high", "critical"]


def _detail(level: str | None, limit: int | None) -> html_report.Detail:
    """The HTML page's ``Detail`` from ``--detail`` and ``--detail-limit`` (0: no limit)."""
    from scanner.report import html

    return html.Detail(threshold=level or html.DEFAULT_DETAIL,
                       limit=html.DETAIL_LIMIT if limit is None else (limit or None))


F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driftscan")
def cli() -> None:
    """Find pods of one workload running different builds of the same container."""


# --- scan ------------------------------------------------------------------------------


class _Duration(click.ParamType[float]):
    """Seconds, written as kubectl does: ``30``, ``30s``, ``1m``, ``500ms``."""

    name = "DURATION"
    _UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        factor = 1.0
        for unit, scale in self._UNITS:
            if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
                text, factor = text[: -len(unit)], scale
                break
        try:
            seconds = float(text) * factor
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= 86400:
            self.fail(f"{value!r} is not a duration such as 30s, 2m or 500ms", param, ctx)
        return seconds


def _request_timeout_option(f: F) -> F:
    return click.option(
        "--request-timeout", type=_Duration(), default="30s", show_default=True,
        help="Longest any one apiserver request may take, retries and back-off included "
        "(30, 30s, 2m).")(f)



@cli.command("scan")
@click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (default: $KUBECONFIG, "
              "then ~/.kube/config).")
@click.option("--context", "contexts", multiple=True, metavar="NAME",
              help="Kubeconfig context (default: the current one); repeat it to scan several "
              "clusters in parallel into one report.")
@click.option("--all-contexts", is_flag=True,
              help="Scan the cluster of every context in the kubeconfig, in parallel, into one "
              "report (an unreachable one is a gap).")
@click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
              help="Namespace to scan; repeatable (default: the context's namespace).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Scan every namespace.")
@click.option("--from", "files", multiple=True, metavar="FILE",
              help="Scan a saved `kubectl get … -o json|yaml` dump instead of a cluster; "
              "repeatable, - for stdin.")
@click.option("--format", "fmt",
              type=click.Choice(["table", "json", "html", "sarif", "junit", "pdf"]),
              default="table", show_default=True,
              help="Output format (pdf: the HTML report printed by headless Chromium; needs -o).")
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE (default: stdout);"
              " with --format html, DIR/ writes an index and one page per namespace.")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              default="high", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--detail", type=click.Choice(_DETAIL_LEVELS), default=None,
              help="--format html: show workloads with findings at or above this severity in "
              "full, the rest as one row each (default: medium; info for every finding).")
@click.option("--detail-limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="--format html: at most N workloads in full per page, highest scores first "
              "(default: 1000; 0 for no limit).")
@click.option("--registry-check", is_flag=True,
              help="Ask each image's registry what its tag names now and report latent-drift "
              "(unreachable registries become gaps). Credentials: docker config.json.")
@click.option("--insecure-registry", "insecure_registries", multiple=True, metavar="HOST",
              help="Reach this registry over plain HTTP (loopback ones always are); "
              "repeatable.")
@click.option("--allow-gaps", is_flag=True,
              help="Exit 0 instead of 3 when the scan is incomplete and no finding reaches "
              "--fail-on (the gaps are still reported).")
@click.option("--sign-key", metavar="PEM", help="Sign the report with this Ed25519 private key "
              "file (`openssl genpkey -algorithm ed25519`); `report verify --key` checks it.")
@_request_timeout_option
def scan(kubeconfig: str | None, contexts: tuple[str, ...], all_contexts: bool,
         namespaces: tuple[str, ...],
         all_namespaces: bool, files: tuple[str, ...], fmt: str, output: str | None,
         fail_on: str, detail: str | None, detail_limit: int | None, registry_check: bool,
         insecure_registries: tuple[str, ...], allow_gaps: bool, sign_key: str | None,
         request_timeout: float) -> int:
    """Find workloads whose pods run different builds of the same container.

    \b
    Exit codes: 0 clean and complete, 1 findings at or above --fail-on, 2 usage or
    environment error, 3 incomplete (gaps, an unreachable cluster of several; --allow-gaps
    makes it 0), 130 interrupted.
    """  # noqa: D301 — \b (backspace) keeps click from rewrapping
    from rich.console import Console

    from scanner import findings, redacting, scanning
    from scanner.sources import loading

    if fmt not in ("html", "pdf") and (detail is not None or detail_limit is not None):
        raise errors.InputError("--detail and --detail-limit shape the HTML page only",
                                hint="add --format html, or drop them")
    options = scanning.ScanOptions(
        request=loading.LoadRequest(files=files, kubeconfig=kubeconfig,
                                    context=contexts[0] if len(contexts) == 1 else None,
                                    namespaces=namespaces, all_namespaces=all_namespaces,
                                    request_timeout=request_timeout),
        format=fmt,
        output=output,
        fail_on=findings.Severity.parse(fail_on),
        # Only the HTML page (and the PDF printed from it) has a detail level: other
        # formats do not load the HTML renderer and its templates.
        detail=_detail(detail, detail_limit) if fmt in ("html", "pdf") else None,
        registry_check=registry_check,
        insecure_registries=insecure_registries,
        allow_gaps=allow_gaps,
        command_line=redacting.command_line(_argv()),
        sign_key=sign_key,
        contexts=contexts,
        all_contexts=all_contexts,
    )
    return scanning.run(options, Console(), Console(stderr=True))


@cli.command("manifests")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "sarif"]),
              default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", metavar="FILE", help="Write the result to FILE (default: stdout).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              default="high", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--allow-gaps", is_flag=True,
              help="Exit 0 instead of 3 when some input could not be read and no finding "
              "reaches --fail-on (the unreadable files are still listed).")
def manifests_command(paths: tuple[str, ...], fmt: str, output: str | None,
                      fail_on: str, allow_gaps: bool) -> int:
    """Check manifests (files, folders, - for stdin) for tags that let builds drift.

    Every readable file is checked; every file that is not (a Helm template, a kustomize
    patch, a duplicate key…) is listed with its line, the reason and what to do.

    \b
    Exit codes: 0 clean and complete, 1 findings at or above --fail-on, 2 usage error
    (a path that does not exist), 3 some input unreadable and nothing at --fail-on
    (--allow-gaps makes it 0), 130 interrupted.
    """  # noqa: D301 — \b (backspace) keeps click from rewrapping
    from rich.console import Console

    from scanner import findings, manifest_scanning

    options = manifest_scanning.ManifestOptions(
        paths=paths, format=fmt, output=output, fail_on=findings.Severity.parse(fail_on),
        allow_gaps=allow_gaps)
    return manifest_scanning.run(options, Console())


@cli.command("pin")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--diff", is_flag=True, help="Print a unified diff; change nothing.")
@click.option("--write", is_flag=True, help="Rewrite the files in place.")
@click.option("--from-cluster", is_flag=True,
              help="Pin to the digest the live workload runs (refused when its pods disagree).")
@click.option("--kubeconfig", metavar="PATH", help="Kubeconfig for --from-cluster.")
@click.option("--context", metavar="NAME", help="Kubeconfig context for --from-cluster.")
@click.option("--insecure-registry", "insecure_registries", multiple=True, metavar="HOST",
              help="Reach this registry over plain HTTP (loopback ones always are); "
              "repeatable.")
@click.option("--allow-gaps", is_flag=True,
              help="Exit 0 instead of 3 when some file could not be read (it is listed "
              "and left unchanged).")
@_request_timeout_option
def pin_command(paths: tuple[str, ...], diff: bool, write: bool, from_cluster: bool,
                kubeconfig: str | None, context: str | None,
                insecure_registries: tuple[str, ...], allow_gaps: bool,
                request_timeout: float) -> int:
    """Rewrite image tags to tag@sha256 digests (prints the pinned manifests by default).

    A file that cannot be read is listed and left unchanged; the others are pinned.

    \b
    Exit codes: 0 done, 2 usage error or an image that cannot be pinned (nothing is
    written), 3 some file unreadable (--allow-gaps makes it 0), 130 interrupted.
    """  # noqa: D301 — \b (backspace) keeps click from rewrapping
    from rich.console import Console

    from scanner import pinning

    if diff and write:
        raise errors.InputError("--diff and --write exclude each other", hint="pick one")
    if (kubeconfig or context) and not from_cluster:
        raise errors.InputError("--kubeconfig/--context only apply with --from-cluster",
                                hint="add --from-cluster or drop them")
    options = pinning.PinOptions(
        paths=paths, mode="diff" if diff else "write" if write else "print",
        from_cluster=from_cluster, kubeconfig=kubeconfig, context=context,
        insecure_registries=insecure_registries, allow_gaps=allow_gaps,
        request_timeout=request_timeout)
    return pinning.run(options, Console())


class _ReportGroup(click.Group):
    """``report REPORT.json -o OUT`` renders; ``report verify …`` and ``report --history DIR``.

    A first argument that names no subcommand is a report file: it goes to ``render``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--history" not in args and not any(a in ("-h", "--help") for a in args[:1]):
            first = next((a for a in args if not a.startswith("-")), None)
            if first is not None and first not in self.commands:
                args = ["render", *args]
        return super().parse_args(ctx, args)


@cli.group("report", cls=_ReportGroup, invoke_without_command=True)
@click.option("--history", "history_dir", metavar="DIR",
              help="One page over every saved JSON report in DIR (searched recursively).")
@click.option("-o", "--output", metavar="FILE", help="Where to write the --history page.")
@click.pass_context
def report_command(ctx: click.Context, history_dir: str | None, output: str | None) -> int:
    """Render, verify or draw the history of saved JSON reports.

    `report REPORT.json -o OUT.html [--format html|pdf]` renders one report;
    `report verify REPORT.json [--key PUBLIC.pem]` checks its digest and signature;
    `report --history DIR -o OUT.html` draws one page over every report in DIR.
    """
    if ctx.invoked_subcommand is not None:
        return exits.CLEAN
    if history_dir is None:
        raise errors.InputError("report needs a REPORT.json, `verify REPORT.json` or --history DIR",
                                hint="see `driftscan report --help`")
    if output is None:
        raise errors.InputError("--history needs -o FILE.html", hint="name the page to write")
    from scanner import redacting
    from scanner.report import history

    page = history.load(history_dir)
    history.write(page, output)
    click.echo(redacting.printable(f"wrote {output}: {history.summary_line(page)}"))
    return exits.CLEAN


@report_command.command("render")
@click.argument("report_json", metavar="REPORT.json")
@click.option("-o", "--output", metavar="FILE", required=True,
              help="Where to write the page; with --format html, DIR/ writes an index and one "
              "page per namespace.")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html",
              show_default=True, help="html, or pdf printed by headless Chromium.")
@click.option("--detail", type=click.Choice(_DETAIL_LEVELS), default=None,
              help="Show workloads with findings at or above this severity in full, the rest "
              "as one row each (default: medium; info for every finding).")
@click.option("--detail-limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="At most N workloads in full per page, highest scores first (default: "
              "1000; 0 for no limit).")
def report_render(report_json: str, output: str, fmt: str, detail: str | None,
                  detail_limit: int | None) -> None:
    """Render a saved JSON report (`scan --format json`) as a self-contained HTML page or PDF."""
    from scanner import printing, redacting
    from scanner.report import html, html_directory, integrity, saved_report

    data = saved_report.read_object(report_json)
    report = saved_report.from_data(data, name=report_json)
    verdict = integrity.verify(data)
    if not verdict.ok:  # the page would show a digest the file no longer matches
        click.echo(redacting.printable(f"warning: {report_json}: {verdict.lines[0]}"),
                   err=True)
    chosen = _detail(detail, detail_limit)
    if fmt == "pdf":
        printing.write(html.render(report, chosen), output, printing.Header.of(report))
    elif html_directory.is_directory(output):
        written = html_directory.write(report, output, chosen)
        click.echo(f"wrote {written[0]} and {len(written) - 1} page(s) beside it")
        return
    else:
        html.write(report, output, chosen)
    click.echo(f"wrote {output}")
    note = html_directory.single_page_note(report)
    if note:
        click.echo(note)


@report_command.command("verify")
@click.argument("report_json", metavar="REPORT.json")
@click.option("--key", metavar="PEM", help="Ed25519 public (or private) key file the "
              "signature must verify with; without it only the digest is checked.")
def report_verify(report_json: str, key: str | None) -> int:
    """Check a JSON report's digest (and signature) against its body.

    Exit codes: 0 verified; 1 the report was changed, is unsigned although --key was
    given, or its signature does not verify; 2 unreadable report or key.
    """
    from scanner import redacting
    from scanner.report import integrity, saved_report

    public = integrity.load_public_key(key) if key else None
    verdict = integrity.verify(saved_report.read_object(report_json), public)
    for line in verdict.lines:
        click.echo(redacting.printable(f"{report_json}: {line}"), err=not verdict.ok)
    return exits.CLEAN if verdict.ok else exits.VERIFY_FAILED


@cli.command("diff")
@click.argument("old_json", metavar="OLD.json")
@click.argument("new_json", metavar="NEW.json")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table",
              show_default=True, help="Output format.")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (default: stdout).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              default="high", show_default=True,
              help="Exit 1 when a NEW finding is at or above this severity (old debt passes).")
@click.option("--allow-gaps", is_flag=True,
              help="Exit 0 instead of 3 when NEW.json is incomplete and no new finding "
              "reaches --fail-on.")
def diff_command(old_json: str, new_json: str, fmt: str, output: str | None, fail_on: str,
                 allow_gaps: bool) -> int:
    """What changed between two saved JSON reports: new, resolved and persisting findings.

    Exit codes: 0 no new finding at or above --fail-on; 1 new findings at or above it;
    2 usage error; 3 NEW.json is incomplete (--allow-gaps makes it 0).
    """
    from rich.console import Console

    from scanner import findings
    from scanner.report import comparing, saved_report

    change = comparing.compare(saved_report.read(old_json), saved_report.read(new_json))
    comparing.write(change, fmt, output, Console())
    return exits.for_result(fails=change.new_at_or_above(findings.Severity.parse(fail_on)),
                            incomplete=not change.new_complete, allow_gaps=allow_gaps)


@cli.command("rules")
@click.argument("rule", required=False, metavar="[RULE]")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table",
              show_default=True, help="table for the terminal, markdown for docs/rules.md.")
def rules_command(rule: str | None, fmt: str) -> None:
    """List every rule (severity, what it checks, the fix), or explain RULE in full."""
    from rich.console import Console

    from scanner import rule_listing

    if rule is not None:
        rule_listing.explain(rule, Console())
    elif fmt == "markdown":
        click.echo(rule_listing.markdown(), nl=False)
    else:
        rule_listing.table(Console())


def _argv() -> list[str]:
    """The command line as typed (``driftscan`` and its arguments), also in-process."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    args = obj.get("argv") if isinstance(obj, dict) else None
    return ["driftscan", *(args if args is not None else sys.argv[1:])]


def _say(message: str) -> None:
    click.echo(message, err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (also used in-process by tests).

    SIGTERM (a CI job cancelled) and SIGHUP (the terminal or SSH session gone) end a
    command the way Ctrl-C does: cleanup runs (``cluster up`` stops what it started,
    outputs are never half-written) and the exit code is 130.
    """
    held = {}
    if threading.current_thread() is threading.main_thread():
        held = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(argv)
    finally:
        for sig, previous in held.items():
            signal.signal(sig, previous)


def console() -> None:
    """The ``driftscan`` program: :func:`main`, then the exit.

    A scan leaves its report to the exit (``heap.leave_to_exit``): the process then ends
    without freeing it object by object, once its output is flushed.
    """
    heap.one_shot()
    code = main()
    if heap.left():
        heap.exit_now(code)
    sys.exit(code)


def _main(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="driftscan", standalone_mode=False,
                          obj={"argv": list(argv) if argv is not None else sys.argv[1:]})
    except errors.DriftscanError as e:
        from scanner.report import plain

        hint = f"\n  hint: {plain.clean(e.hint, lines=True)}" if e.hint else ""
        click.echo(f"error: {plain.clean(e.message, lines=True)}{hint}", err=True)
        return exits.ERROR
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return exits.ERROR
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, KeyboardInterrupt):  # click wraps Ctrl-C in Abort
            click.echo("interrupted", err=True)
            return exits.INTERRUPTED
        click.echo("aborted", err=True)
        return exits.ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return exits.INTERRUPTED
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return exits.CLEAN


def _exit(code: int) -> None:
    """Leave a command with ``code`` (used by commands that report findings)."""
    raise click.exceptions.Exit(code)


def _register_commands() -> None:
    # The test-cluster and scenario groups live in their own module; the watch command's
    # module uses this one's option types, so they join the group last.
    from scanner import cli_lab
    from scanner.watching import cli_command

    cli.add_command(cli_lab.cluster)
    cli.add_command(cli_lab.scenario)
    cli.add_command(cli_command.command(_Duration(), _request_timeout_option, _argv))


_register_commands()


if __name__ == "__main__":
    console()
