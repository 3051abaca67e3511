"""Audit-grade reports without a cluster: provenance, integrity, controls, redaction.

Reports come from the real pipeline over the committed sample dump; the signature checks
use real Ed25519 keys from the ``cryptography`` package.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from scanner import cli, controls, detectors, redacting
from scanner.detectors import rules
from scanner.report import audit, html, integrity, json_format, saved_report
from tests import htmltree, kubedump
from tests.unit import helpers

SAMPLE = kubedump.DUMPS / "sample-shop.json"
SCHEMA = json.loads((kubedump.ROOT / "scanner" / "schemas" / "report-v1.json").read_text())


def _report() -> dict[str, object]:
    return json_format.to_dict(helpers.report_for(helpers.load(SAMPLE)))


def _key_files(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["driftscan", "scan", "--token", "abc123", "-n", "shop"],
     ["driftscan", "scan", "--token", "<redacted>", "-n", "shop"]),
    (["driftscan", "scan", "--password=hunter2"], ["driftscan", "scan", "--password=<redacted>"]),
    (["x", "DB_PASSWORD=hunter2", "API_KEY=k"],
     ["x", "DB_PASSWORD=<redacted>", "API_KEY=<redacted>"]),
    (["x", "--client-key-data", "LS0tLS1"], ["x", "--client-key-data", "<redacted>"]),
    (["x", "--server", "https://admin:s3cret@k8s.example.com:6443"],
     ["x", "--server", "https://<redacted>@k8s.example.com:6443"]),
    (["x", "--header", "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"],
     ["x", "--header", "Authorization: Bearer <redacted>"]),
    # Paths name which file was used, not what is in it: they stay.
    (["driftscan", "scan", "--sign-key", "/keys/audit.pem", "--kubeconfig", "/k/config",
      "--token-file", "/var/run/token"],
     ["driftscan", "scan", "--sign-key", "/keys/audit.pem", "--kubeconfig", "/k/config",
      "--token-file", "/var/run/token"]),
])
def test_command_line_keeps_everything_but_secrets(argv: list[str],
                                                   expected: list[str]) -> None:
    assert list(redacting.command_line(argv)) == expected


# --- provenance in the report ------------------------------------------------------------


def test_dump_report_records_inputs_with_sha256_and_validates() -> None:
    data = _report()
    jsonschema.validate(data, SCHEMA)
    provenance = data["provenance"]
    assert isinstance(provenance, dict)
    [entry] = provenance["inputs"]
    raw = SAMPLE.read_bytes()
    assert entry == {"path": str(SAMPLE),
                     "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    assert provenance["command_line"] == list(kubedump.SAMPLE_COMMAND)
    assert provenance["cluster"] == {"server": None, "id": None, "version": None}


def test_provenance_integrity_and_controls_survive_a_json_round_trip() -> None:
    report = helpers.report_for(helpers.load(SAMPLE))
    again = json_format.parse(json_format.render(report))
    assert again.provenance == report.provenance
    assert again.integrity == report.integrity
    assert again.controls == report.controls and again.rules == report.rules


def test_a_report_without_the_new_blocks_still_loads() -> None:
    data = _report()
    for key in ("provenance", "integrity", "controls"):
        data.pop(key)
    for rule in data["rules"]:  # type: ignore[union-attr]
        rule.pop("controls")  # type: ignore[union-attr]
    old = saved_report.from_data(data)
    assert old.provenance is None and old.integrity is None and old.controls == ()
    page = html.render(old)
    assert "not recorded" in page and "No integrity digest recorded" in page


def test_live_provenance_facts_show_reasons_for_what_is_missing() -> None:
    report = helpers.report_for(helpers.load(SAMPLE))
    assert report.provenance is not None
    live = dataclasses.replace(
        report,
        source=dataclasses.replace(report.source, type="live", context="prod"),
        provenance=dataclasses.replace(
            report.provenance, server="https://10.0.0.1:6443", cluster_id=None,
            server_version="v1.36.3", identity=None,
            unavailable={"cluster_id": "forbidden: GET namespace kube-system",
                         "identity": "not served by this apiserver: create SelfSubjectReview"},
            kinds_requested=("Pod", "Node"), kinds_read=("Pod",),
            namespaces_requested=("shop",), namespaces_read=("shop",),
            first_resource_version="10", last_resource_version="12",
            list_started_at="2026-01-10T12:00:00Z", list_finished_at="2026-01-10T12:00:01Z"))
    facts = {f.label: f for f in audit.facts(live)}
    assert facts["API server"].value == "https://10.0.0.1:6443"
    assert facts["Cluster id (kube-system UID)"].missing
    assert facts["Cluster id (kube-system UID)"].value.endswith("forbidden: GET namespace"
                                                                " kube-system")
    assert facts["Scanned as"].missing
    assert facts["Kinds read"].missing and facts["Kinds read"].value == "Pod"
    assert facts["LIST window"].value == ("resourceVersion 10 … 12, 2026-01-10T12:00:00Z to"
                                          " 2026-01-10T12:00:01Z")


# --- HTML: provenance, audit summary, footer --------------------------------------------


def test_page_shows_provenance_audit_summary_and_digest_in_the_footer() -> None:
    report = helpers.report_for(helpers.load(SAMPLE))
    dom = htmltree.parse(html.render(report))
    assert "sha256 " + hashlib.sha256(SAMPLE.read_bytes()).hexdigest() in \
        dom.by_id("provenance").words
    rows = {r.find("td").find("b").words: r for r in
            dom.by_id("control-table").find("tbody").find_all("tr")}
    assert set(rows) == {c.id for c in controls.CATALOG}
    cm2 = rows["NIST-800-53:CM-2"].find_all("td")
    # catalog (rollout-version-mix) and checkout (digest-drift, mutable-tag) are out;
    # ledger (stalled-rollout only, a CM-3 rule) and the two clean ones are in.
    assert (cm2[2].words, cm2[3].words) == ("2", "3")
    assert "Deployment shop/checkout" in cm2[4].words
    assert "Deployment payments/ledger" not in cm2[4].words.split(" in compliance")[0]
    footer = dom.by_id("integrity").words
    assert report.integrity is not None and report.integrity.digest in footer
    assert "not signed" in footer


def test_footer_names_the_signing_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    report = integrity.seal(helpers.report_for(helpers.load(SAMPLE)), key)
    words = htmltree.parse(html.render(report)).by_id("integrity").words
    assert integrity.fingerprint(key.public_key()) in words


# --- integrity -----------------------------------------------------------------------------


def test_digest_ignores_formatting_but_not_content() -> None:
    data = _report()
    recorded = data["integrity"]["digest"]  # type: ignore[index]
    reindented = json.loads(json.dumps(data, indent=4))
    assert integrity.verify(reindented).ok
    assert integrity.digest(reindented) == recorded
    changed = copy.deepcopy(data)
    changed["workloads"][0]["score"] = 0  # type: ignore[index]
    verdict = integrity.verify(changed)
    assert not verdict.ok and "MISMATCH" in verdict.lines[0]


def test_signature_verifies_with_its_key_and_fails_with_another() -> None:
    key, other = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    data = json_format.to_dict(integrity.seal(helpers.report_for(helpers.load(SAMPLE)), key))
    assert integrity.verify(data, key.public_key()).ok
    wrong = integrity.verify(data, other.public_key())
    assert not wrong.ok and "INVALID" in wrong.lines[-1]
    # Re-signing a changed body with a new key and its own embedded public key cannot
    # pass for the trusted key either.
    forged = copy.deepcopy(data)
    forged["summary"]["max_score"] = 0  # type: ignore[index]
    forged = json_format.to_dict(integrity.seal(json_format.parse(json.dumps(forged)), other))
    assert integrity.verify(forged).ok  # consistent with the key it carries …
    assert not integrity.verify(forged, key.public_key()).ok  # … which is not ours


def test_unsigned_report_fails_when_a_key_is_required() -> None:
    verdict = integrity.verify(_report(), ed25519.Ed25519PrivateKey.generate().public_key())
    assert not verdict.ok and "MISSING" in verdict.lines[-1]


def test_cli_sign_and_verify_exit_codes(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    private, public = _key_files(tmp_path, "audit")
    _, other = _key_files(tmp_path, "other")
    out = tmp_path / "r.json"
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "json", "-o", str(out),
                     "--sign-key", str(private)]) == 1  # findings at high
    capsys.readouterr()
    assert cli.main(["report", "verify", str(out)]) == 0
    assert cli.main(["report", "verify", str(out), "--key", str(public)]) == 0
    assert "signature ok" in capsys.readouterr().out
    assert cli.main(["report", "verify", str(out), "--key", str(other)]) == 1
    assert "signature INVALID" in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["provenance"]["command_line"][-2:] == ["--sign-key", str(private)]
    data["workloads"][0]["findings"] = []
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    assert cli.main(["report", "verify", str(tampered), "--key", str(public)]) == 1
    err = capsys.readouterr().err
    assert "digest MISMATCH" in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "message"), [
    (b"not a key", "not a PEM private key"),
    (ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), "not an Ed25519 key"),
])
def test_a_bad_signing_key_is_exit_2_before_scanning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes,
        message: str) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(content)
    out = tmp_path / "r.json"
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "json", "-o", str(out),
                     "--sign-key", str(key)]) == 2
    err = capsys.readouterr().err
    assert message in err and "openssl genpkey" in err and "Traceback" not in err
    assert not out.exists()


def test_verify_refuses_what_is_not_a_report(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    assert cli.main(["report", "verify", str(bad)]) == 2
    assert cli.main(["report", "verify", str(tmp_path / "missing.json")]) == 2
    report = tmp_path / "old.json"
    data = _report()
    data.pop("integrity")
    report.write_text(json.dumps(data))
    assert cli.main(["report", "verify", str(report)]) == 1
    assert "no integrity block" in capsys.readouterr().err


# --- controls on rules --------------------------------------------------------------------


def test_every_rule_evidences_a_known_control_and_the_report_lists_them() -> None:
    for rule in detectors.RULES.rules():
        assert rule.controls, f"{rule.id} names no control"
        assert set(rule.controls) <= controls.IDS
    report = helpers.report_for(helpers.load(SAMPLE))
    assert {c.id for c in report.controls} == controls.IDS
    with pytest.raises(ValueError, match="unknown control"):
        rules.Rule("x-rule", detectors.RULES.rules()[0].severity, "title", "why", "fix",
                   "tags", controls=("ISO:nope",), needs=rules.Needs.TEMPLATE,
                   concern=rules.Concern.HYGIENE)


def test_sarif_invocation_carries_the_provenance(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from scanner.report import sarif

    report = helpers.report_for(helpers.load(SAMPLE))
    log = sarif.from_report(report)
    schema = json.loads((helpers.FIXTURES / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["commandLine"] == " ".join(kubedump.SAMPLE_COMMAND)
    assert invocation["arguments"] == list(kubedump.SAMPLE_COMMAND[1:])
    inputs = invocation["properties"]["provenance"]["inputs"]
    assert inputs[0]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert report.integrity is not None
    assert log["runs"][0]["properties"]["reportDigest"] == report.integrity.digest


def test_manifest_json_lists_its_inputs_with_sha256(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text("# café: non-ASCII bytes are hashed as read\n"
                        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n"
                        "    metadata: {labels: {app: web}}\n"
                        "    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n",
                        encoding="utf-8")
    assert cli.main(["manifests", str(manifest), "--format", "json", "--fail-on",
                     "critical"]) == 0
    data = json.loads(capsys.readouterr().out)
    raw = manifest.read_bytes()
    assert data["inputs"] == [{"path": str(manifest), "sha256": hashlib.sha256(raw).hexdigest(),
                               "bytes": len(raw)}]


def test_pdf_without_chromium_is_exit_2_with_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DRIFTSCAN_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    out = tmp_path / "r.pdf"
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "pdf", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs Chromium" in err and "apt-get install -y chromium" in err
    assert "--format html" in err and "Traceback" not in err
    assert not out.exists()
    monkeypatch.setenv("DRIFTSCAN_CHROMIUM", str(tmp_path / "nope"))
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "pdf", "-o", str(out)]) == 2
    assert "not an executable" in capsys.readouterr().err
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "pdf"]) == 2
    assert "needs -o" in capsys.readouterr().err


def test_audit_summary_names_a_bounded_number_of_workloads_per_list() -> None:
    report = helpers.report_for(helpers.load(SAMPLE))
    view = dataclasses.replace(audit.view(report, html.anchors(report)), listed=1)
    text = html.environment().get_template("_audit_summary.html.j2").render(audit=view)
    row = htmltree.parse(text).by_id("control-nist-800-53-cm-2")
    cells = row.find_all("td")
    assert (cells[2].words, cells[3].words) == ("2", "3")
    assert "and 1 more" in cells[4].words and "and 2 more" in cells[4].words


def test_rendering_a_changed_report_warns(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = _report()
    data["generated_at"] = "2030-01-01T00:00:00Z"
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(data))
    assert cli.main(["report", str(saved), "-o", str(tmp_path / "r.html")]) == 0
    assert "warning:" in capsys.readouterr().err
    saved.write_text(json.dumps(_report()))
    assert cli.main(["report", str(saved), "-o", str(tmp_path / "r.html")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_hostile_values_from_a_report_file_reach_no_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _report()
    data["source"]["files"] = ["\x1b[31mred\u202eevil"]  # type: ignore[index]
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(data))
    # Old debt only (the same findings on both sides): nothing new, exit 0.
    assert cli.main(["diff", str(renamed), str(renamed)]) == 0
    data["integrity"]["digest"] = "\x1b[2J\x1b]0;owned\x07sha256:00"  # type: ignore[index]
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(data))
    assert cli.main(["report", "verify", str(hostile)]) == 1
    printed = capsys.readouterr()
    for stream in (printed.out, printed.err):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert "red" in printed.out and "MISMATCH" in printed.err


def test_junit_names_the_report_digest() -> None:
    import xml.etree.ElementTree as ET

    from scanner import findings
    from scanner.report import junit

    report = helpers.report_for(helpers.load(SAMPLE))
    root = ET.fromstring(junit.render(report, findings.Severity.HIGH))
    props = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert report.integrity is not None
    assert props["report_digest"] == report.integrity.digest and props["cluster_id"] == ""
