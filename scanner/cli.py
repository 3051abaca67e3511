"""Command line entry point ``driftscan``: parses arguments, calls one function, maps errors.

Every ``errors.DriftscanError`` becomes one message on stderr and exit code 2; nothing a
user can cause ends in a traceback. Exit codes: 0 clean, 1 findings at or above
``--fail-on`` (or a missed scenario expectation), 2 usage or environment error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from scanner import __version__, errors

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driftscan")
def cli() -> None:
    """Find pods of one workload running different builds of the same container."""


# --- scan ------------------------------------------------------------------------------


@cli.command("scan")
@click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (default: $KUBECONFIG, "
              "then ~/.kube/config).")
@click.option("--context", metavar="NAME", help="Kubeconfig context (default: the current one).")
@click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
              help="Namespace to scan; repeatable (default: the context's namespace).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Scan every namespace.")
@click.option("--from", "files", multiple=True, metavar="FILE",
              help="Scan a saved `kubectl get … -o json|yaml` dump instead of a cluster; "
              "repeatable, - for stdin.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]),
              default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE (default: stdout).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical"]),
              default="high", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
def scan(kubeconfig: str | None, context: str | None, namespaces: tuple[str, ...],
         all_namespaces: bool, files: tuple[str, ...], fmt: str, output: str | None,
         fail_on: str) -> int:
    """Find workloads whose pods run different builds of the same container."""
    from rich.console import Console

    from scanner import findings, scanning
    from scanner.sources import loading

    options = scanning.ScanOptions(
        request=loading.LoadRequest(files=files, kubeconfig=kubeconfig, context=context,
                                    namespaces=namespaces, all_namespaces=all_namespaces),
        format=fmt,
        output=output,
        fail_on=findings.Severity.parse(fail_on),
    )
    return scanning.run(options, Console(), Console(stderr=True))


@cli.command("report")
@click.argument("report_json", metavar="REPORT.json")
@click.option("-o", "--output", metavar="FILE", required=True,
              help="Where to write the HTML page.")
def report_command(report_json: str, output: str) -> None:
    """Render a saved JSON report (`scan --format json`) as a self-contained HTML page."""
    from scanner.report import html, loading

    html.write(loading.read(report_json), output)
    click.echo(f"wrote {output}")


@cli.command("rules")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table",
              show_default=True, help="table for the terminal, markdown for docs/rules.md.")
def rules_command(fmt: str) -> None:
    """List every rule with its default severity, title and remediation."""
    from rich.console import Console

    from scanner import rule_listing

    if fmt == "markdown":
        click.echo(rule_listing.markdown(), nl=False)
    else:
        rule_listing.table(Console())


# --- cluster ---------------------------------------------------------------------------


@cli.group()
def cluster() -> None:
    """Start, stop and inspect a throw-away test cluster."""


F = TypeVar("F", bound=Callable[..., Any])


def _provider_options(f: F) -> F:
    f = click.option("--provider", type=click.Choice(["auto", "kwok", "kind"]), default="auto",
                     show_default=True, help="Cluster provider; auto picks kind when a Docker "
                     "engine answers, kwok otherwise.")(f)
    f = click.option("--name", default="driftscan", show_default=True,
                     help="Cluster name; state lives in .driftscan/clusters/NAME/.")(f)
    return f


@cluster.command("up")
@_provider_options
@click.option("--nodes", type=click.IntRange(1, 2000), default=3, show_default=True,
              help="Number of nodes (kwok: fake nodes; kind: workers besides the "
              "control plane).")
def cluster_up(provider: str, name: str, nodes: int) -> None:
    """Start the cluster (idempotent) and print how to use it."""
    from scanner.clusters import providers

    handle = providers.up(provider, name=name, nodes=nodes, say=_say)
    click.echo(providers.env_lines(handle))


@cluster.command("down")
@_provider_options
def cluster_down(provider: str, name: str) -> None:
    """Stop every process of the cluster and free its ports (idempotent)."""
    from scanner.clusters import providers

    providers.down(provider, name=name, say=_say)


@cluster.command("status")
@_provider_options
def cluster_status(provider: str, name: str) -> None:
    """Show whether the cluster and each of its components is running."""
    from scanner.clusters import providers

    click.echo(providers.status_text(provider, name=name))


@cluster.command("env")
@_provider_options
def cluster_env(provider: str, name: str) -> None:
    """Print ``export KUBECONFIG=…`` and ``export DRIFTSCAN_REGISTRY=…`` lines."""
    from scanner.clusters import providers

    click.echo(providers.env_lines(providers.handle(provider, name=name)))


def _say(message: str) -> None:
    click.echo(message, err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (also used in-process by tests)."""
    try:
        result = cli.main(args=argv, prog_name="driftscan", standalone_mode=False)
    except errors.DriftscanError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_ERROR
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return EXIT_CLEAN


def _exit(code: int) -> None:
    """Leave a command with ``code`` (used by commands that report findings)."""
    raise click.exceptions.Exit(code)


if __name__ == "__main__":
    sys.exit(main())
