"""Registry credentials from a docker ``config.json`` (inline ``auths`` only).

Credential stores and helpers are never executed; each one becomes a line in
:attr:`DockerConfig.notes` so the user learns why a registry is reached anonymously.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import errors
from scanner.oci import names

__all__ = [
    "Credentials",
    "DockerConfig",
    "docker_config_path",
    "load_docker_config",
    "parse_docker_config",
]


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for HTTP basic auth and token requests."""

    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        """The ``Authorization`` header value for HTTP basic auth."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class DockerConfig:
    """Inline credentials read from a docker ``config.json``, keyed by registry host."""

    auths: Mapping[str, Credentials] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Things we read but do not use (credential helpers, identity tokens), one line each."""
    source: str = ""

    def credentials_for(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (docker.io aliases included), or ``None``."""
        return self.auths.get(names.registry_key(registry))


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where docker keeps ``config.json``: ``$DOCKER_CONFIG/config.json`` or ``~/.docker``."""
    env = os.environ if environ is None else environ
    folder = env.get("DOCKER_CONFIG")
    if folder:
        return Path(folder).expanduser() / "config.json"
    home = env.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".docker" / "config.json"


def parse_docker_config(text: str, *, source: str = "config.json") -> DockerConfig:
    """Read the inline ``auths`` of a docker ``config.json``.

    Each entry is ``{"auth": base64("user:pass")}`` or ``{"username": …, "password": …}``
    (``auth`` wins when both are present, as in the docker CLI). Credential stores and
    helpers are not run; each one becomes a line in :attr:`DockerConfig.notes`.

    Args:
        text: The file's content.
        source: Where it came from, for messages.

    Returns:
        The parsed credentials and notes.

    Raises:
        errors.InputError: The JSON is invalid or an entry cannot be decoded; every
            broken entry is listed in one message.
    """
    try:
        doc = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as exc:  # not JSON, too deep, a huge number
        raise errors.InputError(
            f"docker config {source} is not valid JSON: {' '.join(str(exc).split())[:200]}",
            hint="fix the file, or point DOCKER_CONFIG at a folder with a valid config.json",
        ) from exc
    if not isinstance(doc, dict):
        raise errors.InputError(
            f"docker config {source} is not a JSON object", hint="fix or remove the file"
        )
    problems: list[str] = []
    notes: list[str] = []
    auths: dict[str, Credentials] = {}
    raw_auths = doc.get("auths") or {}
    if not isinstance(raw_auths, dict):
        problems.append("'auths' is not an object")
        raw_auths = {}
    for server, entry in raw_auths.items():
        key = names.registry_key(str(server))
        if not isinstance(entry, dict):
            problems.append(f"auths[{server!r}] is not an object")
            continue
        creds = _entry_credentials(str(server), entry, problems)
        if creds is not None:
            auths[key] = creds
        elif entry.get("identitytoken"):
            notes.append(
                f"{key}: an OAuth identity token is stored; driftscan does not exchange"
                " identity tokens, so this registry is accessed anonymously"
            )
        elif not entry:
            notes.append(
                f"{key}: credentials live in a credential store, which driftscan does not"
                " run; put 'auth' inline or use a DOCKER_CONFIG folder with inline auths"
            )
    store = doc.get("credsStore")
    if store:
        notes.append(
            f"credsStore {store!r} is ignored: driftscan reads only inline 'auths' entries"
        )
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for server, helper in sorted(helpers.items()):
            notes.append(
                f"{names.registry_key(str(server))}: credential helper {helper!r} is ignored;"
                " driftscan reads only inline 'auths' entries"
            )
    if problems:
        raise errors.InputError(
            f"docker config {source} has unusable entries: " + "; ".join(problems),
            hint="run `docker login HOST` again or fix the entries by hand",
        )
    return DockerConfig(auths=auths, notes=tuple(notes), source=source)


def _entry_credentials(
    server: str, entry: Mapping[str, Any], problems: list[str]
) -> Credentials | None:
    encoded = entry.get("auth")
    if encoded:
        try:
            text = str(encoded).strip()
            decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            problems.append(f"auths[{server!r}].auth is not base64 of 'user:password'")
            return None
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            problems.append(f"auths[{server!r}].auth does not decode to 'user:password'")
            return None
        return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if user and secret is not None:
        return Credentials(str(user), str(secret))
    return None


def load_docker_config(path: Path | None = None) -> DockerConfig:
    """Load :func:`docker_config_path` (or ``path``); a missing file means no credentials.

    Raises:
        errors.InputError: The file exists but cannot be read or parsed.
    """
    target = path or docker_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DockerConfig(source=str(target))
    except OSError as exc:
        raise errors.InputError(
            f"cannot read docker config {target}: {exc.strerror or exc}",
            hint="fix its permissions or set DOCKER_CONFIG to another folder",
        ) from exc
    return parse_docker_config(text, source=str(target))
