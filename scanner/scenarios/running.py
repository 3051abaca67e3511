"""Run scenarios: a namespace each, steps with timeouts, scans, expectations, cleanup.

The CLI (``driftscan scenario run``) and the integration tests call :func:`run` with the
scenarios, a cluster source (``targets``) and an output folder. Everything a run needs
travels in one :class:`RunContext`; progress goes to its observer (terminal, files,
tests).

For each scenario:

1. preflight: node steps only where the cluster allows them (else the scenario is
   skipped): none on ``existing``, ``add-node`` only on kwok, ``drain-node: {hosting: …}``
   only on a cluster the run started (elsewhere a scenario drains only nodes it added);
   enough schedulable nodes (else it is aborted);
2. a fresh namespace ``ds-NAME-XXXXXX`` labelled with the run id — the only namespace
   the scenario writes to, and the only one cleanup deletes (after checking the label);
3. ``steps`` in order, each with its timeout (and within the scenario's budget); the
   first failure stops them; after each ``scan`` the expectations for its label are
   checked and the time to detect is recorded (from the start of the step marked
   ``inject: true``, else of the first step since the previous scan that changed
   something);
4. ``finally`` steps (not after an interrupt);
5. cleanup, always — also after a failure or Ctrl-C; signals are held off while it runs.
   It uncordons what the scenario cordoned, deletes its namespace (without waiting for
   the namespace controller to finish) and the nodes it added (once their pods are gone:
   a progress line says so), and — on a shared registry (``existing``) — the image
   manifests it pushed.

Ctrl-C (SIGINT) and SIGTERM interrupt the scenario that runs, skip the rest, release the
cluster and still write journal.json and junit.xml.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from scanner import errors, scanning
from scanner.oci import failures
from scanner.report import document as report_model
from scanner.report import json_format
from scanner.scenarios import (
    builds,
    expectations,
    kubeapi,
    observers,
    outputs,
    realnodes,
    records,
    steps,
    targets,
)
from scanner.scenarios import definitions as d
from scanner.sources import loading as source_loading

__all__ = ["CLEANUP_POLICIES", "RunContext", "RunOptions", "live_scan", "run"]

CLEANUP_POLICIES = ("always", "on-success", "never")
DEFAULT_NODES = 4

Scan = Callable[[targets.Target, str], report_model.Report]


def live_scan(target: targets.Target, namespace: str) -> report_model.Report:
    """Scan one namespace of the target cluster in-process, as ``driftscan scan -n`` does.

    The report's provenance records that equivalent command line.
    """
    kubeconfig = str(target.handle.kubeconfig)
    command = ("driftscan", "scan", "--kubeconfig", kubeconfig,
               *(("--context", target.context) if target.context else ()), "-n", namespace)
    return scanning.scan(source_loading.LoadRequest(
        kubeconfig=kubeconfig, context=target.context, namespaces=(namespace,)),
        command_line=command)


@dataclass(frozen=True)
class RunOptions:
    """How to run."""

    cleanup: str = "always"
    """``always``, ``on-success`` (keep a failed scenario's namespace) or ``never``."""
    isolate: bool = False
    """A cluster of its own for each scenario."""
    nodes: int | None = None
    """Nodes for clusters the run starts (default: what the scenarios need, at least 4)."""


@dataclass
class RunContext:
    """Everything a run needs, passed as one object."""

    clusters: targets.Clusters
    outputs: outputs.Outputs
    observer: observers.Observer
    options: RunOptions
    record: records.RunRecord
    scan: Scan = live_scan


def new_run_id() -> str:
    """``20261128t101500-3f9a1c``: sortable, unique, valid as a label value."""
    return time.strftime("%Y%m%dt%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def run(scenarios: Sequence[d.Scenario], *, clusters: targets.Clusters,
        outputs_: outputs.Outputs, observer: observers.Observer | None = None,
        options: RunOptions = RunOptions(), scan: Scan = live_scan,
        argv: Sequence[str] | None = None) -> records.RunRecord:
    """Run ``scenarios`` and write the output files; return the run record.

    Never raises for a scenario that fails, deviates or is interrupted: that is in the
    record (``record.exit_code()``). Raises only when the output folder is unusable.
    """
    if options.cleanup not in CLEANUP_POLICIES:
        raise errors.InputError(f"unknown cleanup policy {options.cleanup!r}",
                                hint=f"use one of {', '.join(CLEANUP_POLICIES)}")
    outputs_.prepare()
    record = records.RunRecord(run_id=new_run_id(), provider=clusters.provider,
                               isolate=options.isolate, cleanup_policy=options.cleanup)
    files = outputs.FilesObserver(outputs_, argv)
    chain = observers.Observers([files, *([observer] if observer else [])])
    ctx = RunContext(clusters, outputs_, chain, options, record, scan)
    with _terminate_as_interrupt():
        try:
            chain.run_started(record, list(scenarios))
            _run_all(ctx, scenarios)
        except KeyboardInterrupt:
            record.status = records.Status.INTERRUPTED
            where = next((f" in scenario {s.scenario.name}" + (s.error or "").removeprefix(
                "interrupted (Ctrl-C or SIGTERM)") for s in record.scenarios
                if s.status is records.Status.INTERRUPTED), "")
            record.error = record.error or f"interrupted (Ctrl-C or SIGTERM){where}"
        finally:
            _not_run(ctx, scenarios)
            record.ended = time.time()
            record.duration_s = record.ended - record.started
            chain.run_finished(record)
    return record


def _run_all(ctx: RunContext, scenarios: Sequence[d.Scenario]) -> None:
    say = ctx.observer.say
    if not ctx.options.isolate:
        nodes = ctx.options.nodes or max([DEFAULT_NODES, *(s.min_nodes for s in scenarios)])
        shared = _acquire(ctx, None, nodes)
        if isinstance(shared, str):
            ctx.record.status, ctx.record.error = records.Status.ABORTED, shared
            return
        try:
            for scenario in scenarios:
                if run_scenario(ctx, shared, scenario).status is records.Status.INTERRUPTED:
                    raise KeyboardInterrupt
        finally:
            with _shielded(say):
                _release(ctx, shared)
        return
    for scenario in scenarios:
        target = _acquire(ctx, scenario.name,
                          ctx.options.nodes or max(DEFAULT_NODES, scenario.min_nodes))
        if isinstance(target, str):
            _skip(ctx, scenario, f"the cluster did not start: {target}", started=True)
            continue
        try:
            result = run_scenario(ctx, target, scenario)
        finally:
            with _shielded(say):
                _release(ctx, target)
        if result.status is records.Status.INTERRUPTED:
            raise KeyboardInterrupt


def _acquire(ctx: RunContext, scenario: str | None, nodes: int) -> targets.Target | str:
    """The cluster, or why it could not be had."""
    try:
        target = ctx.clusters.acquire(scenario, nodes, ctx.observer.say)
    except errors.DriftscanError as e:
        ctx.observer.say(f"error: {e}")
        return str(e)
    ctx.record.clusters.append(target.describe())
    return target


def _release(ctx: RunContext, target: targets.Target) -> None:
    """Give the cluster back; stopping one the run started is announced and timed."""
    if target.stops_at_release:
        ctx.observer.say(f"stopping {target.handle.provider} cluster "
                         f"{target.handle.name!r} (the run started it)")
    began = time.monotonic()
    try:
        ctx.clusters.release(target, ctx.observer.say)
    except errors.DriftscanError as e:
        ctx.observer.say(f"warning: could not stop the cluster: {e}")
    for entry in ctx.record.clusters:
        if entry.get("name") == target.handle.name and "release_s" not in entry:
            entry["release_s"] = round(time.monotonic() - began, 3)


def _skip(ctx: RunContext, scenario: d.Scenario, why: str, *, started: bool = False) -> None:
    now = time.time() if started else 0.0
    rec = records.ScenarioRecord(scenario, status=records.Status.ABORTED, error=why,
                                 started=now, ended=now)
    ctx.record.scenarios.append(rec)
    if started:
        ctx.observer.scenario_finished(rec)


def _not_run(ctx: RunContext, scenarios: Sequence[d.Scenario]) -> None:
    """Record the scenarios the run never reached."""
    done = {s.scenario.name for s in ctx.record.scenarios}
    why = ("not run: the run was interrupted" if ctx.record.status is records.Status.INTERRUPTED
           else f"not run: {ctx.record.error or 'the run stopped early'}")
    for scenario in scenarios:
        if scenario.name not in done:
            _skip(ctx, scenario, why)


# --- one scenario ----------------------------------------------------------------------


class _Stop(Exception):
    """Ends a scenario early with a status and a reason."""

    def __init__(self, status: records.Status, message: str, step: str | None = None, *,
                 skip: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.step = step
        self.skip = skip


def namespace_for(scenario: str) -> str:
    """``ds-NAME-XXXXXX``: at most 63 characters, random suffix."""
    return f"ds-{scenario}"[:55].rstrip("-") + "-" + secrets.token_hex(3)


def run_scenario(ctx: RunContext, target: targets.Target,
                 scenario: d.Scenario) -> records.ScenarioRecord:
    """Run one scenario on ``target``; the record says how it went."""
    rec = records.ScenarioRecord(scenario, started=time.time(), cluster=target.describe())
    ctx.record.scenarios.append(rec)
    began = time.monotonic()
    kube: kubeapi.Kube | None = None
    ws: steps.Workspace | None = None
    interrupted = False
    tainted: list[str] = []
    try:
        ctx.observer.scenario_started(rec)
        kube = kubeapi.Kube(target.handle.kubeconfig, target.context)
        _check_node_steps(scenario, target, kube.nodes())
        if target.real_nodes:
            # The fake nodes take none of this scenario's pods; restored at cleanup.
            with _shielded(ctx.observer.say):
                tainted = realnodes.taint_fake_nodes(kube, ctx.record.run_id)
        nodes = _await_nodes(kube, scenario.min_nodes)
        _check_nodes(scenario, target, nodes)
        rec.namespace = namespace_for(scenario.name)
        ws = steps.Workspace(
            scenario=scenario, namespace=rec.namespace, run_id=ctx.record.run_id, kube=kube,
            publisher=builds.for_cluster(target.handle, nodes),
            registry=target.handle.pull_registry,
            scan=lambda: ctx.scan(target, rec.namespace or ""),
            can_add_nodes=builds.is_kwok(nodes) and target.handle.provider != "existing",
            may_drain_any=target.started,
            builds=rec.builds, adapt=realnodes.adapt if target.real_nodes else None,
            **(realnodes.node_hooks(target.handle, ctx.observer.say) if target.real_nodes
               else {}))
        kube.create_namespace(rec.namespace, ws.labels())
        _run_steps(ctx, rec, ws, scenario.steps, began + scenario.timeout)
        rec.status = records.Status.COMPLETED
    except _Stop as e:
        rec.status, rec.error, rec.error_step, rec.skipped = e.status, e.message, e.step, e.skip
    except KeyboardInterrupt:
        rec.status, rec.error = records.Status.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
        _name_interrupted_step(rec)
        interrupted = True
    except errors.DriftscanError as e:
        started = ws is not None and bool(rec.steps)
        rec.status = records.Status.FAILED if started else records.Status.ABORTED
        rec.error = str(e)
    finally:
        try:
            if ws is not None and not interrupted and scenario.finally_steps:
                interrupted = _run_finally(ctx, rec, ws, began + scenario.timeout + 60)
        finally:
            try:
                if kube is not None:
                    with _shielded(ctx.observer.say):
                        realnodes.record_node_types(rec, kube)
                        _cleanup(ctx, rec, target, kube, ws)
                        realnodes.lift_taints(rec, kube, tainted, ctx.record.run_id)
            finally:
                if kube is not None:
                    kube.close()
                rec.ended = time.time()
                rec.duration_s = time.monotonic() - began
                ctx.observer.scenario_finished(rec)
    return rec


def _name_interrupted_step(rec: records.ScenarioRecord) -> None:
    """Name the step Ctrl-C stopped in the record (journal, HTML), as the terminal does."""
    srec = next((s for s in reversed(rec.steps)
                 if s.status is records.StepStatus.INTERRUPTED), None)
    if srec is not None:
        rec.error_step = srec.step.path
        rec.error = (f"interrupted (Ctrl-C or SIGTERM) during {srec.step.path}"
                     f" {srec.describe()}")


def _await_nodes(kube: kubeapi.Kube, wanted: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The nodes, once ``wanted`` of them are schedulable (or the time is up).

    A cluster that has just started reports its nodes Ready a moment before the node
    lifecycle controller lifts their ``not-ready`` taints. When there are fewer nodes than
    ``wanted`` at all, no wait helps: the nodes are returned at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        nodes = kube.nodes()
        if (sum(_schedulable(n) for n in nodes) >= wanted or len(nodes) < wanted
                or time.monotonic() > deadline):
            return nodes
        time.sleep(0.5)


def _check_nodes(scenario: d.Scenario, target: targets.Target,
                 nodes: list[dict[str, Any]]) -> None:
    schedulable = [n for n in nodes if _schedulable(n)]
    if len(schedulable) < scenario.min_nodes:
        if target.handle.provider not in ("kwok", "kind"):
            hint = "use a larger cluster"
        elif target.started:
            hint = "start the cluster with more nodes (--nodes N)"
        else:
            hint = (f"cluster {target.handle.name!r} was already running and is used as it "
                    "is; stop it (driftscan cluster down) so the run starts one with enough "
                    f"nodes, or start it with --nodes {scenario.min_nodes}")
        raise _Stop(records.Status.ABORTED,
                    f"needs at least {scenario.min_nodes} schedulable nodes; the cluster has "
                    f"{len(schedulable)} ({hint})")


def _check_node_steps(scenario: d.Scenario, target: targets.Target,
                      nodes: list[dict[str, Any]]) -> None:
    kinds = {s.kind for s in scenario.all_steps}
    if target.handle.provider == "existing" and kinds & {"add-node", "drain-node"}:
        raise _Stop(records.Status.ABORTED,
                    "skipped: add-node and drain-node change nodes other workloads share; "
                    "they do not run on --provider existing (use kwok or kind)", skip=True)
    if "add-node" in kinds and not builds.is_kwok(nodes) and not target.real_nodes:
        raise _Stop(records.Status.ABORTED,
                    "skipped: add-node needs a kwok cluster (kind cannot add nodes to a "
                    "running cluster); run this scenario with --provider kwok", skip=True)
    hosting = next(((s.path, s.action.hosting) for s in scenario.all_steps
                    if isinstance(s.action, d.DrainNode) and s.action.node is None), None)
    if hosting is not None and not target.started:
        path, selector = hosting
        raise _Stop(records.Status.ABORTED,
                    f"skipped: {path} drain-node {{hosting: {selector}}} could cordon a node "
                    f"this run did not create: cluster {target.handle.name!r} was already "
                    "running when the run began. On a cluster the run does not start, "
                    "drain-node only drains nodes the scenario added (drain-node: {node: "
                    "NAME}); stop the cluster first so the run starts its own", skip=True)


def _schedulable(node: dict[str, Any]) -> bool:
    spec, status = node.get("spec", {}), node.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    tainted = any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or [])
    return ready and not spec.get("unschedulable") and not tainted


def _run_steps(ctx: RunContext, rec: records.ScenarioRecord, ws: steps.Workspace,
               todo: Sequence[d.Step], deadline: float) -> None:
    since_scan: list[tuple[records.StepRecord, float]] = []
    for step in todo:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Stop(records.Status.FAILED,
                        f"the scenario's time budget ({rec.scenario.timeout:g}s) ran out "
                        f"before {step.path}", step.path)
        ctx.observer.step_started(rec, step)
        srec = records.StepRecord(step, started=time.time(), description=ws.describe(step))
        began = time.monotonic()
        outcome: steps.Outcome | None = None
        try:
            outcome = steps.execute(step, ws, min(step.timeout, left))
            srec.detail, srec.output = outcome.detail, outcome.output
        except steps.StepFailed as e:
            _finish(ctx, rec, srec, began, records.StepStatus.TIMED_OUT if e.timed_out
                    else records.StepStatus.FAILED, e.message, e.output)
            raise _Stop(records.Status.FAILED, f"{step.path} {srec.describe()}: {e.message}",
                        step.path) from e
        except errors.DriftscanError as e:
            _finish(ctx, rec, srec, began, records.StepStatus.FAILED, str(e))
            raise _Stop(records.Status.FAILED, f"{step.path} {srec.describe()}: {e}",
                        step.path) from e
        except KeyboardInterrupt:
            _finish(ctx, rec, srec, began, records.StepStatus.INTERRUPTED, "interrupted")
            raise
        except Exception as e:  # noqa: BLE001 - an engine bug must not skip cleanup
            _finish(ctx, rec, srec, began, records.StepStatus.FAILED,
                    f"internal error: {type(e).__name__}: {e}",
                    {"traceback": traceback.format_exc()})
            raise _Stop(records.Status.FAILED, f"{step.path} {srec.describe()}: internal "
                        f"error: {type(e).__name__}: {e}", step.path) from e
        _finish(ctx, rec, srec, began, records.StepStatus.SUCCEEDED, srec.detail, srec.output,
                notify=outcome.report is None)
        if isinstance(step.action, d.MUTATING):
            since_scan.append((srec, began))
        if outcome.report is not None and isinstance(step.action, d.Scan):
            scan = _record_scan(ctx, rec, srec, step.action.label, outcome.report, since_scan)
            ctx.observer.step_finished(rec, srec)
            ctx.observer.scan_finished(rec, scan)
            since_scan = []


def _finish(ctx: RunContext, rec: records.ScenarioRecord, srec: records.StepRecord,
            began: float, status: records.StepStatus, detail: str,
            output: dict[str, Any] | None = None, *, notify: bool = True) -> None:
    srec.ended = time.time()
    srec.duration_s = time.monotonic() - began
    srec.status, srec.detail = status, detail
    if output is not None:
        srec.output = output
    rec.steps.append(srec)
    if notify:
        ctx.observer.step_finished(rec, srec)


def _record_scan(ctx: RunContext, rec: records.ScenarioRecord, srec: records.StepRecord,
                 label: str, report: report_model.Report,
                 since_scan: list[tuple[records.StepRecord, float]]) -> records.ScanRecord:
    if any(s.inject for s in rec.scenario.steps):
        # Only the marked step counts: a baseline scan after set-up detects nothing.
        injection = next(((s, t) for s, t in since_scan if s.step.inject), None)
    else:
        injection = since_scan[0] if since_scan else None
    ended = srec.started + srec.duration_s
    detect = None
    injected_by = None
    if injection is not None:
        inj, inj_began = injection
        detect = (time.monotonic() - inj_began)
        injected_by = f"{inj.step.path}: {inj.describe()}"
    report_json = json_format.to_dict(report)
    json_file, html_file, html_error = ctx.outputs.write_scan(rec.scenario.name, label, report,
                                                              report_json)
    expect = rec.scenario.expect.get(label) or d.ScanExpectation(label)
    scan = records.ScanRecord(
        label=label, step_path=srec.step.path, started=srec.started, ended=ended,
        duration_s=srec.duration_s, report=report, report_json=report_json,
        injected_by=injected_by, time_to_detect_s=detect, report_file=json_file,
        html_file=html_file, html_error=html_error)
    scan.results = expectations.evaluate(expect, report, detect)
    met = sum(r.met for r in scan.results)
    srec.output = {**srec.output, "report_file": json_file, "html_file": html_file,
                   "expectations_met": met, "expectations": len(scan.results)}
    rec.scans.append(scan)
    return scan


def _run_finally(ctx: RunContext, rec: records.ScenarioRecord, ws: steps.Workspace,
                 deadline: float) -> bool:
    """Run ``finally``; True when it was interrupted."""
    try:
        _run_steps(ctx, rec, ws, rec.scenario.finally_steps, deadline)
    except _Stop as e:
        if rec.status is records.Status.COMPLETED:
            rec.status, rec.error, rec.error_step = records.Status.FAILED, e.message, e.step
    except KeyboardInterrupt:
        rec.status, rec.error = records.Status.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
        _name_interrupted_step(rec)
        return True
    except errors.DriftscanError as e:
        if rec.status is records.Status.COMPLETED:
            rec.status, rec.error = records.Status.FAILED, str(e)
    return False


# --- cleanup ---------------------------------------------------------------------------


def _cleanup(ctx: RunContext, rec: records.ScenarioRecord, target: targets.Target,
             kube: kubeapi.Kube, ws: steps.Workspace | None) -> None:
    began = time.monotonic()
    c = records.CleanupRecord(rec.namespace)
    rec.cleanup = c
    policy = ctx.options.cleanup
    keep = policy == "never" or (policy == "on-success" and not rec.passed)
    if keep and rec.namespace:
        images = ", pushed images" if target.shared_registry else ""
        c.kept = (f"--cleanup {policy}: namespace {rec.namespace}{images} and added nodes "
                  "kept for inspection")
    run_label = {steps.LABEL_RUN: ctx.record.run_id}
    for node in (ws.cordoned if ws else []):
        try:
            kube.set_unschedulable(node, False)
            c.nodes_uncordoned.append(node)
        except errors.DriftscanError as e:
            c.errors.append(f"uncordon {node}: {e}")
    if not keep:
        if rec.namespace:
            try:
                found = kube.namespace(rec.namespace)
                if found is not None and _labelled(found, run_label):
                    # Not waited for: the namespace controller needs seconds to delete
                    # every kind of object in it, and nothing in the run depends on it.
                    kube.delete_namespace(rec.namespace)
                    c.namespace_deleted = True
            except errors.DriftscanError as e:
                c.errors.append(f"delete namespace {rec.namespace}: {e}")
        added = list(ws.nodes_added.values()) if ws else []
        if added and rec.namespace:
            # Let the node's (fake) kubelet finish the namespace's pods first: pods of a
            # node that is already gone wait for the pod garbage collector (~1 min).
            ctx.observer.say(f"cleanup: waiting for the pods of {rec.namespace} to leave "
                             f"{', '.join(sorted(added))} before removing it (up to 20s)")
            _await_pods_off(kube, rec.namespace, set(added), c)
        for node in added:
            try:
                found = kube.node(node)
                if found is not None and _labelled(found, run_label):
                    (ws.remove_node if ws and ws.remove_node else kube.delete_node)(node)
                    c.nodes_removed.append(node)
            except errors.DriftscanError as e:
                c.errors.append(f"delete node {node}: {e}")
        if ws is not None and target.shared_registry:
            _delete_pushed(ws, target, c)
    c.duration_s = time.monotonic() - began
    ctx.observer.cleanup_finished(rec, c)


def _delete_pushed(ws: steps.Workspace, target: targets.Target,
                   c: records.CleanupRecord) -> None:
    """Delete the manifests the scenario pushed (newest first), and so their tags.

    Only this scenario's pushes are deleted: every one went to a repository under its own
    namespace, which no one else writes to. The first refusal stops the deletion (a
    registry that refuses one delete refuses the rest) and is reported with what is left.
    """
    todo = list(reversed(ws.publisher.pushed()))
    for i, (repository, digest) in enumerate(todo):
        try:
            ws.publisher.delete(repository, digest)
        except failures.NotFound:
            continue  # already gone
        except errors.DriftscanError as e:
            left = len(todo) - i
            c.errors.append(f"delete {target.handle.registry}/{repository}@{digest}: {e}; "
                            f"{left} pushed manifest(s) left under "
                            f"{target.handle.registry}/{ws.namespace}/")
            return
        c.images_deleted.append(f"{repository}@{digest}")


def _await_pods_off(kube: kubeapi.Kube, namespace: str, nodes: set[str],
                    c: records.CleanupRecord, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        asked: set[str] = set()
        while time.monotonic() < deadline:
            left = [p["metadata"]["name"] for p in kube.objects("Pod", namespace)
                    if p.get("spec", {}).get("nodeName") in nodes]
            if not left:
                return
            for name in set(left) - asked:  # sooner than waiting for the namespace controller
                kube.delete_pod(namespace, name)
                asked.add(name)
            time.sleep(0.25)
        c.errors.append(f"pods of {namespace} still on {', '.join(sorted(nodes))} after "
                        f"{timeout:g}s; removing the node(s) anyway")
    except errors.DriftscanError as e:
        c.errors.append(f"waiting for pods to leave {', '.join(sorted(nodes))}: {e}")


def _labelled(obj: dict[str, Any], labels: dict[str, str]) -> bool:
    """True when ``obj`` carries every label (so cleanup only removes what it created)."""
    have = obj.get("metadata", {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


# --- signals ---------------------------------------------------------------------------


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (CI cancelling a job) and SIGHUP like Ctrl-C while the run lasts."""
    if not _main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGHUP (the terminal closed, an SSH session dropped) stops a run like SIGTERM does.
    previous = signal.signal(signal.SIGTERM, handler)
    previous_hup = signal.signal(signal.SIGHUP, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)


@contextlib.contextmanager
def _shielded(say: Callable[[str], None]) -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP off while cleanup runs; raise KeyboardInterrupt after it."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        caught.append(signum)
        say("cleaning up; the run stops as soon as cleanup is done")

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    old_hup = signal.signal(signal.SIGHUP, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)
    if caught:
        raise KeyboardInterrupt
