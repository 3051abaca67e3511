"""Read kubeconfig files as kubectl does and say where and how to reach the apiserver.

``sources.live`` asks :func:`endpoint` for the chosen context's :class:`Endpoint`: server
URL, CA, client certificate, token or basic credentials, and the context's namespace.
Files in ``KUBECONFIG`` merge the way kubectl merges them (the first file to name a
cluster, user or context wins; the first ``current-context`` wins; relative paths are
relative to the file that holds them). Every file is read with the project's safe YAML
loader and checked first, so a malformed one is described on one line in kubeconfig
terms.

Users that authenticate through an ``exec`` plugin or an ``auth-provider`` raise
:class:`Delegated`: running those is left to the Kubernetes client library, which
``live`` imports only then — the common token and certificate users never pay for it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import decoding, errors

__all__ = ["HINT", "Delegated", "Endpoint", "context_names", "endpoint", "in_cluster",
           "path_of"]

HINT = (
    "fix the file (`kubectl config view --kubeconfig FILE` shows what kubectl reads), pass"
    " --kubeconfig PATH to another one, or scan a dump with --from FILE"
)
_LISTS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Endpoint:
    """One apiserver and the credentials to present to it."""

    context: str
    namespace: str
    server: str
    ca_file: str = ""
    ca_data: str = ""
    """PEM text of the CA bundle (``certificate-authority-data``)."""
    insecure: bool = False
    tls_server_name: str = ""
    cert_file: str = ""
    cert_data: bytes = b""
    key_file: str = ""
    key_data: bytes = b""
    token: str = ""
    username: str = ""
    password: str = ""
    authorization: str = ""
    """A ready ``Authorization`` header value (what an exec plugin or auth provider gave)."""
    proxy: str = ""


class Delegated(Exception):
    """The chosen user authenticates through a plugin the client library runs."""

    def __init__(self, path: str, context: str, namespace: str) -> None:
        super().__init__(context)
        self.path = path
        self.context = context
        self.namespace = namespace


def path_of(kubeconfig: str | None) -> str:
    """``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``."""
    if kubeconfig:
        return kubeconfig
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def endpoint(path: str, context: str | None) -> Endpoint:
    """The endpoint of ``context`` (the current one when None) in the files of ``path``.

    Raises:
        errors.ClusterUnreachable: a file is unusable, the context is unknown or absent.
        Delegated: the user needs an exec plugin or auth provider.
    """
    files = [p for p in path.split(os.pathsep) if p]
    documents: list[tuple[Path, dict[str, Any]]] = []
    problems: list[str] = []
    for file in files:
        problem, config = _read(file)
        if problem:
            problems.append(problem)
        elif config is not None:
            documents.append((Path(file).expanduser(), config))
    if problems:
        raise errors.ClusterUnreachable("; ".join(problems), hint=HINT)
    merged: dict[str, dict[str, tuple[Path, dict[str, Any]]]] = {k: {} for k, _ in _LISTS}
    current = ""
    for source, config in documents:
        for key, inner in _LISTS:
            for entry in config.get(key) or ():
                merged[key].setdefault(entry["name"], (source.parent, entry.get(inner) or {}))
        current = current or config.get("current-context") or ""
    names = list(merged["contexts"])
    wanted = context or current
    choices = f"pass --context, one of: {', '.join(names) or '(none defined)'}"
    if not wanted:
        raise errors.ClusterUnreachable(f"kubeconfig {path} has no current context",
                                        hint=choices)
    if wanted not in merged["contexts"]:
        raise errors.ClusterUnreachable(f"context {wanted!r} not found in kubeconfig {path}",
                                        hint=choices)
    ctx = merged["contexts"][wanted][1]
    namespace = ctx.get("namespace") or "default"

    def unusable(why: str) -> errors.ClusterUnreachable:
        return errors.ClusterUnreachable(
            f"context {wanted!r} in kubeconfig {path} is unusable: {why}", hint=HINT)

    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged["clusters"]:
        raise unusable(f"cluster {cluster_name!r} is not defined")
    base, cluster = merged["clusters"][cluster_name]
    user_base, user = merged["users"].get(user_name or "", (base, {}))
    if user.get("exec") or user.get("auth-provider"):
        raise Delegated(path, wanted, namespace)
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise unusable("the cluster's `server` must be an http(s) URL")
    try:
        return Endpoint(
            context=wanted, namespace=namespace, server=server.rstrip("/"),
            ca_file=_file(base, cluster.get("certificate-authority")),
            ca_data=_data(cluster.get("certificate-authority-data")).decode("ascii"),
            insecure=cluster.get("insecure-skip-tls-verify") is True,
            tls_server_name=_text(cluster.get("tls-server-name")),
            proxy=_text(cluster.get("proxy-url")),
            cert_file=_file(user_base, user.get("client-certificate")),
            cert_data=_data(user.get("client-certificate-data")),
            key_file=_file(user_base, user.get("client-key")),
            key_data=_data(user.get("client-key-data")),
            token=_text(user.get("token")) or _token_file(user_base, user.get("tokenFile")),
            username=_text(user.get("username")),
            password=_text(user.get("password")),
        )
    except (ValueError, OSError) as e:
        raise unusable(str(e)) from e


def context_names(path: str) -> list[str]:
    """Every context defined in the files of ``path``, in file order (first file wins).

    Raises:
        errors.ClusterUnreachable: a file is unusable.
    """
    names: dict[str, None] = {}
    problems: list[str] = []
    for file in (p for p in path.split(os.pathsep) if p):
        problem, config = _read(file)
        if problem:
            problems.append(problem)
        elif config is not None:
            for entry in config.get("contexts") or ():
                names.setdefault(entry["name"], None)
    if problems:
        raise errors.ClusterUnreachable("; ".join(problems), hint=HINT)
    return list(names)


def in_cluster(folder: Path = _SA_DIR) -> Endpoint | None:
    """The pod's own service-account endpoint, or None outside a pod.

    ``KUBERNETES_SERVICE_HOST``/``PORT`` name the apiserver; ``folder`` holds the mounted
    token, CA and namespace. The token is read on every call: a projected token is
    rotated while a long-running watcher lives, and it reconnects through here.
    """
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    try:
        token = (folder / "token").read_text(encoding="utf-8").strip()
    except OSError as e:
        raise errors.ClusterUnreachable(
            f"in-cluster configuration is unusable: cannot read {folder / 'token'}",
            hint="mount the service account token (automountServiceAccountToken: true)"
            " or pass --kubeconfig") from e
    try:
        namespace = (folder / "namespace").read_text(encoding="utf-8").strip() or "default"
    except OSError:
        namespace = "default"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return Endpoint(context="in-cluster", namespace=namespace, server=f"https://{host}:{port}",
                    ca_file=str(folder / "ca.crt"), token=token)


def _file(base: Path, value: Any) -> str:
    if not value:
        return ""
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else base / path)


def _data(value: Any) -> bytes:
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=False)
    except (binascii.Error, ValueError) as e:
        raise ValueError("a `*-data` field is not base64") from e


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _token_file(base: Path, value: Any) -> str:
    if not value:
        return ""
    path = _file(base, value)
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ValueError(f"tokenFile {path} cannot be read ({e.strerror or e})") from e


# --- checking a file ---------------------------------------------------------------------


def _read(file: str) -> tuple[str | None, dict[str, Any] | None]:
    """``(problem, config)``: what makes the file unusable, or its content (None if absent).

    The client library reports a malformed file with Python internals (``'int' object is
    not iterable``) or a multi-line YAML error, and reads YAML without an alias limit;
    this names the file and every field that is wrong, on one line. Missing files are
    skipped, as kubectl skips them in ``KUBECONFIG``.
    """
    path = Path(file).expanduser()
    if not path.is_file():
        return None, None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        return f"kubeconfig {file} cannot be read ({e.strerror or e})", None
    except UnicodeDecodeError:
        return f"kubeconfig {file} cannot be read (not UTF-8 text)", None
    try:
        documents = [data for _, data in decoding.yaml_documents(text)]
    except decoding.Problem as e:
        problems = [f"line {e.line}: {e.message}" if e.line is not None else e.message]
    else:
        problems = _problems(documents)
    if problems:
        return f"kubeconfig {file} is unusable: {'; '.join(problems)}", None
    return None, documents[0]


def _problems(documents: list[Any]) -> list[str]:
    if len(documents) > 1:
        return [f"it holds {len(documents)} YAML documents; a kubeconfig is one"]
    config = documents[0] if documents else None
    if config is None:
        return ["the file is empty"]
    if not isinstance(config, dict):
        return [f"the top level must be a mapping (apiVersion, clusters, contexts, users),"
                f" not {_kind_of(config)}"]
    problems: list[str] = []
    for key, inner in _LISTS:
        entries = config.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(f"`{key}` must be a list, not {_kind_of(entries)}")
            continue
        for index, entry in enumerate(entries):
            problems.extend(_entry_problems(key, inner, index, entry))
    current = config.get("current-context")
    if current is not None and not isinstance(current, str):
        problems.append(f"`current-context` must be a string, not {_kind_of(current)}")
    return problems


def _entry_problems(key: str, inner: str, index: int, entry: Any) -> list[str]:
    where = f"`{key}[{index}]`"
    if not isinstance(entry, dict):
        return [f"{where} must be a mapping with `name` and `{inner}`, not {_kind_of(entry)}"]
    problems = []
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where} has no `name`")
    else:
        where = f"`{key}[{index}]` ({name})"
    body = entry.get(inner)
    if body is not None and not isinstance(body, dict):
        problems.append(f"{where}: `{inner}` must be a mapping, not {_kind_of(body)}")
    elif inner == "context" and isinstance(body, dict):
        problems.extend(
            f"{where}: `context.{field}` must be a string, not {_kind_of(body[field])}"
            for field in ("cluster", "user", "namespace")
            if body.get(field) is not None and not isinstance(body[field], str)
        )
    return problems


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
