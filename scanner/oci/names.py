"""OCI names: media types, digests, registry/repository/reference checks.

Pure functions and constants shared by the rest of :mod:`scanner.oci`; no I/O. Names are
plain strings (``host:port``, repository, tag or digest); this package does not depend
on ``images.py``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import urllib.parse

from scanner import errors

__all__ = [
    "is_content_digest",
    "matches",
    "DOCKER_HUB_ALIASES",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "IMAGE_MANIFEST_TYPES",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_MANIFEST",
    "check_reference",
    "check_registry",
    "check_repository",
    "digest_of",
    "hostname",
    "is_digest",
    "is_loopback",
    "is_tag",
    "registry_key",
    "subject",
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
"""Multi-arch manifests: an OCI image index or a Docker manifest list."""
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
"""Single-platform image manifests."""

DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
"""Host names that all mean Docker Hub."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


def digest_of(data: bytes) -> str:
    """The OCI ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


_CONTENT_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def is_content_digest(value: str) -> bool:
    """Whether ``value`` is a digest driftscan can check and compare.

    ``sha256:`` and 64 lowercase hex digits (or ``sha512:`` and 128), exactly what the OCI
    spec registers; anything else a registry sends as ``Docker-Content-Digest`` is refused
    rather than shown or compared.
    """
    return bool(_CONTENT_DIGEST_RE.fullmatch(value))


def matches(digest: str, data: bytes) -> bool:
    """Whether ``data`` hashes to ``digest`` (a :func:`is_content_digest` value)."""
    algorithm, _, expected = digest.partition(":")
    if algorithm not in ("sha256", "sha512"):
        return False
    return hashlib.new(algorithm, data).hexdigest() == expected


def is_digest(reference: str) -> bool:
    """Whether ``reference`` is a digest (``algorithm:hex``) rather than a tag."""
    return bool(_DIGEST_RE.match(reference))


def is_tag(reference: str) -> bool:
    """Whether ``reference`` is a valid tag (up to 128 of ``[A-Za-z0-9_.-]``)."""
    return bool(_TAG_RE.match(reference)) and not is_digest(reference)


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (``host``, ``host:port`` or ``[v6]:port``) is a loopback address."""
    host = hostname(registry)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def hostname(registry: str) -> str:
    """The lowercase host part of ``host[:port]`` (empty when it does not parse)."""
    try:
        return (urllib.parse.urlsplit("//" + registry).hostname or "").lower()
    except ValueError:
        return ""


def registry_key(server: str) -> str:
    """Normalise a config.json key or registry name to ``host[:port]`` (docker.io for Hub)."""
    text = server.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    host = text.split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def check_registry(registry: str) -> None:
    """Raise :class:`errors.InputError` unless ``registry`` is ``host`` or ``host:port``."""
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


def check_repository(registry: str, repository: str) -> None:
    """Raise :class:`errors.InputError` unless ``repository`` is a valid repository name."""
    if not _REPOSITORY_RE.match(repository) or len(repository) > 255:
        raise errors.InputError(
            f"registry {registry}: {repository!r} is not a valid repository name",
            hint="use lowercase path components like 'team/app' (letters, digits, . _ -)",
        )


def check_reference(registry: str, repository: str, reference: str) -> None:
    """Raise :class:`errors.InputError` unless ``reference`` is a tag or a digest."""
    if not (_TAG_RE.match(reference) or is_digest(reference)):
        raise errors.InputError(
            f"registry {registry}: {reference!r} is neither a tag nor a digest"
            f" (repository {repository})",
            hint="a tag is up to 128 of [A-Za-z0-9_.-]; a digest looks like sha256:<64 hex>",
        )


def subject(repository: str, reference: str = "") -> str:
    """``repository:tag`` or ``repository@digest``, as messages name an image."""
    if not reference:
        return repository
    return f"{repository}@{reference}" if is_digest(reference) else f"{repository}:{reference}"
