"""``driftscan scenario list`` and ``driftscan scenario run``: from parsed options to a result.

``cli`` parses the arguments into a :class:`RunRequest` and calls :func:`run_command`
(or :func:`list_command`); this module picks the cluster source, wires the observers
(terminal progress on stderr, files in ``--out``) and returns the exit code:
0 every scenario passed, 1 an expectation was missed, 2 the run could not be carried out,
130 interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scanner import errors, exits
from scanner.clusters import providers
from scanner.report import plain
from scanner.scenarios import catalog, narrator, observers, outputs, running, targets
from scanner.scenarios import definitions as d

__all__ = ["RunRequest", "list_command", "run_command"]


@dataclass(frozen=True)
class RunRequest:
    """Everything ``driftscan scenario run`` accepts."""

    names: tuple[str, ...] = ()
    all: bool = False
    files: tuple[str, ...] = ()
    dirs: tuple[Path, ...] = ()
    provider: str = "auto"
    keep_cluster: bool = False
    isolate: bool = False
    out: Path = outputs.DEFAULT_DIR
    cluster_name: str = "driftscan"
    nodes: int | None = None
    context: str | None = None
    kubeconfig: str | None = None
    registry: str | None = None
    pull_registry: str | None = None
    cleanup: str = "always"
    verbose: bool = False
    allow_gaps: bool = False
    """Exit 0 rather than 3 when every expectation was met but a scan had gaps."""
    real_nodes: int = 0
    """kwok: run the scenarios' pods on this many real nodes (kubelet + containerd)."""
    detector: str = "scan"
    """``watch``: also time detection by a ``driftscan watch`` beside the run."""


def list_command(stdout: Console, files: Sequence[str] = (),
                 dirs: Sequence[Path] = ()) -> int:
    """Print the library and each ``--dir`` as one table (only the files with ``--file``).

    With ``--file`` alone, only the files are listed (with ``--dir`` also the library and the
    folders), each file with a line saying whether it is valid.

    The ``from`` column says where each scenario comes from: ``library`` (shipped in the
    package), the ``--dir`` folder, or ``--file``.

    Raises:
        errors.InputError: nothing found (naming what was searched), an unusable ``--dir``,
            a ``--file`` that does not exist.
        errors.ScenarioInvalid: a file is invalid.
    """
    if files:
        return _list_files(stdout, files, dirs)
    found = catalog.discover(dirs)
    if not found:
        raise errors.InputError(f"no scenarios found: searched {catalog.searched(dirs)}",
                                hint="reinstall driftscan, or pass --dir PATH / --file PATH")
    _table(stdout, found, f"Scenarios (library: {catalog.library_dir()})")
    return 0


def _list_files(stdout: Console, files: Sequence[str], dirs: Sequence[Path]) -> int:
    """The ``--file`` scenarios, then one valid/invalid line per file; raise when any is invalid.

    Raises:
        catalog.InvalidScenarios: every problem of every invalid file.
        errors.InputError: a file does not exist.
    """
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise errors.InputError(f"scenario file {missing[0]} does not exist")
    # --file alone lists just the files; --dir asks for the library and the folders too.
    found = catalog.discover(dirs) if dirs else []
    problems: list[catalog.Problem] = []
    verdicts: list[str] = []
    for f in dict.fromkeys(files):
        try:
            scenario = catalog.load_file(Path(f))
        except catalog.InvalidScenarios as e:
            problems.extend(e.problems)
            n = len(e.problems)
            verdicts.append(f"[bold red]{escape(f)}: invalid[/] ({n} problem{'s' * (n != 1)},"
                            " listed below)")
            continue
        found.append(("--file", scenario))
        verdicts.append(f"[green]{escape(f)}: valid[/] (scenario {escape(scenario.name)})")
    if found:
        _table(stdout, found, "Scenarios (--file)")
    for line in verdicts:
        stdout.print(line, highlight=False, soft_wrap=True)
    if problems:
        raise catalog.InvalidScenarios(problems)
    return 0


def _table(stdout: Console, found: Sequence[tuple[str, d.Scenario]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("what it replays", ratio=3)
    table.add_column("scans (expectations)", ratio=2)
    table.add_column("from", overflow="fold")
    for origin, s in found:
        expects = []
        for label in s.scan_labels():
            e = s.expect.get(label)
            n = (len(e.fires) + len(e.absent) + (e.clean is not None)) if e else 0
            expects.append(f"{label} ({n})")
        tags = f" [dim]({escape(', '.join(s.tags))})[/]" if s.tags else ""
        table.add_row(s.name, escape(s.title) + tags, ", ".join(expects), escape(origin))
    stdout.print(table)


def _clusters(request: RunRequest, say: Console) -> targets.Clusters:
    existing_only = {"--context": request.context, "--registry": request.registry,
                     "--pull-registry": request.pull_registry, "--kubeconfig": request.kubeconfig}
    if request.provider == "existing":
        return targets.ExistingCluster(
            context=request.context or "", registry=request.registry or "",
            kubeconfig=Path(request.kubeconfig) if request.kubeconfig else None,
            pull_registry=request.pull_registry)
    given = [flag for flag, value in existing_only.items() if value]
    if given:
        raise errors.InputError(f"{', '.join(given)} only apply to --provider existing",
                                hint="drop them, or add --provider existing")
    chosen = providers.choose(request.provider)
    if request.real_nodes and chosen != "kwok":
        raise errors.InputError(f"--real-nodes runs beside KWOK's fake nodes; provider "
                                f"{chosen} has real nodes of its own",
                                hint="add --provider kwok, or drop --real-nodes")
    if request.provider == "auto":
        why = "a Docker engine answers" if chosen == "kind" else "no Docker engine answers"
        say.print(f"[dim]provider: {chosen} (auto: {why})[/]", highlight=False)
    return targets.ProviderClusters(chosen, request.cluster_name, keep=request.keep_cluster,
                                    real_nodes=request.real_nodes)


def run_command(request: RunRequest, stdout: Console, stderr: Console,
                argv: Sequence[str] | None = None) -> int:
    """Run what ``request`` selects; print progress and the summary; return the exit code.

    Raises:
        errors.ScenarioInvalid: a selected scenario file is invalid.
        errors.InputError: nothing selected, unknown names, contradictory options, an
            unusable ``--dir`` or ``--out``.
    """
    scenarios = catalog.select(request.names, all_=request.all, files=request.files,
                               dirs=request.dirs)
    clusters = _clusters(request, stderr)
    options = running.RunOptions(cleanup=request.cleanup, isolate=request.isolate,
                                 nodes=request.nodes)
    observer: observers.Observer = narrator.ProgressObserver(stderr, verbose=request.verbose)
    detector = None
    if request.detector == "watch":
        from scanner.scenarios import watch_detector

        detector = watch_detector.WatchDetector()
        observer = observers.Observers([detector, observer])  # timed before it is printed
    try:
        record = running.run(scenarios, clusters=clusters,
                             outputs_=outputs.Outputs(request.out), observer=observer,
                             options=options, argv=argv)
    finally:
        if detector is not None:
            detector.close()
    stdout.print()
    narrator.summary(record, stdout, request.out)
    if record.incomplete and not request.allow_gaps and record.exit_code() == exits.INCOMPLETE:
        stderr.print(plain.text("warning: a scan step could not read everything (gaps are in"
                                " its report); exit code 3, --allow-gaps accepts that",
                                "bold red"), soft_wrap=True)
    return record.exit_code(allow_gaps=request.allow_gaps)
