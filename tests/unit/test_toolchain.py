"""The kwok cluster's binaries: pins shipped in the package, the lookup order of `cluster
up` ($DRIFTSCAN_TOOLS_BIN, the per-user cache, a checkout's .tools/bin), hints that name a
command existing for the way driftscan was installed, and `cluster tools` without Go."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scanner import cli, errors, exits
from scanner.clusters import providers, toolbuilding, toolchain

ROOT = Path(__file__).resolve().parents[2]
PINS = toolchain.pins()


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An empty cache, an empty checkout and no $DRIFTSCAN_TOOLS_BIN."""
    cache = tmp_path / "cache"
    checkout = tmp_path / "checkout"
    (checkout / ".tools" / "bin").mkdir(parents=True)
    monkeypatch.delenv("DRIFTSCAN_TOOLS_BIN", raising=False)
    monkeypatch.setenv("DRIFTSCAN_TOOLS_CACHE", str(cache))
    monkeypatch.setattr(toolchain, "checkout_root", lambda: checkout)
    return {"cache": cache, "checkout": checkout / ".tools" / "bin",
            "explicit": tmp_path / "explicit"}


# --- pins ---------------------------------------------------------------------------------


def test_pins_come_from_the_packaged_go_modules_and_versions_env() -> None:
    gotools = toolchain.gotools_dir()
    assert gotools == Path(toolchain.__file__).parent / "gotools"
    kube_mod = (gotools / "kube" / "go.mod").read_text()
    etcd_mod = (gotools / "etcd" / "go.mod").read_text()
    assert re.search(rf"^require k8s.io/kubernetes {re.escape(PINS.kube)}$", kube_mod, re.M)
    assert re.search(rf"^require go.etcd.io/etcd/server/v3 {re.escape(PINS.etcd)}$",
                     etcd_mod, re.M)
    env = (gotools / "versions.env").read_text()
    assert f"KWOK_VERSION={PINS.kwok}" in env and f"REGISTRY_VERSION={PINS.registry}" in env
    for version in (PINS.kube, PINS.etcd, PINS.kwok, PINS.registry):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", version), version
    # The kube wrapper module keeps every binary it builds (go mod tidy would drop others).
    tools_go = (gotools / "kube" / "tools.go").read_text()
    for binary, component in toolchain.BINARIES.items():
        if component == "kube":
            assert f'"k8s.io/kubernetes/cmd/{binary}"' in tools_go


def test_pins_read_block_requires_and_refuse_missing_versions(tmp_path: Path) -> None:
    for name, module, version in (("kube", "k8s.io/kubernetes", "v1.2.3"),
                                  ("etcd", "go.etcd.io/etcd/server/v3", "v3.4.5")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "go.mod").write_text(
            f"module x\n\nrequire (\n\tother v0.0.1 // indirect\n\t{module} {version}\n)\n")
    (tmp_path / "versions.env").write_text("# comment\nKWOK_VERSION = v0.1.0\n")
    with pytest.raises(errors.ProviderError, match="no pinned version for registry"):
        toolchain.pins(tmp_path)
    (tmp_path / "versions.env").write_text("KWOK_VERSION=v0.1.0\nREGISTRY_VERSION=v3.0.0\n")
    toolchain.pins.cache_clear()
    assert toolchain.pins(tmp_path) == toolchain.Pins("v1.2.3", "v3.4.5", "v0.1.0", "v3.0.0")
    toolchain.pins.cache_clear()


def test_tools_build_sh_reads_the_pins_through_the_package() -> None:
    script = (ROOT / "tools" / "build.sh").read_text()
    assert "cluster tools --bin" in script
    assert not re.search(r"v\d+\.\d+\.\d+", script), "no version may be pinned twice"
    assert not (ROOT / "tools" / "kube").exists() and not (ROOT / "tools" / "etcd").exists()


def test_recipes_build_each_binary_at_its_pin() -> None:
    api = toolbuilding.recipe("kube-apiserver", PINS)
    argv = api.argv("go", Path("/out"))
    assert argv[:2] == ["go", "build"] and argv[-1] == "k8s.io/kubernetes/cmd/kube-apiserver"
    assert argv[argv.index("-o") + 1] == "/out/kube-apiserver"
    major, minor = PINS.kube.removeprefix("v").split(".")[:2]
    assert f"gitVersion={PINS.kube}" in api.ldflags and f"gitMinor={minor}" in api.ldflags
    assert f"gitMajor={major}" in api.ldflags and api.module_dir == "kube"
    assert toolbuilding.recipe("etcd", PINS).module_dir == "etcd"
    kwok = toolbuilding.recipe("kwokctl", PINS).argv("go", Path("/out"))
    assert kwok[:2] == ["go", "install"] and kwok[-1] == f"sigs.k8s.io/kwok/cmd/kwokctl@{PINS.kwok}"
    assert f"consts.Version={PINS.kwok}" in kwok[3]
    registry = toolbuilding.recipe("registry", PINS)
    assert registry.package.endswith(f"cmd/registry@{PINS.registry}")
    helm = toolbuilding.recipe("helm", PINS).argv("go", Path("/out"))
    assert helm[:2] == ["go", "install"] and helm[-1] == f"helm.sh/helm/v3/cmd/helm@{PINS.helm}"
    assert f"internal/version.version={PINS.helm}" in helm[3]
    assert f"chartutil.k8sVersionMinor={minor}" in helm[3]  # renders for the pinned cluster


# --- lookup order -------------------------------------------------------------------------


def test_the_per_user_cache_comes_before_a_checkout(places: dict[str, Path]) -> None:
    assert toolchain.locate("etcd") is None
    in_checkout = executable(places["checkout"] / "etcd")
    assert toolchain.locate("etcd") == in_checkout
    cached = executable(places["cache"] / PINS.etcd / "etcd")
    assert toolchain.locate("etcd") == cached


def test_the_cache_is_keyed_by_the_pinned_version(places: dict[str, Path]) -> None:
    executable(places["cache"] / "v0.0.1" / "kwok")
    assert toolchain.locate("kwok") is None
    executable(places["cache"] / PINS.kwok / "kwok")
    assert toolchain.locate("kwok") == places["cache"] / PINS.kwok / "kwok"


def test_a_stale_checkout_binary_is_skipped(places: dict[str, Path]) -> None:
    binary = executable(places["checkout"] / "registry")
    (places["checkout"] / ".registry.version").write_text("v0.0.1\n")
    assert toolchain.locate("registry") is None
    (places["checkout"] / ".registry.version").write_text(PINS.registry + "\n")
    assert toolchain.locate("registry") == binary


def test_a_file_that_is_not_executable_does_not_count(places: dict[str, Path]) -> None:
    path = places["cache"] / PINS.kube / "kubectl"
    path.parent.mkdir(parents=True)
    path.write_text("not a program")
    assert toolchain.locate("kubectl") is None


def test_driftscan_tools_bin_comes_first_and_is_the_only_place_when_set(
        places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    executable(places["cache"] / PINS.etcd / "etcd")
    monkeypatch.setenv("DRIFTSCAN_TOOLS_BIN", str(places["explicit"]))
    assert toolchain.locate("etcd") is None  # never silently another build
    explicit = executable(places["explicit"] / "etcd")
    assert toolchain.locate("etcd") == explicit


def test_xdg_cache_home_moves_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTSCAN_TOOLS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert toolchain.cache_root() == tmp_path / "driftscan-tools"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert toolchain.cache_root() == tmp_path / "home" / ".cache" / "driftscan-tools"


def test_locate_all_names_what_is_missing_and_where_it_looked(
        places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for binary in toolchain.CLUSTER_NEEDS:
        if binary != "kwok":
            executable(places["cache"] / PINS.version_of(binary) / binary)
    with pytest.raises(errors.ToolMissing) as e:
        toolchain.locate_all()
    assert e.value.message == (f"the kwok cluster needs kwok, not found in {places['cache']}"
                               f"/VERSION/ or {places['checkout']}")
    executable(places["checkout"] / "kwok")
    found = toolchain.locate_all()
    assert found["kwok"] == places["checkout"] / "kwok"
    assert found["etcd"] == places["cache"] / PINS.etcd / "etcd"
    assert toolchain.ready()


def test_the_checkout_is_recognised_only_in_a_checkout() -> None:
    # Tests run from the checkout; an installed wheel has no Makefile next to the package.
    assert toolchain.checkout_root() == ROOT


# --- hints --------------------------------------------------------------------------------


def test_a_checkout_is_told_make_cluster_tools(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = toolchain.hint_for(go="/usr/bin/go", checkout=ROOT, explicit=None)
    assert text.startswith(f"run `make -C {ROOT} cluster-tools`")
    monkeypatch.chdir(ROOT)
    assert toolchain.hint_for(go="/usr/bin/go", checkout=ROOT, explicit=None).startswith(
        "run `make cluster-tools` (compiles them from pinned Go modules into ")


def test_an_installed_package_is_told_driftscan_cluster_tools(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "command", lambda: "driftscan")
    text = toolchain.hint_for(go="/usr/bin/go", checkout=None, explicit=None)
    assert text.startswith("run `driftscan cluster tools`")
    assert "make" not in text and text.endswith("or use --provider kind (needs Docker and kind)")


def test_without_go_the_hint_says_so_and_points_at_kind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "command", lambda: "driftscan")
    text = toolchain.hint_for(go=None, checkout=None, explicit=None)
    assert text.startswith(f"Go is not installed: install Go ≥ {toolchain.GO_MINIMUM}")
    assert "`driftscan cluster tools`" in text and "--provider kind" in text


def test_an_explicit_tools_bin_is_named_in_the_hint() -> None:
    text = toolchain.hint_for(go="/usr/bin/go", checkout=None, explicit="/opt/k")
    assert text.startswith("put the binaries in $DRIFTSCAN_TOOLS_BIN (/opt/k), or unset it")


def test_command_is_what_a_shell_can_run(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    python = executable(venv_bin / "python")
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert toolchain.command() == f"{python} -m scanner.cli"
    script = executable(venv_bin / "driftscan")
    assert toolchain.command() == str(script)  # an inactive virtualenv: the full path
    monkeypatch.setenv("PATH", str(venv_bin))
    assert toolchain.command() == "driftscan"
    other = executable(tmp_path / "other" / "driftscan")
    monkeypatch.setenv("PATH", str(other.parent))
    assert toolchain.command() == str(script)  # `driftscan` on PATH is another install


def test_kind_without_docker_points_at_kwok_with_this_installs_command(
        places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.clusters import kind

    monkeypatch.setattr(toolchain, "checkout_root", lambda: None)
    monkeypatch.setattr(toolchain, "command", lambda: "driftscan")
    assert kind.use_kwok() == ("or run without Docker: --provider kwok (build its binaries "
                               "once: `driftscan cluster tools`, needs Go)")
    for binary in toolchain.CLUSTER_NEEDS:
        executable(places["cache"] / PINS.version_of(binary) / binary)
    assert kind.use_kwok() == "or run without Docker: --provider kwok"


# --- cluster up / cluster tools through the CLI -------------------------------------------


def test_cluster_up_without_binaries_exits_2_with_the_hint(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(toolchain, "checkout_root", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path / "no-go"))
    assert cli.main(["cluster", "up", "--provider", "kwok", "--name", "t"]) == exits.ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: the kwok cluster needs etcd, kube-apiserver, ")
    assert "hint: Go is not installed" in err and "cluster tools`" in err
    assert "--provider kind" in err and "Traceback" not in err


def test_cluster_tools_without_go_exits_2_pointing_at_kind(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-go"))
    assert cli.main(["cluster", "tools"]) == exits.ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: Go is not installed (no `go` on PATH)")
    assert "--provider kind" in err and "Traceback" not in err
    assert not places["cache"].exists()


def test_cluster_tools_reuses_the_cache_without_go_and_fills_bin(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for binary in toolchain.BINARIES:
        executable(places["cache"] / PINS.version_of(binary) / binary, f"#!/bin/sh\n# {binary}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-go"))
    out = tmp_path / "bin"
    assert cli.main(["cluster", "tools", "--bin", str(out)]) == 0
    assert f"{len(toolchain.BINARIES)} binaries ready in" in capsys.readouterr().err
    for binary in toolchain.BINARIES:
        assert f"# {binary}" in (out / binary).read_text()
        assert os.access(out / binary, os.X_OK)
        assert (out / f".{binary}.version").read_text() == PINS.version_of(binary) + "\n"


def test_binaries_built_before_the_cache_existed_seed_it(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bin"
    for binary in toolchain.BINARIES:
        executable(out / binary)
        (out / f".{binary}.version").write_text(PINS.version_of(binary) + "\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-go"))
    toolbuilding.build(bin_dir=out, say=lambda _: None)
    for binary in toolchain.BINARIES:
        assert toolchain.locate(binary) == places["cache"] / PINS.version_of(binary) / binary


def test_cluster_tools_builds_nothing_when_auto_picks_kind(
        places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(providers, "docker_engine_answers", lambda timeout=5.0: True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-go"))
    assert cli.main(["cluster", "tools", "--provider", "auto"]) == 0
    assert "provider: kind (auto: a Docker engine answers)" in capsys.readouterr().err
    assert not places["cache"].exists()
    monkeypatch.setattr(providers, "docker_engine_answers", lambda timeout=5.0: False)
    assert cli.main(["cluster", "tools", "--provider", "auto"]) == exits.ERROR  # kwok: no Go
    err = capsys.readouterr().err
    assert err.startswith("provider: kwok (auto: no Docker engine answers)\nerror: Go is not")


def test_make_demo_chooses_the_provider_before_building(tmp_path: Path) -> None:
    """`make demo` builds through `cluster tools --provider auto`; `make test` builds always."""
    def dry_run(target: str) -> list[str]:
        # Run from `make test` itself, the outer make's MAKEFLAGS/MAKELEVEL would add
        # "Entering directory" lines (naming the checkout, which may contain "driftscan").
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
        done = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), target],
                              capture_output=True, text=True, check=True, env=env)
        return [line for line in done.stdout.splitlines()
                if not line.startswith("make") and ("driftscan" in line
                                                    or "build.sh" in line or "pytest" in line)]

    demo = dry_run("demo")
    assert "tools/build.sh" not in " ".join(demo)
    assert demo[0].endswith("driftscan cluster tools --provider auto")
    assert demo[1].endswith("driftscan scenario run --all --provider auto "
                            "--out reports/scenarios/LATEST")
    test = " ".join(dry_run("test"))
    assert test.index("bash tools/build.sh") < test.index("pytest")


def test_every_pin_file_is_declared_as_package_data() -> None:
    """A pin file the globs miss would leave `driftscan cluster tools` broken in a wheel."""
    import fnmatch
    import tomllib

    import scanner

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["scanner"]
    package = Path(scanner.__file__).parent
    files = [p.relative_to(package).as_posix() for p in toolchain.gotools_dir().rglob("*")
             if p.is_file()]
    assert len(files) == 7
    assert [f for f in files if not any(fnmatch.fnmatchcase(f, g) for g in globs)] == []
