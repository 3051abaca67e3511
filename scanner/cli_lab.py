"""The ``driftscan cluster`` and ``driftscan scenario`` command groups: the test lab.

Registered on ``scanner.cli``'s group; like every command there, each one imports what it
runs only when it runs, so ``driftscan --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from scanner import exits

__all__ = ["cluster", "scenario"]

F = TypeVar("F", bound=Callable[..., Any])


def _say(message: str) -> None:
    click.echo(message, err=True)


# --- cluster ---------------------------------------------------------------------------


@click.group()
def cluster() -> None:
    """Start, stop and inspect a throw-away test cluster."""


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
@click.option("--real-nodes", type=click.IntRange(0, 8), default=0, show_default=True,
              help="kwok: also run this many real nodes (kubelet + containerd, needs root, "
              "containerd, runc, CNI plugins and busybox-static).")
def cluster_up(provider: str, name: str, nodes: int, real_nodes: int) -> None:
    """Start the cluster (idempotent) and print how to use it."""
    from scanner.clusters import providers

    handle = providers.up(provider, name=name, nodes=nodes, say=_say, real_nodes=real_nodes)
    click.echo(providers.env_lines(handle))


@cluster.command("down")
@_provider_options
def cluster_down(provider: str, name: str) -> None:
    """Stop every process of the cluster and free its ports (idempotent)."""
    from scanner.clusters import providers

    providers.down(provider, name=name, say=_say)


@cluster.command("tools")
@click.option("--provider", type=click.Choice(["kwok", "auto", "kind"]), default="kwok",
              show_default=True, help="Build what this provider needs: kwok its binaries; "
              "kind nothing; auto decides as `cluster up` would (kind when a Docker engine "
              "answers).")
@click.option("--bin", "bin_dir", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Also copy the binaries into DIR (what `make "
              "cluster-tools` does for a checkout's .tools/bin).")
def cluster_tools(provider: str, bin_dir: Path | None) -> None:
    """Build the kwok cluster's binaries from pinned Go modules (needs Go).

    They land in the per-user cache, ~/.cache/driftscan-tools/VERSION/, where `cluster up`
    finds them; binaries already there are reused, so a second run takes seconds.
    """
    from scanner.clusters import providers, toolbuilding

    chosen = providers.choose(provider)
    if chosen != "kwok":
        _say(f"provider: {chosen}{' (auto: a Docker engine answers)' if provider == 'auto' else ''}"
             "; kind brings its own binaries, nothing to build")
        return
    if provider == "auto":
        _say("provider: kwok (auto: no Docker engine answers)")
    toolbuilding.build(bin_dir=bin_dir, say=_say)


@cluster.command("status")
@_provider_options
def cluster_status(provider: str, name: str) -> int:
    """Show whether the cluster and each of its components is running.

    Exit code 0 when every component runs; 3 when the cluster is stopped, partly
    stopped or was never created (as `systemctl status` does for a unit not running).
    """
    from scanner.clusters import providers

    text, running = providers.status(provider, name=name)
    click.echo(text)
    if running:
        return exits.CLEAN
    chosen = providers.choose(provider)
    click.echo(f"cluster {name} is not running; start it: driftscan cluster up --provider"
               f" {chosen} --name {name}", err=True)
    return exits.INCOMPLETE


@cluster.command("env")
@_provider_options
def cluster_env(provider: str, name: str) -> None:
    """Print ``export KUBECONFIG=…`` and ``export DRIFTSCAN_REGISTRY=…`` lines."""
    from scanner.clusters import providers

    click.echo(providers.env_lines(providers.handle(provider, name=name)))


# --- scenario --------------------------------------------------------------------------


@click.group()
def scenario() -> None:
    """Inject version drift into a test cluster and prove that detection catches it."""


@scenario.command("list")
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="List and validate only this scenario file (not the library), and say "
              "whether it is valid; repeatable.")
@click.option("--dir", "dirs", multiple=True, metavar="PATH",
              type=click.Path(file_okay=False, path_type=Path),
              help="Also search this folder of scenario files (your team's own); "
              "repeatable.")
def scenario_list(files: tuple[str, ...], dirs: tuple[Path, ...]) -> int:
    """List the scenario library (and --dir folders), or only --file files: validated."""
    from rich.console import Console

    from scanner.scenarios import commands

    return commands.list_command(Console(), files, dirs)


@scenario.command("run")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--all", "all_", is_flag=True,
              help="Run every scenario of the library and of each --dir.")
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="Run a scenario file from anywhere; repeatable.")
@click.option("--dir", "dirs", multiple=True, metavar="PATH",
              type=click.Path(file_okay=False, path_type=Path),
              help="Also search this folder of scenario files (your team's own); "
              "repeatable.")
@click.option("--provider", type=click.Choice(["auto", "kwok", "kind", "existing"]),
              default="auto", show_default=True,
              help="Where to run: auto picks kind when a Docker engine answers, kwok "
              "otherwise; existing uses --context of your kubeconfig.")
@click.option("--keep-cluster", is_flag=True,
              help="Leave a cluster this run started running afterwards.")
@click.option("--isolate", is_flag=True, help="A cluster of its own for each scenario.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/scenarios/LATEST"), show_default=True,
              help="Folder for journal.json, junit.xml and each scan's report.")
@click.option("--name", "cluster_name", default="driftscan", show_default=True,
              help="Cluster name (kwok/kind); reused when already running.")
@click.option("--nodes", type=click.IntRange(1, 500), default=None,
              help="Nodes for a cluster this run starts (default: what the scenarios need, "
              "at least 4).")
@click.option("--cleanup", type=click.Choice(["always", "on-success", "never"]),
              default="always", show_default=True,
              help="Delete each scenario's namespace and added nodes afterwards.")
@click.option("--context", metavar="NAME", help="--provider existing: kubeconfig context "
              "to use (required; never the implicit current one).")
@click.option("--kubeconfig", metavar="PATH", help="--provider existing: kubeconfig file.")
@click.option("--registry", metavar="HOST:PORT", help="--provider existing: registry this "
              "machine pushes builds to.")
@click.option("--pull-registry", metavar="HOST:PORT", help="--provider existing: the same "
              "registry as the cluster's nodes name it, when that differs.")
@click.option("--real-nodes", type=click.IntRange(0, 8), default=0, show_default=True,
              help="kwok: run the scenarios' pods on this many real nodes (kubelet + "
              "containerd) started beside the fake ones, which are tainted for the run.")
@click.option("-v", "--verbose", is_flag=True, help="Print what each step did.")
@click.option("--allow-gaps", is_flag=True,
              help="Exit 0 instead of 3 when every expectation was met but a scan step could "
              "not read everything.")
@click.option("--detector", type=click.Choice(["scan", "watch"]), default="scan",
              show_default=True, help="watch: also run `driftscan watch` beside the scenarios "
              "and record when its metrics first changed after each injection.")
def scenario_run(names: tuple[str, ...], all_: bool, files: tuple[str, ...],
                 dirs: tuple[Path, ...], provider: str,
                 keep_cluster: bool, isolate: bool, out: Path, cluster_name: str,
                 nodes: int | None, cleanup: str, context: str | None, kubeconfig: str | None,
                 registry: str | None, pull_registry: str | None, real_nodes: int,
                 verbose: bool, allow_gaps: bool, detector: str) -> int:
    """Run scenarios: deploy, inject drift, scan, and check what detection finds.

    \b
    Exit codes: 0 every expectation met, 1 an expectation missed, 2 the run could not be
    carried out, 3 met but a scan had gaps (--allow-gaps makes it 0), 130 interrupted.
    """  # noqa: D301 — \b (backspace) keeps click from rewrapping
    from rich.console import Console

    from scanner.scenarios import commands

    request = commands.RunRequest(
        names=names, all=all_, files=files, dirs=dirs, provider=provider,
        keep_cluster=keep_cluster, isolate=isolate, out=out, cluster_name=cluster_name,
        nodes=nodes, context=context,
        kubeconfig=kubeconfig, registry=registry, pull_registry=pull_registry,
        cleanup=cleanup, verbose=verbose, allow_gaps=allow_gaps, real_nodes=real_nodes,
        detector=detector)
    return commands.run_command(request, Console(), Console(stderr=True), sys.argv)
