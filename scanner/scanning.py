"""``driftscan scan`` end to end: load a snapshot, detect, score, render, pick the exit code.

The CLI calls :func:`run` with the parsed options; library users call :func:`scan` for
the ``Report`` model and render it themselves.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from scanner import detectors, errors, exits, findings, graph, heap, writing
from scanner.report import building, integrity, plain
from scanner.report import document as report_model
from scanner.sources import loading
from scanner.sources import progress as source_progress

if TYPE_CHECKING:  # the registry client, PDF printing and most renderers load when asked for
    from scanner.oci import resolver
    from scanner.report import html

__all__ = ["FORMATS", "ScanOptions", "exit_code", "run", "scan", "scan_unsealed"]

FORMATS = ("table", "json", "html", "sarif", "junit", "pdf")


@dataclass(frozen=True)
class ScanOptions:
    """Everything ``driftscan scan`` accepts."""

    request: loading.LoadRequest
    format: str = "table"
    output: str | None = None
    fail_on: findings.Severity = findings.Severity.HIGH
    progress: bool = True
    registry_check: bool = False
    """Resolve every tag against its registry and run ``latent-drift``."""
    insecure_registries: tuple[str, ...] = ()
    """Registries reached over plain HTTP (loopback ones always are)."""
    allow_gaps: bool = False
    """Exit 0 rather than 3 when the scan is incomplete and nothing reaches ``fail_on``."""
    command_line: tuple[str, ...] = ()
    """The command as typed, secrets already removed; recorded in the provenance block."""
    sign_key: str | None = None
    """PEM file of an Ed25519 private key that signs the report's canonical body."""
    detail: html.Detail | None = None
    """Which workloads the HTML page shows in full (``--detail``, ``--detail-limit``);
    None for the default."""
    contexts: tuple[str, ...] = ()
    """``--context`` given more than once: scan each of these clusters (``fleet``)."""
    all_contexts: bool = False
    """``--all-contexts``: scan every context of the kubeconfig (``fleet``)."""

    @property
    def fleet(self) -> bool:
        """True when more than one cluster is asked for."""
        return self.all_contexts or len(self.contexts) > 1


def scan(
    request: loading.LoadRequest,
    observer: source_progress.ListObserver | None = None,
    *,
    tag_resolver: resolver.Resolver | None = None,
    command_line: tuple[str, ...] = (),
) -> report_model.Report:
    """Load what ``request`` names, run every detector and build the report.

    Args:
        request: what to load.
        observer: hears about LIST progress.
        tag_resolver: when given (``--registry-check``), every tag is resolved through it
            and ``latent-drift`` compares the answers with what the pods run.
        command_line: recorded in the provenance block (secrets already removed).

    Returns:
        The report, sealed with the digest of its canonical body (unsigned).
    """
    with heap.without_cycle_collection():
        return integrity.seal(scan_unsealed(request, observer, tag_resolver=tag_resolver,
                                            command_line=command_line))


def scan_unsealed(
    request: loading.LoadRequest,
    observer: source_progress.ListObserver | None = None,
    *,
    tag_resolver: resolver.Resolver | None = None,
    command_line: tuple[str, ...] = (),
) -> report_model.Report:
    """:func:`scan` without the seal and without pausing the cycle collector.

    One cluster of a fleet: the merged report is sealed once.
    """
    snapshot = loading.load(request, observer)
    if tag_resolver is not None:
        from scanner.sources import resolving

        snapshot = resolving.resolve(snapshot, tag_resolver)
    g = graph.build(snapshot)
    found = detectors.detect(snapshot, g)
    return building.build(snapshot, g, found, detectors.RULES, command_line=command_line)


def exit_code(report: report_model.Report, fail_on: findings.Severity,
              allow_gaps: bool = False) -> int:
    """The exit code for ``report`` (see :mod:`scanner.exits`).

    1 when a finding is at or above ``fail_on``; else 3 when the scan has gaps (0 with
    ``allow_gaps``); else 0.
    """
    worst = report.worst_severity()
    return exits.for_result(fails=worst is not None and worst.rank >= fail_on.rank,
                            incomplete=bool(report.gaps), allow_gaps=allow_gaps)


def run(options: ScanOptions, stdout: Console, stderr: Console) -> int:
    """Scan, write the report where asked, and return the exit code.

    Raises:
        errors.DriftscanError: bad input, unreachable cluster, unwritable output.
    """
    if options.format not in FORMATS:
        raise errors.InputError(
            f"unknown format {options.format!r}", hint=f"use one of {', '.join(FORMATS)}"
        )
    if options.format == "pdf" and options.output is None:
        raise errors.InputError("--format pdf needs -o FILE.pdf",
                                hint="name the file to write, e.g. -o report.pdf")
    if (options.format != "html" and options.output is not None
            and writing.is_directory(options.output)):
        raise errors.InputError(
            f"-o {options.output}: a report directory is written only for --format html",
            hint="name a file, or add --format html")
    key = integrity.load_private_key(options.sign_key) if options.sign_key else None
    if options.format == "pdf":
        from scanner import printing

        printing.browser()  # fail before the scan, not after it, when Chromium is missing
    live = not options.request.files
    names: tuple[str, ...] = ()
    if options.fleet:
        from scanner import fleet

        names = fleet.contexts(options.request, options.contexts, options.all_contexts)
    make_resolver = _resolver_factory(options, stderr) if options.registry_check else None
    tag_resolver = make_resolver() if make_resolver and not options.fleet else None
    if options.fleet:
        from scanner import fleet

        stderr.print(plain.text(f"scanning {len(names)} cluster(s) in parallel: "
                                f"{', '.join(names)}", "dim"), highlight=False, soft_wrap=True)

        def one(request: loading.LoadRequest,
                own: resolver.Resolver | None) -> report_model.Report:
            return scan_unsealed(request, tag_resolver=own, command_line=options.command_line)

        with heap.without_cycle_collection():
            report = integrity.seal(fleet.scan(options.request, names, one,
                                               make_resolver=make_resolver))
    elif live and options.progress and stderr.is_terminal:
        from scanner import list_progress

        with list_progress.ListProgress(stderr) as observer:
            report = scan(options.request, observer, tag_resolver=tag_resolver,
                          command_line=options.command_line)
    else:
        report = scan(options.request, tag_resolver=tag_resolver,
                      command_line=options.command_line)
    if key is not None:
        report = integrity.seal(report, key)
    with heap.without_cycle_collection():
        _write(report, options, stdout)
    if report.gaps:
        stderr.print(f"warning: incomplete scan, {len(report.gaps)} gap(s) listed in the report"
                     + ("" if options.allow_gaps else " (exit code 3; --allow-gaps accepts them)"),
                     style="bold red", highlight=False, soft_wrap=True)
    heap.leave_to_exit(report)  # written: the driftscan program ends without freeing it
    return exit_code(report, options.fail_on, options.allow_gaps)


def _resolver_factory(options: ScanOptions,
                      stderr: Console) -> Callable[[], resolver.Resolver]:
    """Registry clients for ``--registry-check``, one per cluster scanned.

    They share the docker config, read once (its warnings printed once).
    """
    from scanner.oci import credentials, resolver

    docker_config = credentials.load_docker_config()
    for note in docker_config.notes:
        stderr.print(plain.text(f"warning: {docker_config.source}: {note}", "yellow"),
                     highlight=False, soft_wrap=True)

    def make() -> resolver.Resolver:
        return resolver.Resolver(docker_config=docker_config,
                                 insecure_hosts=options.insecure_registries)
    return make


def _write(report: report_model.Report, options: ScanOptions, stdout: Console) -> None:
    from scanner.report import terminal  # rich's tables, for the table format and summary

    if options.format == "html":
        _write_html(report, options, stdout)
        return
    if options.output is None:
        if options.format != "table":
            sys.stdout.flush()
            stdout.file.write(_text(report, options))
            stdout.file.flush()
        else:
            terminal.render(report, stdout)
        return
    path = Path(options.output)
    if options.format == "pdf":
        from scanner import printing
        from scanner.report import html

        printing.write(html.render(report, options.detail), path, printing.Header.of(report))
        stdout.print(plain.text(f"wrote {path}: {terminal.summary_line(report)}"),
                     highlight=False, soft_wrap=True)
        return
    # Render completely before touching the file: a failure keeps the last good report.
    if options.format == "json":
        from scanner.report import json_format

        _write_file(path, json_format.render_bytes(report), stdout, report)
        return
    if options.format != "table":
        text = _text(report, options)
    else:
        buffer = io.StringIO()
        terminal.render(report, Console(file=buffer, width=120, color_system=None))
        text = buffer.getvalue()
    _write_file(path, text, stdout, report)


def _write_file(path: Path, content: str | bytes, stdout: Console,
                report: report_model.Report) -> None:
    from scanner.report import terminal

    try:
        if isinstance(content, bytes):
            writing.write_bytes(path, content)
        else:
            writing.write_text(path, content)
    except OSError as e:
        raise errors.InputError(f"cannot write {path}: {e.strerror}") from e
    stdout.print(plain.text(f"wrote {path}: {terminal.summary_line(report)}"),
                 highlight=False, soft_wrap=True)


def _write_html(report: report_model.Report, options: ScanOptions, stdout: Console) -> None:
    """Stream the page to stdout, to a file, or as a report directory."""
    from scanner.report import html, html_directory, terminal

    if options.output is None:
        sys.stdout.flush()
        for piece in html.stream(report, options.detail):
            stdout.file.write(piece)
        stdout.file.flush()
        return
    if html_directory.is_directory(options.output):
        written = html_directory.write(report, options.output, options.detail)
        stdout.print(plain.text(f"wrote {written[0]} and {len(written) - 1} page(s) beside it: "
                                f"{terminal.summary_line(report)}"),
                     highlight=False, soft_wrap=True)
        return
    html.write(report, options.output, options.detail)
    stdout.print(plain.text(f"wrote {options.output}: {terminal.summary_line(report)}"),
                 highlight=False, soft_wrap=True)
    note = html_directory.single_page_note(report)
    if note:
        stdout.print(note, highlight=False, soft_wrap=True)


def _text(report: report_model.Report, options: ScanOptions) -> str:
    fmt = options.format
    if fmt == "junit":
        from scanner.report import junit

        return junit.render(report, options.fail_on)
    if fmt == "sarif":
        from scanner.report import sarif

        return sarif.render(sarif.from_report(report))
    from scanner.report import json_format

    return json_format.render(report)
