"""Files driftscan writes: reports replaced atomically after rendering, and `pin --write`
that follows symlinks, keeps mode, owner and hard links, and never overwrites an edit."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from scanner import cli, errors, pinning, writing
from scanner.report import html
from tests.unit.test_pinning import digest, resolver, shop_copy

DUMP = Path(__file__).resolve().parents[1] / "dumps" / "sample-shop.json"


def write_shop(paths: list[Path]) -> None:
    pinning.run(pinning.PinOptions(paths=tuple(str(p) for p in paths), mode="write"),
                Console(file=io.StringIO()), tag_resolver=resolver()[0])


# --- reports ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "json", "table"])
def test_a_failed_render_keeps_the_last_good_report(
        fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert cli.main(["scan", "--from", str(DUMP), "--format", fmt, "-o", str(out)]) == 1
    good = out.read_bytes()
    assert good

    def broken(*args: object, **kwargs: object) -> str:
        raise errors.InputError("renderer failed")

    from scanner.report import json_format, terminal
    # The HTML page is streamed into its file: break the stream, not a whole render; a
    # JSON file is written from the rendered bytes.
    monkeypatch.setattr({"html": html, "json": json_format, "table": terminal}[fmt],
                        {"html": "stream", "json": "render_bytes"}.get(fmt, "render"), broken)
    assert cli.main(["scan", "--from", str(DUMP), "--format", fmt, "-o", str(out)]) == 2
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary file left
    capsys.readouterr()


def test_write_text_replaces_in_one_rename_and_follows_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    writing.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    writing.write_text(tmp_path / "sub" / "fresh.txt", "x")
    assert (tmp_path / "sub" / "fresh.txt").read_text() == "x"


def test_a_failed_write_leaves_the_old_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writing.os, "fsync", full)
    with pytest.raises(OSError):
        writing.write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


# --- pin --write ---------------------------------------------------------------------------


def test_pin_write_follows_a_symlink_to_its_target(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    real = shop / "web.yaml"
    link = tmp_path / "web-link.yaml"
    link.symlink_to(real)
    write_shop([link])
    assert link.is_symlink()
    assert f"web:1.0@{digest('web:1.0')}" in real.read_text()


def test_pin_write_keeps_mode_and_hard_links(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    web = shop / "web.yaml"
    web.chmod(0o600)
    twin = tmp_path / "twin.yaml"
    os.link(web, twin)
    inode = web.stat().st_ino
    write_shop([web])
    assert web.stat().st_mode & 0o777 == 0o600
    assert web.stat().st_ino == inode and web.stat().st_nlink == 2
    assert twin.read_text() == web.read_text() and digest("web:1.0") in twin.read_text()


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file away needs root")
def test_pin_write_keeps_the_owner(tmp_path: Path) -> None:
    shop = shop_copy(tmp_path)
    web = shop / "web.yaml"
    os.chown(web, 12345, 23456)
    write_shop([web])
    assert (web.stat().st_uid, web.stat().st_gid) == (12345, 23456)
    assert digest("web:1.0") in web.read_text()


def test_pin_write_refuses_a_file_edited_since_it_was_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = shop_copy(tmp_path)
    web = shop / "web.yaml"
    before = {p.name: p.read_bytes() for p in shop.iterdir()}
    real_prepare = pinning._prepare

    def edit_meanwhile(path: Path, text: str) -> str:
        if path.name == "web.yaml" and not web.read_text().endswith("# edited\n"):
            web.write_text(web.read_text() + "# edited\n")
        return real_prepare(path, text)

    monkeypatch.setattr(pinning, "_prepare", edit_meanwhile)
    with pytest.raises(errors.InputError, match="changed since driftscan read it") as info:
        write_shop([shop])
    assert "no file was changed" in info.value.message
    after = {p.name: p.read_bytes() for p in shop.iterdir()}
    assert after["web.yaml"] == before["web.yaml"] + b"# edited\n"  # the edit survives
    assert {k: v for k, v in after.items() if k != "web.yaml"} == {
        k: v for k, v in before.items() if k != "web.yaml"}


def test_write_bytes_replaces_in_one_rename(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    writing.write_bytes(target, "{\"name\":\"café\"}\n".encode())
    assert target.read_text(encoding="utf-8") == "{\"name\":\"café\"}\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
