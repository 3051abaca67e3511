"""Where the kwok cluster's Go-built binaries come from: their pins and the lookup order.

The kwok provider asks :func:`locate_all` for the binaries it starts; ``cluster tools``
(``toolbuilding``) asks :func:`pins` what to build and where the per-user cache is.

Pins ship in the package (``gotools/``): Kubernetes and etcd are the ``require`` lines
of ``kube/go.mod`` and ``etcd/go.mod``, kwok and the registry are ``versions.env``. A
binary is looked up, in this order:

1. ``$DRIFTSCAN_TOOLS_BIN`` — when set, the only place looked at (an explicit choice
   is never silently replaced by another build);
2. the per-user cache ``$DRIFTSCAN_TOOLS_CACHE``, else
   ``${XDG_CACHE_HOME:-~/.cache}/driftscan-tools``, in ``VERSION/NAME`` for the pinned
   version — what ``driftscan cluster tools`` and ``make cluster-tools`` fill;
3. ``.tools/bin`` of a source checkout, when driftscan runs from one (a binary whose
   ``.NAME.version`` stamp names another version is stale and skipped).

Every hint names a command that exists for the way driftscan was installed: ``make
cluster-tools`` in a checkout, ``driftscan cluster tools`` otherwise, and ``--provider
kind`` when Go is missing.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

from scanner import errors

__all__ = [
    "BINARIES",
    "CLUSTER_NEEDS",
    "GO_MINIMUM",
    "Pins",
    "build_command",
    "cache_root",
    "checkout_root",
    "command",
    "gotools_dir",
    "hint",
    "hint_for",
    "locate",
    "locate_all",
    "pins",
    "ready",
]

BINARIES: dict[str, str] = {
    "kube-apiserver": "kube", "kube-controller-manager": "kube", "kube-scheduler": "kube",
    "kubectl": "kube", "kubelet": "kube", "etcd": "etcd", "kwok": "kwok", "kwokctl": "kwok",
    "registry": "registry", "toxiproxy-server": "toxiproxy",
    "helm": "helm",  # no part of a cluster: the chart tests lint, render and apply with it
}
"""Every binary ``cluster tools`` builds, by the pin (component) it is built from.

``toxiproxy-server`` is no part of a cluster: the fault-injection tests put it between
driftscan and the cluster's apiserver and registry. ``kubelet`` runs only on real nodes
(``cluster up --real-nodes N``)."""

CLUSTER_NEEDS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                 "kwok", "registry")
"""The binaries a kwok cluster starts."""

GO_MINIMUM = "1.26"
"""The Go release the pinned modules need (their ``go`` line)."""

_REQUIRES = {"kube": ("kube", "k8s.io/kubernetes"), "etcd": ("etcd", "go.etcd.io/etcd/server/v3")}
_ENV_KEYS = {"kwok": "KWOK_VERSION", "registry": "REGISTRY_VERSION",
             "toxiproxy": "TOXIPROXY_VERSION", "helm": "HELM_VERSION"}


@dataclass(frozen=True)
class Pins:
    """The pinned version of each component (``v1.36.3``, …)."""

    kube: str
    etcd: str
    kwok: str
    registry: str
    toxiproxy: str = ""
    """Empty in a ``versions.env`` that predates it; then it is not built."""
    helm: str = ""
    """Empty in a ``versions.env`` that predates it; then it is not built."""

    def version_of(self, binary: str) -> str:
        """The version ``binary`` is built from."""
        component: str = BINARIES[binary]
        version: str = getattr(self, component)
        return version


def gotools_dir() -> Path:
    """The packaged folder with the Go modules and ``versions.env``."""
    return Path(str(importlib_resources.files("scanner") / "clusters" / "gotools"))


def _require(go_mod: str, module: str) -> str | None:
    """The version ``go_mod`` requires of ``module`` (single-line or block form)."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.M)
    return match.group(1) if match else None


def _env_file(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@functools.cache
def pins(folder: Path | None = None) -> Pins:
    """Read the pins shipped in the package (or in ``folder``, for tests).

    Raises:
        errors.ProviderError: a pin file is missing or names no version (a broken
            install or checkout).
    """
    base = folder or gotools_dir()
    found: dict[str, str] = {}
    try:
        for component, (module_dir, module) in _REQUIRES.items():
            version = _require((base / module_dir / "go.mod").read_text(), module)
            if version:
                found[component] = version
        env = _env_file((base / "versions.env").read_text())
    except OSError as e:
        raise errors.ProviderError(f"cannot read the cluster tools' pins in {base}: {e}",
                                   hint="reinstall driftscan") from e
    for component, key in _ENV_KEYS.items():
        if env.get(key):
            found[component] = env[key]
    missing = [c for c in ("kube", "etcd", "kwok", "registry") if c not in found]
    if missing:
        raise errors.ProviderError(f"no pinned version for {', '.join(missing)} in {base}",
                                   hint="reinstall driftscan")
    return Pins(**found)


def cache_root() -> Path:
    """The per-user cache of built binaries (``VERSION/NAME`` below it)."""
    env = os.environ.get("DRIFTSCAN_TOOLS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "driftscan-tools"


def checkout_root() -> Path | None:
    """The source checkout driftscan runs from, or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    markers = ("pyproject.toml", "Makefile", "tools/build.sh")
    return root if all((root / m).is_file() for m in markers) else None


def _executable(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except OSError:  # a folder this user may not read (another user's cache)
        return False


def locate(binary: str) -> Path | None:
    """Where ``binary`` is, by the lookup order in the module docstring; None if nowhere."""
    explicit = os.environ.get("DRIFTSCAN_TOOLS_BIN")
    if explicit:
        path = Path(explicit) / binary
        return path if _executable(path) else None
    version = pins().version_of(binary)
    cached = cache_root() / version / binary
    if _executable(cached):
        return cached
    root = checkout_root()
    if root is not None:
        path = root / ".tools" / "bin" / binary
        stamp = path.parent / f".{binary}.version"
        stale = stamp.is_file() and stamp.read_text().strip() != version
        if _executable(path) and not stale:
            return path
    return None


def locate_all(binaries: tuple[str, ...] = CLUSTER_NEEDS) -> dict[str, Path]:
    """Every binary's path.

    Raises:
        errors.ToolMissing: one or more are not built; the message lists what and where
            it looked, the hint how to build them for this installation.
    """
    found = {b: locate(b) for b in binaries}
    missing = [b for b, p in found.items() if p is None]
    if missing:
        raise errors.ToolMissing(f"the kwok cluster needs {', '.join(missing)}, not found in "
                                 f"{_searched()}", hint=hint())
    return {b: p for b, p in found.items() if p is not None}


def _searched() -> str:
    explicit = os.environ.get("DRIFTSCAN_TOOLS_BIN")
    if explicit:
        return f"$DRIFTSCAN_TOOLS_BIN ({explicit})"
    places = [f"{cache_root()}/VERSION/"]
    root = checkout_root()
    if root is not None:
        places.append(str(root / ".tools" / "bin"))
    return " or ".join(places)


def command() -> str:
    """How to call driftscan from a shell, for this installation.

    ``driftscan`` when that name on ``PATH`` is this installation's script; else the
    script's full path next to this Python (an inactive virtualenv); else ``python -m``.
    """
    beside = Path(sys.executable).parent / "driftscan"
    on_path = shutil.which("driftscan")
    if on_path and (not _executable(beside) or Path(on_path).resolve() == beside.resolve()):
        return "driftscan"
    if _executable(beside):
        return str(beside)
    return f"{sys.executable} -m scanner.cli"


def hint() -> str:
    """What to run to get the binaries on this machine, for this installation."""
    return hint_for(go=shutil.which("go"), checkout=checkout_root(),
                    explicit=os.environ.get("DRIFTSCAN_TOOLS_BIN"))


def hint_for(*, go: str | None, checkout: Path | None, explicit: str | None) -> str:
    """The hint for a machine with ``go`` (or None), run from ``checkout`` (or installed).

    A checkout builds with ``make cluster-tools``; an installed package with ``driftscan
    cluster tools``; without Go, say so and offer ``--provider kind``.
    """
    kind = "--provider kind (needs Docker and kind)"
    build = _build_command(checkout)
    if not go:
        return (f"Go is not installed: install Go ≥ {GO_MINIMUM} (https://go.dev/dl/), then "
                f"run `{build}`; or use {kind}")
    if explicit:
        return (f"put the binaries in $DRIFTSCAN_TOOLS_BIN ({explicit}), or unset it and run "
                f"`{build}`; or use {kind}")
    return (f"run `{build}` (compiles them from pinned Go modules into {cache_root()}; the "
            f"first build takes about 15 minutes); or use {kind}")


def build_command() -> str:
    """The command that builds the binaries, for this installation."""
    return _build_command(checkout_root())


def ready() -> bool:
    """True when every binary a kwok cluster starts is found."""
    return all(locate(b) is not None for b in CLUSTER_NEEDS)


def _build_command(root: Path | None) -> str:
    if root is None:
        return f"{command()} cluster tools"
    try:
        here = Path.cwd().resolve() == root
    except OSError:
        here = False
    return "make cluster-tools" if here else f"make -C {root} cluster-tools"
