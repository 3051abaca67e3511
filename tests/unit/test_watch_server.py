"""The watcher's endpoints and command line, over a hand-made state (no cluster needed)."""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scanner import cli, errors, model
from scanner.watching import metrics as watch_metrics
from scanner.watching import server, watcher
from scanner.watching import state as watch_state
from tests.unit import helpers

SOURCE = model.SourceInfo(type="live", context="test", namespaces=("shop",))


def _state() -> watch_state.State:
    state = watch_state.State(SOURCE)
    doc = helpers.raw(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    for item in doc["items"]:
        state.apply(item["kind"], "ADDED", item)
    state.recompute()
    return state


class Holder:
    def __init__(self) -> None:
        self.status = watcher.Status()


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
def endpoints(holder: Holder) -> Iterator[tuple[str, int]]:
    metrics = watch_metrics.Metrics()
    metrics.bind(lambda: holder.status)
    served = server.Endpoints("127.0.0.1", 0, lambda: holder.status, metrics)
    served.start()
    yield served.address
    served.close()


def _ask(address: tuple[str, int], method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request(method, path)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    return answer.status, body


def _series(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def test_not_ready_before_the_first_list(endpoints: tuple[str, int]) -> None:
    assert _ask(endpoints, "GET", "/healthz") == (200, b"ok\n")
    assert _ask(endpoints, "GET", "/readyz")[0] == 503
    assert _ask(endpoints, "GET", "/report.json")[0] == 503
    status, body = _ask(endpoints, "GET", "/metrics")
    series = _series(body)
    assert series[("driftscan_ready", ())] == 0 and series[("driftscan_watch_up", ())] == 0
    assert ("process_cpu_seconds_total", ()) in series


def test_metrics_follow_the_state_and_gone_findings_lose_their_series(
        endpoints: tuple[str, int], holder: Holder) -> None:
    state = _state()
    holder.status = watcher.Status(view=state.view(), up=True, last_change=1234.5)
    series = _series(_ask(endpoints, "GET", "/metrics")[1])
    drift = {k for k in series if k[0] == "driftscan_finding"
             and ("rule", "digest-drift") in k[1]}
    assert drift and all(series[k] == 1 for k in drift)
    assert dict(next(iter(drift))[1]).keys() == {"rule", "severity", "namespace", "kind",
                                                 "workload", "container"}
    builds = {dict(k[1])["workload"]: v for k, v in series.items()
              if k[0] == "driftscan_workload_builds"}
    assert builds["web"] == 2
    assert series[("driftscan_last_change_timestamp_seconds", ())] == 1234.5
    assert series[("driftscan_ready", ())] == 1 and series[("driftscan_watch_up", ())] == 1
    assert not any(k[0] == "driftscan_registry_check_timestamp_seconds" for k in series)
    # The drifting pods are replaced: the finding and its series go.
    doc = helpers.raw(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    pods = [i for i in doc["items"] if i["kind"] == "Pod"]
    first = pods[0]["status"]["containerStatuses"][0]["imageID"]
    for pod in pods:
        same = copy.deepcopy(pod)
        for status in same["status"]["containerStatuses"]:
            if status["name"] == pods[0]["status"]["containerStatuses"][0]["name"]:
                status["imageID"] = first
        state.apply("Pod", "MODIFIED", same)
    state.recompute()
    holder.status = watcher.Status(view=state.view(), up=True)
    after = _series(_ask(endpoints, "GET", "/metrics")[1])
    assert not any(k in after for k in drift)


def test_report_json_and_html_page(endpoints: tuple[str, int], holder: Holder) -> None:
    holder.status = watcher.Status(view=_state().view(), up=True)
    status, body = _ask(endpoints, "GET", "/report.json")
    report = json.loads(body)
    assert status == 200 and report["schema"] == "driftscan/report/v1"
    assert report["integrity"]["digest"].startswith("sha256:")
    status, page = _ask(endpoints, "GET", "/")
    assert status == 200 and b"<html" in page.lower()
    status, empty = _ask(endpoints, "HEAD", "/report.json")
    assert status == 200 and empty == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                                    "BREW"])
def test_every_method_but_get_and_head_is_405(endpoints: tuple[str, int],
                                              method: str) -> None:
    assert _ask(endpoints, method, "/metrics")[0] == 405


def test_unknown_paths_are_404(endpoints: tuple[str, int]) -> None:
    assert _ask(endpoints, "GET", "/secrets")[0] == 404


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9847", ("127.0.0.1", 9847)), ("[::1]:80", ("::1", 80)),
    ("0.0.0.0:0", ("0.0.0.0", 0))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert server.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9847", "host:", ":80", "a:99999", "a:b"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(errors.InputError):
        server.parse_listen(text)


def test_loopback() -> None:
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1")
    assert server.is_loopback("localhost")
    assert not server.is_loopback("0.0.0.0") and not server.is_loopback("10.0.0.1")


@pytest.mark.parametrize("args", [["--listen", "nowhere"], ["--debounce", "soon"],
                                  ["--bogus"], ["-A", "-n", "shop"]])
def test_bad_flags_are_one_line_and_exit_2(args: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["watch", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_a_kubeconfig_that_cannot_be_read_ends_the_watch_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The server is bound before the kubeconfig is read: closing it when it never served
    # must not wait for a serving loop that never ran.
    missing = f"{tmp_path}/missing-kubeconfig"
    assert cli.main(["watch", "--kubeconfig", missing, "-A", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and missing in err, err


def test_endpoints_that_never_served_close_at_once(holder: Holder) -> None:
    metrics = watch_metrics.Metrics()
    served = server.Endpoints("127.0.0.1", 0, lambda: holder.status, metrics)
    address = served.address
    served.close()
    with pytest.raises(OSError):
        http.client.HTTPConnection(*address, timeout=2).connect()
