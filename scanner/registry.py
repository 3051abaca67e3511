"""A small OCI distribution client, a synthetic image builder and a caching tag resolver.

Who calls it: the kwok image-pull emulator (tag → digest as containerd would see it),
the scenario runner (``push`` steps publish builds and re-tag them), ``driftscan pin``
and the ``latent-drift`` detector (through :class:`Resolver`). It takes plain strings
(``host:port``, repository, tag or digest) and does not depend on ``images.py``.
Standard library only (``http.client``), so it runs wherever the package installs.

Protocol facts it relies on (OCI distribution spec v1.1, Docker registry v2 auth):

* ``HEAD /v2/<name>/manifests/<reference>`` answers with ``Docker-Content-Digest``, the
  digest of the stored bytes. We always accept OCI index and Docker manifest list, so a
  multi-arch tag resolves to its *index* digest, which is what containerd reports in
  ``imageID`` — never a per-platform manifest digest.
* Blobs upload monolithically: ``POST /v2/<name>/blobs/uploads/`` then ``PUT
  <Location>&digest=…``; a ``HEAD`` on the blob first skips what the registry holds.
* Tags page with ``n``/``last`` and a ``Link: <…>; rel="next"`` header.
* Auth is anonymous, HTTP basic, or the bearer token flow: a 401 carries
  ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``; we GET a token from the realm
  (with basic credentials when we have them) and retry once.
* Credentials come from a docker ``config.json`` (inline ``auths`` only; credential
  stores and helpers are reported in :attr:`DockerConfig.notes`, not executed).
* Loopback registries speak plain HTTP unless told otherwise; everything else HTTPS.

Every failure is an :class:`errors.RegistryError` (or one of the subclasses below) whose
message names the registry, repository and reference, with a hint saying what to do.
"""

from __future__ import annotations

import base64
import concurrent.futures
import enum
import gzip
import hashlib
import http.client
import io
import ipaddress
import json
import os
import re
import ssl
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from scanner import errors

__all__ = [
    "BUILD_LABEL_KEY",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DEFAULT_PLATFORM",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "MARKER_PATH",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_MANIFEST",
    "Blob",
    "Challenge",
    "Client",
    "Credentials",
    "DockerConfig",
    "Image",
    "ImageIndex",
    "Layer",
    "Manifest",
    "ManifestInfo",
    "NotFound",
    "Platform",
    "Resolution",
    "ResolutionStatus",
    "Resolver",
    "Unauthorized",
    "Unreachable",
    "build_image",
    "build_index",
    "client_for",
    "derive_image",
    "digest_of",
    "docker_config_path",
    "fetch_image",
    "is_digest",
    "is_loopback",
    "load_docker_config",
    "marker_layer",
    "next_link",
    "parse_docker_config",
    "parse_link_header",
    "parse_www_authenticate",
    "push_image",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)
"""What every manifest request accepts, indexes first (the order is only a preference)."""
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_OCI_LAYER_FOR = {
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
}

BUILD_LABEL_KEY = "io.driftscan.build"
"""Config label and manifest annotation that carry a synthetic image's build label."""
MARKER_PATH = "driftscan/build"
"""File inside the marker layer whose content is the build label and a newline."""

_USER_AGENT = "driftscan-registry-client"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_MAX_REDIRECTS = 5
_MAX_TAG_PAGES = 10_000


# --------------------------------------------------------------------------- errors


class NotFound(errors.RegistryError):
    """The registry answered 404: the repository, tag, digest or blob does not exist."""


class Unauthorized(errors.RegistryError):
    """The registry or its token service refused the credentials (401/403)."""


class Unreachable(errors.RegistryError):
    """No HTTP answer: refused connection, timeout, DNS or TLS failure."""


# --------------------------------------------------------------------------- digests, names


def digest_of(data: bytes) -> str:
    """The OCI ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(reference: str) -> bool:
    """Whether ``reference`` is a digest (``algorithm:hex``) rather than a tag."""
    return bool(_DIGEST_RE.match(reference))


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (``host``, ``host:port`` or ``[v6]:port``) is a loopback address."""
    host = _hostname(registry)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(registry: str) -> str:
    try:
        return (urllib.parse.urlsplit("//" + registry).hostname or "").lower()
    except ValueError:
        return ""


def _check_registry(registry: str) -> None:
    try:
        parts = urllib.parse.urlsplit("//" + registry)
        valid = bool(parts.hostname) and not (parts.path or parts.query or parts.fragment)
        valid = valid and (parts.port is None or 0 < parts.port < 65536)
    except ValueError:
        valid = False
    if not valid:
        raise errors.InputError(
            f"registry {registry!r} is not a host or host:port",
            hint="write the registry as HOST or HOST:PORT, without scheme or path",
        )


def _check_repository(registry: str, repository: str) -> None:
    if not _REPOSITORY_RE.match(repository) or len(repository) > 255:
        raise errors.InputError(
            f"registry {registry}: {repository!r} is not a valid repository name",
            hint="use lowercase path components like 'team/app' (letters, digits, . _ -)",
        )


def _check_reference(registry: str, repository: str, reference: str) -> None:
    if not (_TAG_RE.match(reference) or is_digest(reference)):
        raise errors.InputError(
            f"registry {registry}: {reference!r} is neither a tag nor a digest"
            f" (repository {repository})",
            hint="a tag is up to 128 of [A-Za-z0-9_.-]; a digest looks like sha256:<64 hex>",
        )


def _subject(repository: str, reference: str = "") -> str:
    if not reference:
        return repository
    return f"{repository}@{reference}" if is_digest(reference) else f"{repository}:{reference}"


# --------------------------------------------------------------------------- header parsing


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a lowercase scheme and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235).

    Quoted strings may hold commas and escaped quotes; parameter names are lowercased.

    Args:
        value: The header value, e.g. ``Bearer realm="https://a/token",service="reg"``.

    Returns:
        The challenges in order; an empty list when nothing parses.
    """
    challenges: list[Challenge] = []
    scheme = ""
    params: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] in " \t,":
            pos += 1
        match = _TOKEN_RE.match(value, pos)
        if not match:
            break
        token = match.group()
        pos = match.end()
        probe = pos
        while probe < end and value[probe] in " \t":
            probe += 1
        if probe < end and value[probe] == "=" and scheme:
            pos = probe + 1
            while pos < end and value[pos] in " \t":
                pos += 1
            param_value, pos = _read_param_value(value, pos)
            params[token.lower()] = param_value
            continue
        if scheme:
            challenges.append(Challenge(scheme, params))
        scheme, params = token.lower(), {}
        # token68 form (``Basic dXNlcg==``) carries no parameters we use: skip it.
        if probe < end and value[probe] != "," and not _looks_like_param(value, probe):
            while pos < end and value[pos] != ",":
                pos += 1
    if scheme:
        challenges.append(Challenge(scheme, params))
    return challenges


def _looks_like_param(value: str, pos: int) -> bool:
    match = _TOKEN_RE.match(value, pos)
    if not match:
        return False
    rest = value[match.end() :].lstrip(" \t")
    return rest.startswith("=") and not rest.startswith("==")


def _read_param_value(value: str, pos: int) -> tuple[str, int]:
    if pos < len(value) and value[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(value):
            char = value[pos]
            if char == "\\" and pos + 1 < len(value):
                out.append(value[pos + 1])
                pos += 2
                continue
            if char == '"':
                return "".join(out), pos + 1
            out.append(char)
            pos += 1
        return "".join(out), pos
    match = _TOKEN_RE.match(value, pos)
    if not match:
        return "", pos
    return match.group(), match.end()


def parse_link_header(value: str) -> dict[str, str]:
    """Map each ``rel`` of an RFC 8288 ``Link`` header to its (possibly relative) URL.

    Args:
        value: e.g. ``</v2/app/tags/list?last=b&n=2>; rel="next"``.

    Returns:
        ``{"next": "/v2/app/tags/list?last=b&n=2"}``; the first URL wins per rel.
    """
    links: dict[str, str] = {}
    for match in re.finditer(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)", value):
        target, attributes = match.group(1).strip(), match.group(2)
        rel = re.search(r";\s*rel\s*=\s*(?:\"([^\"]*)\"|([^\s;,]+))", attributes)
        if rel:
            for name in (rel.group(1) or rel.group(2) or "").split():
                links.setdefault(name.lower(), target)
    return links


def next_link(value: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, or ``None``."""
    return parse_link_header(value).get("next") if value else None


# --------------------------------------------------------------------------- docker config


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
        return self.auths.get(_auth_key(registry))


def _auth_key(server: str) -> str:
    """Normalise a config.json key or registry name to ``host[:port]`` (docker.io for Hub)."""
    text = server.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    host = text.split("/", 1)[0].lower()
    return "docker.io" if host in _DOCKER_HUB_ALIASES else host


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
    except json.JSONDecodeError as exc:
        raise errors.InputError(
            f"docker config {source} is not valid JSON: {exc}",
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
        key = _auth_key(str(server))
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
                f"{_auth_key(str(server))}: credential helper {helper!r} is ignored;"
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


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class ManifestInfo:
    """What a manifest ``HEAD`` says: digest, media type and size in bytes."""

    digest: str
    media_type: str
    size: int

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI index or Docker manifest list (multi-arch)."""
        return self.media_type in INDEX_MEDIA_TYPES


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes as stored, with its media type and digest."""

    media_type: str
    data: bytes = field(repr=False)
    digest: str

    def json(self) -> dict[str, Any]:
        """The manifest document."""
        doc = json.loads(self.data)
        return doc if isinstance(doc, dict) else {}

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI index or Docker manifest list (multi-arch)."""
        return self.media_type in INDEX_MEDIA_TYPES


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def registry_errors(self) -> str:
        """``CODE: message`` pairs from a distribution error body, if there is one."""
        try:
            doc = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return ""
        items = doc.get("errors") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            return ""
        parts = [
            f"{item.get('code', '?')}: {item.get('message', '')}".strip()
            for item in items
            if isinstance(item, dict)
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class _What:
    """What a request is for, so failures can say it."""

    action: str
    repository: str
    reference: str = ""
    missing_hint: str = "check the repository and reference, or push the image first"


class Client:
    """One registry's OCI distribution API; safe to share between threads.

    Each request opens its own connection, so threads never share a socket; the token
    cache is guarded by a lock.
    """

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Prepare a client (no network yet).

        Args:
            registry: ``host`` or ``host:port`` as users write it; ``docker.io`` is
                reached at ``registry-1.docker.io``.
            insecure: ``True`` for plain HTTP, ``False`` for HTTPS; ``None`` picks plain
                HTTP for loopback hosts and HTTPS otherwise.
            credentials: Basic credentials for the registry and its token service.
            timeout: Seconds for connecting and for each read.
        """
        _check_registry(registry)
        self.registry = registry
        self.insecure = is_loopback(registry) if insecure is None else insecure
        self.credentials = credentials
        self.timeout = timeout
        api_host = "registry-1.docker.io" if _auth_key(registry) == "docker.io" else registry
        self.base_url = f"{'http' if self.insecure else 'https'}://{api_host}"
        self._netloc = urllib.parse.urlsplit(self.base_url).netloc
        self._ssl = ssl.create_default_context()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._bearer: Challenge | None = None
        self._basic = False

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # ------------------------------------------------------------- public API

    def ping(self) -> None:
        """Check that ``/v2/`` answers (authenticating if asked); raise otherwise."""
        what = _What("reach the API of", "(any)", missing_hint="is this an OCI registry?")
        response = self._call("GET", "/v2/", what, scope="")
        if response.status != 200:
            self._fail(response, what)

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo:
        """Digest and media type of a tag or digest via ``HEAD``.

        Uses ``Docker-Content-Digest``; when a registry omits it (or refuses ``HEAD``),
        falls back to ``GET`` and hashes the body.

        Raises:
            NotFound: No such repository or reference.
            Unauthorized: Credentials missing or refused.
            Unreachable: No answer from the registry.
        """
        self._check(repository, reference)
        what = _What("resolve", repository, reference)
        response = self._call(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            what,
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        if response.status == 405:
            manifest = self.get_manifest(repository, reference)
            return ManifestInfo(manifest.digest, manifest.media_type, len(manifest.data))
        if response.status != 200:
            self._fail(response, what)
        digest = response.header("Docker-Content-Digest") or ""
        media_type = _media_type(response.header("Content-Type"))
        if not digest or media_type not in MANIFEST_MEDIA_TYPES:
            manifest = self.get_manifest(repository, reference)
            return ManifestInfo(manifest.digest, manifest.media_type, len(manifest.data))
        size = int(response.header("Content-Length") or 0)
        return ManifestInfo(digest, media_type, size)

    def resolve(self, repository: str, reference: str) -> str:
        """The digest a tag (or digest) names now; see :meth:`head_manifest`."""
        return self.head_manifest(repository, reference).digest

    def manifest_exists(self, repository: str, reference: str) -> bool:
        """Whether a manifest exists under a tag or digest (``False`` on 404 only)."""
        try:
            self.head_manifest(repository, reference)
        except NotFound:
            return False
        return True

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """A manifest's exact bytes and media type; the digest is checked against them.

        Raises:
            NotFound: No such repository or reference.
            errors.RegistryError: The bytes do not match the digest the registry named.
        """
        self._check(repository, reference)
        what = _What("fetch manifest", repository, reference)
        response = self._call(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            what,
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        if response.status != 200:
            self._fail(response, what)
        digest = digest_of(response.body)
        claimed = response.header("Docker-Content-Digest")
        expected = reference if is_digest(reference) else claimed
        if expected and expected.startswith("sha256:") and expected != digest:
            raise errors.RegistryError(
                f"registry {self.registry}: manifest {_subject(repository, reference)} has"
                f" digest {digest} but the registry named {expected}",
                hint="the registry or a proxy altered the manifest; report it to its operator",
            )
        media_type = _media_type(response.header("Content-Type"))
        if media_type not in MANIFEST_MEDIA_TYPES:
            media_type = str(_json_object(response.body).get("mediaType") or media_type)
        return Manifest(media_type, response.body, digest)

    def push_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """``PUT`` manifest bytes under a tag or digest and return their digest.

        Raises:
            errors.InputError: ``reference`` is a digest that does not match ``data``.
            errors.RegistryError: The registry refused the manifest (e.g. a blob or
                child manifest it references was not pushed first).
        """
        self._check(repository, reference)
        digest = digest_of(data)
        if is_digest(reference) and reference != digest:
            raise errors.InputError(
                f"registry {self.registry}: cannot push manifest {digest} as {reference}"
                f" in {repository}",
                hint="push a manifest by its own digest, or by a tag",
            )
        what = _What(
            "push manifest",
            repository,
            reference,
            missing_hint="push the blobs and child manifests it references first",
        )
        response = self._call(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            what,
            headers={"Content-Type": media_type},
            body=data,
            push=True,
        )
        if response.status not in (200, 201):
            self._fail(response, what)
        claimed = response.header("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise errors.RegistryError(
                f"registry {self.registry}: stored {_subject(repository, reference)} as"
                f" {claimed}, but the pushed bytes hash to {digest}",
                hint="the registry rewrote the manifest; push a canonical OCI manifest",
            )
        return digest

    def tag(self, repository: str, source: str, new_tag: str) -> str:
        """Point ``new_tag`` at the manifest ``source`` names (the re-tag); return its digest.

        The manifest's bytes are fetched and pushed unchanged, so the digest is kept.
        """
        if is_digest(new_tag) or not _TAG_RE.match(new_tag):
            raise errors.InputError(
                f"registry {self.registry}: {new_tag!r} is not a tag (repository {repository})",
                hint="a tag is up to 128 of [A-Za-z0-9_.-] and starts with a letter or digit",
            )
        manifest = self.get_manifest(repository, source)
        return self.push_manifest(repository, new_tag, manifest.data, manifest.media_type)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (the registry must allow deletes)."""
        self._check(repository, digest)
        what = _What(
            "delete manifest",
            repository,
            digest,
            missing_hint="delete by digest; enable storage.delete in the registry config",
        )
        path = f"/v2/{repository}/manifests/{digest}"
        response = self._call("DELETE", path, what, scope_actions="delete")
        if response.status not in (200, 202):
            self._fail(response, what)

    def list_tags(
        self, repository: str, *, page_size: int | None = None, last: str | None = None
    ) -> list[str]:
        """Every tag of a repository, following ``Link: rel="next"`` pages.

        Args:
            repository: Repository name.
            page_size: ``n`` per request (the registry's default when ``None``).
            last: Start after this tag (``last``), as the spec's pagination does.

        Raises:
            NotFound: The repository does not exist.
        """
        self._check(repository, "")
        what = _What(
            "list tags of", repository, missing_hint="the repository has no pushed manifests"
        )
        query = {k: v for k, v in (("n", page_size), ("last", last)) if v is not None}
        url: str | None = f"/v2/{repository}/tags/list"
        if query:
            url = f"{url}?{urllib.parse.urlencode(query)}"
        tags: list[str] = []
        seen: set[str] = set()
        while url and url not in seen and len(seen) < _MAX_TAG_PAGES:
            seen.add(url)
            response = self._call("GET", url, what)
            if response.status != 200:
                self._fail(response, what)
            page = _json_object(response.body).get("tags") or []
            tags.extend(str(tag) for tag in page)
            following = next_link(response.header("Link"))
            url = urllib.parse.urljoin(response.url, following) if following else None
        return tags

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository holds a blob (``HEAD``)."""
        self._check(repository, digest)
        what = _What("check blob", repository, digest)
        response = self._call("HEAD", f"/v2/{repository}/blobs/{digest}", what)
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        self._fail(response, what)

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes (redirects followed), checked against its digest."""
        self._check(repository, digest)
        what = _What("fetch blob", repository, digest)
        response = self._call("GET", f"/v2/{repository}/blobs/{digest}", what)
        if response.status != 200:
            self._fail(response, what)
        if digest.startswith("sha256:") and digest_of(response.body) != digest:
            raise errors.RegistryError(
                f"registry {self.registry}: blob {_subject(repository, digest)} arrived"
                f" with digest {digest_of(response.body)}",
                hint="the download was corrupted or altered; retry, then report it",
            )
        return response.body

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload a blob unless the repository has it (monolithic ``POST`` + ``PUT``).

        Returns:
            The blob's digest.
        """
        digest = digest_of(data)
        if self.blob_exists(repository, digest):
            return digest
        what = _What("upload blob to", repository, digest, missing_hint="check the repository")
        started = self._call("POST", f"/v2/{repository}/blobs/uploads/", what, body=b"", push=True)
        location = started.header("Location")
        if started.status != 202 or not location:
            self._fail(started, what)
        upload_url = urllib.parse.urljoin(started.url, location)
        separator = "&" if urllib.parse.urlsplit(upload_url).query else "?"
        upload_url += separator + urllib.parse.urlencode({"digest": digest})
        finished = self._call(
            "PUT",
            upload_url,
            what,
            headers={"Content-Type": "application/octet-stream"},
            body=data,
            push=True,
        )
        if finished.status not in (201, 204):
            self._fail(finished, what)
        return digest

    # ------------------------------------------------------------- plumbing

    def _check(self, repository: str, reference: str) -> None:
        _check_repository(self.registry, repository)
        if reference:
            _check_reference(self.registry, repository, reference)

    def _call(
        self,
        method: str,
        url: str,
        what: _What,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        push: bool = False,
        scope: str | None = None,
        scope_actions: str | None = None,
    ) -> _Response:
        """Send one request, answering one auth challenge; return any HTTP answer."""
        if scope is None:
            actions = scope_actions or ("pull,push" if push else "pull")
            scope = f"repository:{what.repository}:{actions}"
        target = urllib.parse.urljoin(self.base_url + "/", url)
        send_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        authorization = self._authorization(scope, what)
        if authorization:
            send_headers["Authorization"] = authorization
        response = self._send(method, target, send_headers, body, what)
        if response.status == 401:
            self._answer_challenge(response, scope, what, sent=authorization)
            retry = self._authorization(scope, what)
            # Retry once, and only with credentials we have not just seen refused.
            if retry and retry != authorization:
                send_headers["Authorization"] = retry
                response = self._send(method, target, send_headers, body, what)
        return response

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        what: _What,
    ) -> _Response:
        """One HTTP exchange, following redirects for GET/HEAD (without auth off-host)."""
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            connection: http.client.HTTPConnection
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port, timeout=self.timeout, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(
                    parts.hostname or "", parts.port, timeout=self.timeout
                )
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            try:
                connection.request(method, path, body=body, headers=headers)
                raw = connection.getresponse()
                response = _Response(raw.status, raw.reason, raw.msg, raw.read(), url)
            except (OSError, http.client.HTTPException) as exc:
                self._unreachable(url, exc, what)
            finally:
                connection.close()
            location = response.header("Location")
            redirected = response.status in (301, 302, 303, 307, 308)
            if not (redirected and location and method in ("GET", "HEAD")):
                return response
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).netloc != self._netloc:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise errors.RegistryError(
            f"registry {self.registry}: {what.action} {_subject(what.repository, what.reference)}"
            f" was redirected more than {_MAX_REDIRECTS} times",
            hint="the registry or a proxy in front of it is misconfigured",
        )

    def _unreachable(self, url: str, exc: BaseException, what: _What) -> NoReturn:
        subject = _subject(what.repository, what.reference)
        detail = str(exc) or type(exc).__name__
        host = urllib.parse.urlsplit(url).netloc
        if host == self._netloc:
            host = self.registry  # the name the user wrote, as in the message
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise Unreachable(
                f"registry {self.registry}: TLS certificate verification failed while trying"
                f" to {what.action} {subject}: {exc.verify_message or detail}",
                hint=f"trust its CA with SSL_CERT_FILE=/path/to/ca.pem, or, if {host} serves"
                " plain HTTP, --insecure-registry " + host,
            ) from exc
        if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in detail:
            hint = f"{host} seems to speak plain HTTP: mark it insecure (--insecure-registry)"
        elif isinstance(exc, ConnectionRefusedError):
            hint = f"nothing listens on {host}: start the registry or fix the port"
        elif isinstance(exc, TimeoutError):
            hint = f"{host} did not answer within {self.timeout:g}s: check the network, retry"
        else:
            hint = f"check that a registry runs at {host} and is reachable from here"
        via = "" if urllib.parse.urlsplit(url).netloc == self._netloc else f" (via {url})"
        raise Unreachable(
            f"registry {self.registry} unreachable while trying to {what.action}"
            f" {subject}{via}: {detail}",
            hint=hint,
        ) from exc

    def _fail(self, response: _Response, what: _What) -> NoReturn:
        subject = _subject(what.repository, what.reference)
        detail = f"HTTP {response.status} {response.reason}".rstrip()
        codes = response.registry_errors()
        if codes:
            detail += f" ({codes})"
        message = f"registry {self.registry}: cannot {what.action} {subject}: {detail}"
        if response.status == 404:
            raise NotFound(message, hint=what.missing_hint)
        if response.status in (401, 403):
            who = f"user {self.credentials.username!r}" if self.credentials else "anonymous access"
            raise Unauthorized(
                f"{message} [{who}]",
                hint=f"log in with `docker login {self.registry}` (driftscan reads inline"
                " auths from $DOCKER_CONFIG/config.json or ~/.docker/config.json)",
            )
        if response.status == 400 and b"HTTPS server" in response.body:
            hint = f"{self.registry} serves HTTPS: do not mark it insecure"
        elif response.status >= 500:
            hint = "the registry failed internally: retry later or read its log"
        else:
            hint = "the registry refused the request; its error code above says why"
        raise errors.RegistryError(message, hint=hint)

    # ------------------------------------------------------------- auth

    def _authorization(self, scope: str, what: _What) -> str | None:
        with self._lock:
            now = time.monotonic()
            for key in _covering_scopes(scope):
                cached = self._tokens.get(key)
                if cached and cached[1] > now:
                    return "Bearer " + cached[0]
            bearer = self._bearer
            basic = self._basic
        if bearer is not None:
            # Seen a bearer challenge already: fetch this scope's token up front and skip
            # the 401 round trip.
            return "Bearer " + self._fetch_token(bearer, scope, what)
        if basic and self.credentials:
            return self.credentials.basic_header()
        return None

    def _answer_challenge(
        self, response: _Response, scope: str, what: _What, *, sent: str | None
    ) -> None:
        """Get ready to answer a 401: learn the auth scheme, fetch a fresh token."""
        challenges = [
            challenge
            for value in response.headers.get_all("WWW-Authenticate") or []
            for challenge in parse_www_authenticate(value)
        ]
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            with self._lock:
                self._bearer = bearer
                if sent and sent.startswith("Bearer "):
                    for key in _covering_scopes(scope):
                        self._tokens.pop(key, None)
            self._fetch_token(bearer, scope, what)
        elif any(c.scheme == "basic" for c in challenges) and self.credentials:
            with self._lock:
                self._basic = True

    def _fetch_token(self, challenge: Challenge, scope: str, what: _What) -> str:
        realm = challenge.params.get("realm", "")
        subject = _subject(what.repository, what.reference)
        if not realm.startswith(("http://", "https://")):
            raise Unauthorized(
                f"registry {self.registry}: bearer challenge for {subject} has no usable"
                f" realm ({realm!r})",
                hint="the registry's auth configuration is broken; tell its operator",
            )
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        if scope:
            query.append(("scope", scope))
        extra = challenge.params.get("scope")
        if extra and extra != scope:
            query.append(("scope", extra))
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if self.credentials:
            headers["Authorization"] = self.credentials.basic_header()
        token_what = _What("get a token for", what.repository, what.reference)
        response = self._send("GET", url, headers, None, token_what)
        if response.status in (401, 403):
            who = f"user {self.credentials.username!r}" if self.credentials else "anonymous access"
            raise Unauthorized(
                f"registry {self.registry}: token service {realm} refused {who} for"
                f" {subject} (HTTP {response.status})",
                hint=f"log in with `docker login {self.registry}` or fix the stored password",
            )
        doc = _json_object(response.body) if response.status == 200 else {}
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise errors.RegistryError(
                f"registry {self.registry}: token service {realm} gave no token for"
                f" {subject} (HTTP {response.status})",
                hint="retry later; if it persists, the token service is misconfigured",
            )
        try:
            lifetime = float(doc.get("expires_in") or 60)
        except (TypeError, ValueError):
            lifetime = 60.0
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + max(lifetime - 10.0, 1.0))
        return token


def _covering_scopes(scope: str) -> tuple[str, ...]:
    """Cached scopes whose token also serves ``scope`` (a push token can pull)."""
    if scope.endswith(":pull"):
        return (scope, scope + ",push")
    return (scope,)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip()


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def client_for(
    registry: str,
    *,
    docker_config: DockerConfig | None = None,
    insecure_hosts: Iterable[str] = (),
    timeout: float = 30.0,
) -> Client:
    """A :class:`Client` with credentials from ``docker_config`` and the insecure setting.

    Args:
        registry: ``host[:port]``.
        docker_config: Where credentials come from (anonymous when ``None``).
        insecure_hosts: ``host`` or ``host:port`` entries to reach over plain HTTP;
            loopback hosts are plain HTTP anyway.
        timeout: Seconds per connect/read.
    """
    hosts = {entry.strip().lower() for entry in insecure_hosts}
    insecure = registry.lower() in hosts or _hostname(registry) in hosts or is_loopback(registry)
    credentials = docker_config.credentials_for(registry) if docker_config else None
    return Client(registry, insecure=insecure, credentials=credentials, timeout=timeout)


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Platform:
    """An OCI platform: ``os/architecture[/variant]``."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/arm64/v8``-style text.

        Raises:
            errors.InputError: Not two or three non-empty parts.
        """
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise errors.InputError(
                f"{text!r} is not a platform", hint="write OS/ARCH or OS/ARCH/VARIANT"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_json(self) -> dict[str, str]:
        """The ``platform`` object of an index entry."""
        doc = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            doc["variant"] = self.variant
        return doc

    def matches(self, doc: Mapping[str, Any]) -> bool:
        """Whether an index entry's ``platform`` object fits (no variant asked: any)."""
        return (
            doc.get("os") == self.os
            and doc.get("architecture") == self.architecture
            and (not self.variant or doc.get("variant", "") == self.variant)
        )


DEFAULT_PLATFORM = Platform()


@dataclass(frozen=True)
class Blob:
    """Bytes with a media type; the digest is computed once."""

    media_type: str
    data: bytes = field(repr=False)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", digest_of(self.data))

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor (``mediaType``, ``digest``, ``size``)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob and its ``diff_id`` (digest of the uncompressed tar)."""

    blob: Blob
    diff_id: str

    @classmethod
    def from_tar(cls, tar: bytes) -> Layer:
        """Gzip a tar deterministically (mtime 0, fixed level) into an OCI layer."""
        compressed = gzip.compress(tar, compresslevel=9, mtime=0)
        return cls(Blob(OCI_LAYER_GZIP, compressed), digest_of(tar))


@dataclass(frozen=True)
class Image:
    """One single-platform image: manifest bytes, config and layers, ready to push."""

    manifest: Blob
    config: Blob
    layers: tuple[Layer, ...]
    platform: Platform

    @property
    def digest(self) -> str:
        """The manifest digest: what a tag resolves to for this image."""
        return self.manifest.digest


@dataclass(frozen=True)
class ImageIndex:
    """An OCI image index over per-platform images (a multi-arch build)."""

    manifest: Blob
    images: tuple[Image, ...]

    @property
    def digest(self) -> str:
        """The index digest: what a multi-arch tag resolves to."""
        return self.manifest.digest


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _check_label(build_label: str) -> None:
    if not build_label.strip() or len(build_label) > 256 or "\n" in build_label:
        raise errors.InputError(
            f"build label {build_label!r} is empty, too long or spans lines",
            hint="use a short one-line label such as 'v2' or 'build-7'",
        )


def marker_layer(build_label: str) -> Layer:
    """A one-file layer: ``driftscan/build`` holding the label, deterministic to the byte.

    Fixed mtimes, owners and modes, ustar format and gzip mtime 0 make the same label
    give the same digest on every run. (A different zlib build could compress
    differently; within one machine the result is stable.)
    """
    _check_label(build_label)
    content = (build_label + "\n").encode("utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        folder = tarfile.TarInfo(MARKER_PATH.split("/", 1)[0])
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        entry = tarfile.TarInfo(MARKER_PATH)
        entry.size, entry.mode = len(content), 0o644
        tar.addfile(entry, io.BytesIO(content))
    return Layer.from_tar(buffer.getvalue())


def _manifest(config: Blob, layers: Sequence[Layer], build_label: str) -> Blob:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor() for layer in layers],
        "annotations": {BUILD_LABEL_KEY: build_label},
    }
    return Blob(OCI_MANIFEST, _canonical(doc))


def build_image(
    build_label: str,
    *,
    base_layers: Sequence[Layer] = (),
    platform: Platform = DEFAULT_PLATFORM,
) -> Image:
    """Build a synthetic OCI image whose digest is a function of its label and platform.

    Args:
        build_label: Names the build (``v1``, ``build-2``); stored in the marker layer,
            the config label and a manifest annotation ``io.driftscan.build``.
        base_layers: Layers placed below the marker layer.
        platform: The config's os/architecture/variant.

    Returns:
        An image with an OCI manifest, an OCI config and ``base_layers`` + marker layer.
    """
    marker = marker_layer(build_label)
    layers = (*base_layers, marker)
    config: dict[str, Any] = {
        **platform.to_json(),
        "config": {"Labels": {BUILD_LABEL_KEY: build_label}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": "base layer"} for _ in base_layers]
        + [{"created_by": f"driftscan build marker {build_label}"}],
    }
    config_blob = Blob(OCI_CONFIG, _canonical(config))
    return Image(_manifest(config_blob, layers, build_label), config_blob, layers, platform)


def build_index(build_label: str, platforms: Sequence[Platform]) -> ImageIndex:
    """A multi-arch build: one :func:`build_image` per platform under an OCI image index.

    Raises:
        errors.InputError: No platforms, or one listed twice.
    """
    if not platforms or len(set(platforms)) != len(platforms):
        raise errors.InputError(
            f"build {build_label!r} needs distinct platforms, got {[str(p) for p in platforms]}",
            hint="list each platform once, e.g. linux/amd64 and linux/arm64",
        )
    images = tuple(build_image(build_label, platform=p) for p in platforms)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {**image.manifest.descriptor(), "platform": image.platform.to_json()}
            for image in images
        ],
        "annotations": {BUILD_LABEL_KEY: build_label},
    }
    return ImageIndex(Blob(OCI_INDEX, _canonical(doc)), images)


def derive_image(base: Image, build_label: str) -> Image:
    """Put a marker layer on top of an existing (runnable) image as a new OCI image.

    The base config keeps its entrypoint, command and environment; ``rootfs.diff_ids``,
    ``history`` and the ``io.driftscan.build`` label are extended. Docker layer media
    types become their OCI equivalents (same bytes, same digests).

    Raises:
        errors.InputError: The base config's ``diff_ids`` do not match its layers.
    """
    config = json.loads(base.config.data)
    if not isinstance(config, dict):
        config = {}
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else None
    diff_ids = list(rootfs.get("diff_ids") or []) if rootfs else []
    if len(diff_ids) != len(base.layers):
        raise errors.InputError(
            f"base image {base.digest} lists {len(diff_ids)} diff_ids for"
            f" {len(base.layers)} layers",
            hint="pick another base image; this one's config is inconsistent",
        )
    marker = marker_layer(build_label)
    config["rootfs"] = {"type": "layers", "diff_ids": [*diff_ids, marker.diff_id]}
    if isinstance(config.get("history"), list):
        config["history"] = [
            *config["history"],
            {"created_by": f"driftscan build marker {build_label}"},
        ]
    settings = config.get("config") if isinstance(config.get("config"), dict) else {}
    settings = dict(settings or {})
    settings["Labels"] = {**(settings.get("Labels") or {}), BUILD_LABEL_KEY: build_label}
    config["config"] = settings
    config_blob = Blob(OCI_CONFIG, _canonical(config))
    layers = tuple(
        Layer(
            Blob(_OCI_LAYER_FOR.get(layer.blob.media_type, layer.blob.media_type), layer.blob.data),
            layer.diff_id,
        )
        for layer in base.layers
    ) + (marker,)
    return Image(_manifest(config_blob, layers, build_label), config_blob, layers, base.platform)


def fetch_image(
    client: Client, repository: str, reference: str, *, platform: Platform = DEFAULT_PLATFORM
) -> Image:
    """Download one platform's manifest, config and layers (e.g. a base for :func:`derive_image`).

    Raises:
        NotFound: The reference, or the platform inside its index, does not exist.
        errors.RegistryError: The manifest is of a kind this client cannot use.
    """
    manifest = client.get_manifest(repository, reference)
    subject = f"{client.registry}/{_subject(repository, reference)}"
    if manifest.is_index:
        entries = manifest.json().get("manifests") or []
        matching = (
            entry
            for entry in entries
            if isinstance(entry, dict) and platform.matches(entry.get("platform") or {})
        )
        chosen = next(matching, None)
        if chosen is None:
            raise NotFound(
                f"registry {client.registry}: {subject} has no manifest for {platform}",
                hint="choose a platform the index lists, or another base image",
            )
        manifest = client.get_manifest(repository, str(chosen["digest"]))
    if manifest.media_type not in _IMAGE_MANIFEST_TYPES:
        raise errors.RegistryError(
            f"registry {client.registry}: {subject} is a {manifest.media_type or 'untyped'}"
            " manifest, not an OCI or Docker v2 image manifest",
            hint="use an image pushed by a current docker/buildkit/OCI tool",
        )
    doc = manifest.json()
    config_desc = doc.get("config") or {}
    config = Blob(
        str(config_desc.get("mediaType") or OCI_CONFIG),
        client.get_blob(repository, str(config_desc.get("digest"))),
    )
    config_doc = _json_object(config.data)
    diff_ids = (config_doc.get("rootfs") or {}).get("diff_ids") or []
    layer_descs = doc.get("layers") or []
    if len(diff_ids) != len(layer_descs):
        raise errors.RegistryError(
            f"registry {client.registry}: {subject} has {len(layer_descs)} layers but its"
            f" config lists {len(diff_ids)} diff_ids",
            hint="pick another base image; this one is inconsistent",
        )
    layers = tuple(
        Layer(
            Blob(str(desc.get("mediaType")), client.get_blob(repository, str(desc.get("digest")))),
            str(diff_id),
        )
        for desc, diff_id in zip(layer_descs, diff_ids, strict=True)
    )
    found = Platform(
        str(config_doc.get("os") or platform.os),
        str(config_doc.get("architecture") or platform.architecture),
        str(config_doc.get("variant") or ""),
    )
    return Image(Blob(manifest.media_type, manifest.data), config, layers, found)


def push_image(registry: Client | str, repository: str, tag: str, image: Image | ImageIndex) -> str:
    """Push an image or index with everything it references, tag it, return its digest.

    Order matters: blobs, then per-platform manifests (by digest), then the tag, because
    a registry refuses manifests whose references are missing.

    Args:
        registry: A :class:`Client`, or ``host:port`` (plain HTTP if loopback, anonymous).
        repository: Target repository.
        tag: Tag to point at the pushed manifest (re-pushing moves it).
        image: What :func:`build_image`, :func:`build_index` or :func:`derive_image` made.
    """
    client = registry if isinstance(registry, Client) else Client(registry)
    children = image.images if isinstance(image, ImageIndex) else (image,)
    pushed: set[str] = set()
    for child in children:
        for blob in (child.config, *(layer.blob for layer in child.layers)):
            if blob.digest not in pushed:
                client.push_blob(repository, blob.data)
                pushed.add(blob.digest)
        if isinstance(image, ImageIndex):
            client.push_manifest(
                repository, child.digest, child.manifest.data, child.manifest.media_type
            )
    return client.push_manifest(repository, tag, image.manifest.data, image.manifest.media_type)


# --------------------------------------------------------------------------- resolver


class ResolutionStatus(enum.StrEnum):
    """How a tag lookup ended; everything but ``resolved`` is a gap to record."""

    RESOLVED = "resolved"
    NOT_FOUND = "not-found"
    UNAUTHORIZED = "unauthorized"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one ``registry/repository:reference``."""

    registry: str
    repository: str
    reference: str
    status: ResolutionStatus
    digest: str | None = None
    media_type: str | None = None
    message: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        """Whether a digest was found."""
        return self.status is ResolutionStatus.RESOLVED

    @property
    def is_index(self) -> bool:
        """Whether the tag names a multi-arch index (compare with index digests only)."""
        return self.media_type in INDEX_MEDIA_TYPES


_Key = tuple[str, str, str]


class Resolver:
    """Per-run, thread-safe tag → digest cache that resolves many references concurrently.

    Each distinct ``(registry, repository, reference)`` is looked up once (concurrent
    callers wait for the same lookup). Failures become :class:`Resolution` values, never
    exceptions; a registry found unreachable is not contacted again during the run. A
    digest reference names itself and is returned without a request.
    """

    def __init__(
        self,
        *,
        docker_config: DockerConfig | None = None,
        insecure_hosts: Iterable[str] = (),
        timeout: float = 10.0,
        max_workers: int = 8,
        client_factory: Callable[[str], Client] | None = None,
    ) -> None:
        """Configure the resolver (no network yet).

        Args:
            docker_config: Credentials (anonymous when ``None``).
            insecure_hosts: Hosts reached over plain HTTP besides loopback ones.
            timeout: Seconds per request.
            max_workers: Threads for :meth:`resolve_all`.
            client_factory: Builds a :class:`Client` per registry (tests, custom TLS).
        """
        hosts = tuple(insecure_hosts)
        self._factory = client_factory or (
            lambda registry: client_for(
                registry, docker_config=docker_config, insecure_hosts=hosts, timeout=timeout
            )
        )
        self._max_workers = max(1, max_workers)
        self._lock = threading.Lock()
        self._results: dict[_Key, concurrent.futures.Future[Resolution]] = {}
        self._clients: dict[str, Client] = {}
        self._down: dict[str, Resolution] = {}
        self.lookups = 0
        """How many lookups went to a registry (not answered from the cache)."""

    def resolve(self, registry: str, repository: str, reference: str) -> Resolution:
        """Resolve one reference, from the cache when it was asked before."""
        key = (registry, repository, reference)
        with self._lock:
            future = self._results.get(key)
            owner = future is None
            if future is None:
                future = concurrent.futures.Future()
                self._results[key] = future
        if owner:
            try:
                future.set_result(self._lookup(registry, repository, reference))
            except BaseException as exc:  # a bug, not a registry answer: let waiters see it
                future.set_exception(exc)
                raise
        return future.result()

    def resolve_all(self, references: Iterable[_Key]) -> dict[_Key, Resolution]:
        """Resolve ``(registry, repository, reference)`` triples concurrently.

        Returns:
            One :class:`Resolution` per distinct triple, in first-seen order.
        """
        keys = list(dict.fromkeys(references))
        if not keys:
            return {}
        workers = min(self._max_workers, len(keys))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="registry-resolve"
        ) as pool:
            results = list(pool.map(lambda key: self.resolve(*key), keys))
        return dict(zip(keys, results, strict=True))

    def client(self, registry: str) -> Client:
        """The shared :class:`Client` for ``registry`` (one per run, keeps its tokens)."""
        with self._lock:
            found = self._clients.get(registry)
            if found is None:
                found = self._factory(registry)
                self._clients[registry] = found
            return found

    def _lookup(self, registry: str, repository: str, reference: str) -> Resolution:
        def gap(status: ResolutionStatus, exc: errors.DriftscanError) -> Resolution:
            return Resolution(
                registry,
                repository,
                reference,
                status,
                message=exc.message,
                hint=exc.hint or "",
            )

        if is_digest(reference):
            return Resolution(registry, repository, reference, ResolutionStatus.RESOLVED, reference)
        with self._lock:
            down = self._down.get(registry)
        if down is not None:
            message = (
                f"registry {registry}: {_subject(repository, reference)} not looked up because"
                f" the registry was unreachable earlier in this run ({down.message})"
            )
            return Resolution(
                registry, repository, reference, down.status, message=message, hint=down.hint
            )
        try:
            client = self.client(registry)
            with self._lock:
                self.lookups += 1
            info = client.head_manifest(repository, reference)
        except NotFound as exc:
            return gap(ResolutionStatus.NOT_FOUND, exc)
        except Unauthorized as exc:
            return gap(ResolutionStatus.UNAUTHORIZED, exc)
        except Unreachable as exc:
            result = gap(ResolutionStatus.UNREACHABLE, exc)
            with self._lock:
                self._down.setdefault(registry, result)
            return result
        except errors.DriftscanError as exc:
            return gap(ResolutionStatus.FAILED, exc)
        return Resolution(
            registry,
            repository,
            reference,
            ResolutionStatus.RESOLVED,
            digest=info.digest,
            media_type=info.media_type,
        )
