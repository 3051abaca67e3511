"""The ``driftscan watch`` command line (registered on ``scanner.cli``'s group).

Only click is imported here; the watcher, ``prometheus_client`` and the registry client
load when the command runs, so ``driftscan --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from scanner import errors

__all__ = ["command"]


class _OneLine(click.Command):
    """A bad option is one ``error:`` line and exit 2, not click's usage block.

    A watcher runs under a service manager or in a pod, whose log shows one line per problem.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            raise errors.InputError(f"driftscan watch: {e.format_message()}") from e


def command(duration: click.ParamType[float], timeout_option: Callable[[Any], Any],
            argv: Callable[[], Sequence[str]]) -> click.Command:
    """The ``watch`` command, built with the main group's option types.

    Args:
        duration: the parameter type of durations (``30s``, ``10m``, ``500ms``).
        timeout_option: the shared ``--request-timeout`` option.
        argv: the command line as typed, for the report's provenance.
    """

    @click.command("watch", cls=_OneLine)
    @click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (default: $KUBECONFIG, "
                  "then ~/.kube/config, then the pod's service account).")
    @click.option("--context", metavar="NAME",
                  help="Kubeconfig context (default: the current one).")
    @click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
                  help="Namespace to watch; repeatable (default: the context's namespace).")
    @click.option("-A", "--all-namespaces", is_flag=True, help="Watch every namespace.")
    @click.option("--listen", default="127.0.0.1:9847", show_default=True, metavar="HOST:PORT",
                  help="Where to serve /metrics, /healthz, /readyz, /report.json and /.")
    @click.option("--registry-check", is_flag=True,
                  help="Ask each image's registry what its tag names now, every "
                  "--registry-interval, and report latent-drift.")
    @click.option("--registry-interval", type=duration, default="10m", show_default=True,
                  help="Time between two registry checks.")
    @click.option("--insecure-registry", "insecure_registries", multiple=True, metavar="HOST",
                  help="Reach this registry over plain HTTP (loopback ones always are); "
                  "repeatable.")
    @click.option("--debounce", type=duration, default="0.2s", show_default=True,
                  help="Quiet time after a change before the affected workloads are recomputed.")
    @timeout_option
    def watch(kubeconfig: str | None, context: str | None, namespaces: tuple[str, ...],
              all_namespaces: bool, listen: str, registry_check: bool, registry_interval: float,
              insecure_registries: tuple[str, ...], debounce: float,
              request_timeout: float) -> int:
        """Keep the findings of a cluster current and serve them as Prometheus metrics.

        \b
        Lists and watches what `scan` reads (never Secrets), recomputes only the workloads
        a change touches, and serves /metrics, /healthz, /readyz, /report.json and / (the
        HTML report of now). Runs until SIGTERM (exit 0) or Ctrl-C (exit 130).
        """  # noqa: D301 — \b (backspace) keeps click from rewrapping
        from scanner import redacting
        from scanner.watching import command, watcher

        if namespaces and all_namespaces:
            raise errors.InputError("-n and -A cannot be combined")
        options = watcher.WatchOptions(
            kubeconfig=kubeconfig, context=context, namespaces=namespaces,
            all_namespaces=all_namespaces, debounce=debounce,
            registry_interval=registry_interval if registry_check else None,
            request_timeout=request_timeout)
        return command.run(
            command.WatchCommand(options, listen, insecure_registries,
                                 tuple(redacting.command_line(argv()))),
            lambda message: click.echo(message, err=True))

    return watch
