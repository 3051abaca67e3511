"""``driftscan cluster tools``: compile the kwok cluster's binaries from pinned Go modules.

Each binary lands in the per-user cache, ``CACHE/VERSION/NAME`` (``toolchain.cache_root``),
where ``cluster up`` finds it, whatever the way driftscan was installed; ``--bin DIR``
(what ``make cluster-tools`` passes) also copies it into ``DIR`` with a ``.NAME.version``
stamp. A binary already in the cache at its pinned version is not built again, so a
second run takes seconds. Kubernetes and etcd are built inside the packaged wrapper
modules (copied to a temporary folder, so a read-only install works); kwok and the
registry with ``go install PACKAGE@VERSION``. Go's own module and build caches stay in
their default places.

Called by ``cli`` only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner import errors
from scanner.clusters import toolchain

__all__ = ["Recipe", "build", "go_command", "recipe"]

Say = Callable[[str], None]

_KWOK_VERSION_VAR = "sigs.k8s.io/kwok/pkg/consts.Version"
_HELM_VERSION_VAR = "helm.sh/helm/v3/internal/version.version"


@dataclass(frozen=True)
class Recipe:
    """How one binary is compiled: ``go build`` in a wrapper module, or ``go install``."""

    binary: str
    version: str
    package: str
    """The Go package of the ``main`` function (``…@VERSION`` for ``go install``)."""
    ldflags: str
    module_dir: str | None = None
    """The packaged wrapper module (``kube``, ``etcd``) for ``go build``; None: install."""
    output: str | None = None
    """The name ``go install`` gives the binary when it is not ``binary``."""

    def argv(self, go: str, out_dir: Path) -> list[str]:
        """The ``go`` command line that writes the binary into ``out_dir``."""
        if self.module_dir is not None:
            return [go, "build", "-ldflags", self.ldflags, "-o", str(out_dir / self.binary),
                    self.package]
        return [go, "install", "-ldflags", self.ldflags, self.package]


def _kube_ldflags(version: str) -> str:
    """Stamp the version ``kubectl version`` and ``/version`` report, as upstream does."""
    major, minor = version.removeprefix("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return (f"-s -w -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} "
            f"-X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean "
            f"-X k8s.io/client-go/pkg/version.gitVersion={version}")


def _helm_ldflags(version: str, kube: str) -> str:
    """Stamp helm's version and the Kubernetes version ``helm template`` assumes.

    Upstream takes the latter from client-go; here it is the test cluster's, so charts
    render for the cluster they are applied to.
    """
    major, minor = kube.removeprefix("v").split(".")[:2]
    pkg = "helm.sh/helm/v3/pkg/chartutil"
    return (f"-s -w -X {_HELM_VERSION_VAR}={version} -X {pkg}.k8sVersionMajor={major} "
            f"-X {pkg}.k8sVersionMinor={minor}")


def recipe(binary: str, pins: toolchain.Pins) -> Recipe:
    """The recipe for ``binary`` at its pinned version."""
    version = pins.version_of(binary)
    component = toolchain.BINARIES[binary]
    if component == "kube":
        return Recipe(binary, version, f"k8s.io/kubernetes/cmd/{binary}",
                      _kube_ldflags(version), module_dir="kube")
    if component == "etcd":
        return Recipe(binary, version, "go.etcd.io/etcd/server/v3", "-s -w", module_dir="etcd")
    if component == "kwok":
        return Recipe(binary, version, f"sigs.k8s.io/kwok/cmd/{binary}@{version}",
                      f"-s -w -X {_KWOK_VERSION_VAR}={version}")
    if component == "helm":
        return Recipe(binary, version, f"helm.sh/helm/v3/cmd/helm@{version}",
                      _helm_ldflags(version, pins.kube))
    if component == "toxiproxy":
        return Recipe(binary, version, f"github.com/Shopify/toxiproxy/v2/cmd/server@{version}",
                      "-s -w", output="server")
    return Recipe(binary, version,
                  f"github.com/distribution/distribution/v3/cmd/registry@{version}", "-s -w")


def go_command() -> str:
    """The ``go`` executable.

    Raises:
        errors.ToolMissing: Go is not installed (exit code 2, pointing at kind).
    """
    go = shutil.which("go")
    if go is None:
        raise errors.ToolMissing(
            "Go is not installed (no `go` on PATH); the kwok cluster's binaries are "
            "compiled from Go modules",
            hint=f"install Go ≥ {toolchain.GO_MINIMUM} (https://go.dev/dl/) and run this "
                 "again, or run without them: --provider kind (needs Docker and kind)")
    return go


def _fresh(bin_dir: Path, binary: str, version: str) -> bool:
    path = bin_dir / binary
    stamp = bin_dir / f".{binary}.version"
    return (path.is_file() and os.access(path, os.X_OK) and stamp.is_file()
            and stamp.read_text().strip() == version)


def _install(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (a concurrent reader never sees half)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(source, tmp)
    tmp.chmod(0o755)
    os.replace(tmp, target)


def build(*, bin_dir: Path | None, say: Say,
          binaries: Sequence[str] = tuple(toolchain.BINARIES)) -> list[Path]:
    """Make every binary available in the cache (and ``bin_dir``); return the cache paths.

    Raises:
        errors.ToolMissing: something must be compiled and Go is not installed.
        errors.ProviderError: ``go`` failed (the message quotes the end of its output).
    """
    pins = toolchain.pins()
    cache = toolchain.cache_root()
    todo: list[Recipe] = []
    binaries = [b for b in binaries if pins.version_of(b)]  # a pin not there is not built
    for binary in binaries:
        version = pins.version_of(binary)
        cached = cache / version / binary
        if not (cached.is_file() and os.access(cached, os.X_OK)):
            if bin_dir is not None and _fresh(bin_dir, binary, version):
                _install(bin_dir / binary, cached)  # built before the cache existed
            else:
                todo.append(recipe(binary, pins))
    go = go_command() if todo else ""
    for r in todo:
        say(f"building {r.binary} {r.version}"
            + (" (a cold build takes several minutes)" if r.module_dir else ""))
        _compile(go, r, cache / r.version / r.binary)
    out = []
    for binary in binaries:
        version = pins.version_of(binary)
        cached = cache / version / binary
        if bin_dir is not None and not _fresh(bin_dir, binary, version):
            _install(cached, bin_dir / binary)
            (bin_dir / f".{binary}.version").write_text(version + "\n")
        out.append(cached)
    say(f"{len(out)} binaries ready in {cache}" + (f" and {bin_dir}" if bin_dir else "")
        + (f" ({len(todo)} built)" if todo else ""))
    return out


def _compile(go: str, r: Recipe, target: Path) -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="driftscan-tools-") as tmp_name:
        tmp = Path(tmp_name)
        out_dir = tmp / "bin"
        out_dir.mkdir()
        cwd = tmp
        if r.module_dir is not None:
            cwd = tmp / r.module_dir
            shutil.copytree(toolchain.gotools_dir() / r.module_dir, cwd)
        else:
            env["GOBIN"] = str(out_dir)
        try:
            done = subprocess.run(r.argv(go, out_dir), cwd=cwd, env=env, check=False,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            raise errors.ProviderError(f"cannot run {go}: {e}",
                                       hint="check the Go installation") from e
        built = out_dir / (r.output or r.binary)
        if done.returncode != 0 or not built.is_file():
            tail = " | ".join(done.stdout.strip().splitlines()[-5:]) or "no output"
            raise errors.ProviderError(
                f"building {r.binary} {r.version} failed (go exit {done.returncode}): {tail}",
                hint=f"Go ≥ {toolchain.GO_MINIMUM} and access to the Go module proxy are "
                     "needed; or use --provider kind")
        _install(built, target)
