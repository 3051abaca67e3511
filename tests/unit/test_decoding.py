"""One decoder, one set of limits: every reader of user files refuses hostile input alike.

Deep nesting, YAML alias bombs and unsafe tags end in one error line (plus a hint) and
exit code 2 for ``scan --from`` and ``report``, the same way ``manifests`` and ``pin``
refuse them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scanner import cli, decoding
from scanner.report import json_format
from tests.unit import helpers

DEEP_JSON = {
    "unclosed-lists": "[" * 200_000,
    "closed-lists": "[" * 300 + "]" * 300,
    "objects": '{"a": ' * 100_000 + "1" + "}" * 100_000,
    "inside-a-list": '{"kind": "List", "items": [' + "[" * 250 + "]" * 250 + "]}",
}


def one_error_line(err: str, *expected: str) -> None:
    lines = err.splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert all(e in lines[0] for e in expected), lines[0]
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), err
    assert "Traceback" not in err


def nested(depth: int) -> str:
    """``depth`` lists around a scalar: the scalar sits at ``depth``."""
    return "[" * depth + "1" + "]" * depth


# --- the limit -------------------------------------------------------------------------------


def test_json_and_yaml_share_one_depth_limit() -> None:
    limit = decoding.MAX_DEPTH
    assert decoding.json_value(nested(limit)) == [decoding.json_value(nested(limit - 1))]
    [(_, data)] = decoding.yaml_documents(nested(limit))
    assert data == decoding.json_value(nested(limit))
    with pytest.raises(decoding.Problem, match=f"nested deeper than {limit} levels"):
        decoding.json_value(nested(limit + 1))
    with pytest.raises(decoding.Problem, match=f"nested deeper than {limit} levels"):
        list(decoding.yaml_documents(nested(limit + 1)))
    assert decoding.json_value("[" * limit + "]" * limit) is not None


def test_json_syntax_errors_are_unparsable_not_refused() -> None:
    with pytest.raises(decoding.Unparsable) as info:
        decoding.json_value('{\n  "a": }')
    assert info.value.line == 2
    with pytest.raises(decoding.Problem) as deep:
        decoding.json_value("[" * 200_000)
    assert not isinstance(deep.value, decoding.Unparsable)


# --- scan --from -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", DEEP_JSON.values(), ids=DEEP_JSON.keys())
def test_scan_from_deeply_nested_json_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    started = time.monotonic()
    assert cli.main(["scan", "--from", str(path)]) == 2
    assert time.monotonic() - started < 10
    out, err = capsys.readouterr()
    assert out == ""
    one_error_line(err, f"{path}: nested deeper than {decoding.MAX_DEPTH} levels")
    assert "kubectl get" in err  # the hint says what to pass instead


def alias_bomb(items: int = 20_000, containers: int = 2_000) -> str:
    """A kubectl-shaped List whose items are aliases of one Pod with aliased containers:
    ~90 KB of text that expands to 40 million containers."""
    listed = ", ".join(['&c {name: c, image: "registry.invalid/app:1"}']
                       + ["*c"] * containers)
    pod = ("&p {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: d},"
           f" spec: {{containers: [{listed}]}}}}")
    return (f"apiVersion: v1\nkind: List\nmetadata: {{}}\nseed: {pod}\n"
            f"items: [{', '.join(['*p'] * items)}]\n")


@pytest.mark.timeout(60)
def test_scan_from_a_yaml_alias_bomb_is_refused_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert 80_000 < path.stat().st_size < 120_000
    started = time.monotonic()
    assert cli.main(["scan", "--from", str(path)]) == 2
    assert time.monotonic() - started < 10
    one_error_line(capsys.readouterr().err, f"{path}:4: YAML aliases expand to more than")


@pytest.mark.parametrize(("text", "expected"), [
    ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: !!python/object/apply:os.system ['id']\n",
     ":4: YAML tag !!python/object/apply:os.system is not allowed"),
    ("kind: Pod\n" + "".join(f"{'  ' * i}a:\n" for i in range(250)) + "  " * 250 + "b: 1\n",
     f":203: nested deeper than {decoding.MAX_DEPTH} levels"),
    ("kind: Pod\nmetadata: {name: a}\nmetadata: {name: b}\n", ":3: duplicate key 'metadata'"),
], ids=["unsafe-tag", "deep-nesting", "duplicate-key"])
def test_scan_from_yaml_uses_the_one_safe_loader(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(text)
    assert cli.main(["scan", "--from", str(path)]) == 2
    one_error_line(capsys.readouterr().err, f"{path}{expected}")


# --- report ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", DEEP_JSON.values(), ids=DEEP_JSON.keys())
def test_report_from_deeply_nested_json_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path, page = tmp_path / "deep.json", tmp_path / "page.html"
    path.write_text(text)
    assert cli.main(["report", str(path), "-o", str(page)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_error_line(err, f"{path}: nested deeper than {decoding.MAX_DEPTH} levels",
                   "not a driftscan report")
    assert "driftscan scan --format json" in err
    assert not page.exists()


def test_a_report_within_the_limit_still_loads(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path, page = tmp_path / "r.json", tmp_path / "page.html"
    sample = helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json"
    path.write_text(json_format.render(helpers.report_for(helpers.load(sample))))
    assert cli.main(["report", str(path), "-o", str(page)]) == 0
    assert page.exists() and capsys.readouterr().err == ""



# --- the fast depth proof --------------------------------------------------------------------


def disguised(depth: int) -> str:
    """``depth`` nested lists, each opening with strings that hold brackets, quotes and
    escapes meant to hide or fake nesting from a text-level count."""
    junk = '"]]}\\"]\\\\", "[{\\\\\\"", '
    return ("[" + junk) * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [1, 5, decoding.MAX_DEPTH - 1, decoding.MAX_DEPTH])
def test_strings_holding_brackets_neither_hide_nor_fake_depth(depth: int) -> None:
    value = decoding.json_value(disguised(depth))
    for _ in range(depth - 1):
        assert value[:2] == [']]}"]\\', '[{\\"']
        value = value[-1]
    assert value == [']]}"]\\', '[{\\"', 1]
    assert decoding._shallow(disguised(depth))


def test_strings_holding_brackets_do_not_hide_depth_past_the_limit() -> None:
    with pytest.raises(decoding.Problem, match="nested deeper"):
        decoding.json_value(disguised(decoding.MAX_DEPTH + 1))
    closers = '["' + "]" * 300 + '", ' + nested(decoding.MAX_DEPTH) + "]"
    with pytest.raises(decoding.Problem, match="nested deeper"):
        decoding.json_value(closers)
    assert not decoding._shallow(closers)


def test_text_level_proof_agrees_with_the_walk() -> None:
    limit = decoding.MAX_DEPTH
    assert decoding._shallow(nested(limit)) and decoding._shallow(nested(limit).encode())
    assert not decoding._shallow(nested(limit + 1))
    assert decoding._shallow('{"a": "[[[[", "b": ["x\\"[", {"c": "é]]"}]}')
    assert not decoding._shallow("[[")  # unbalanced: left to the decoder
    # An empty list at the limit is within it; the text cannot prove that, the walk does.
    deepest_empty = "[" * (limit + 1) + "]" * (limit + 1)
    assert not decoding._shallow(deepest_empty)
    assert decoding.json_value(deepest_empty) is not None
