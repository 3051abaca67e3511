"""Image references and kubelet ``imageID`` values, parsed the way the container runtime does.

Detectors, the graph and the report call :func:`parse` on spec images (``nginx``,
``registry:5000/team/app:1.2@sha256:…``) and :func:`parse_image_id` on
``status.containerStatuses[].imageID``. The reference grammar follows
distribution/reference: the first path component is a registry only when it contains a
``.`` or ``:``, is ``localhost``, or has an upper-case letter; otherwise the image lives on
``docker.io`` and a single-component path gains ``library/``. A reference with neither
tag nor digest means tag ``latest``.

An ``imageID`` is comparable across pods only when it names a registry digest
(``repo@sha256:…``, with or without ``docker-pullable://``). A bare ``sha256:…`` (or
``docker://sha256:…``, or a 64-hex CRI-O image id) is the image's *config* digest: two of
them can be told apart, but never compared with a registry digest, so callers must not
guess.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from scanner import errors, initializers

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "ImageID",
    "ImageIDKind",
    "ImageRef",
    "default_pull_policy",
    "parse",
    "parse_image_id",
    "short_digest",
    "try_parse",
]

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = frozenset({"index.docker.io", "registry-1.docker.io"})
_MAX_NAME_LENGTH = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_SHA256_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class ImageRef:
    """One parsed image reference, normalised (``docker.io/library/…``)."""

    registry: str
    """Registry host with optional port, e.g. ``docker.io`` or ``localhost:5000``."""
    repository: str
    """Path inside the registry, e.g. ``library/nginx`` or ``team/app``."""
    tag: str | None
    """The tag as written, or None when the reference has no tag."""
    digest: str | None
    """``algorithm:hex`` when the reference is pinned, else None."""

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/nginx``."""
        return f"{self.registry}/{self.repository}"

    @property
    def effective_tag(self) -> str | None:
        """The tag the runtime resolves: as written, ``latest`` if no tag and no digest."""
        if self.tag is not None:
            return self.tag
        return None if self.digest else DEFAULT_TAG

    @property
    def is_pinned(self) -> bool:
        """True when the reference names one build (it carries a digest)."""
        return self.digest is not None

    @property
    def is_floating(self) -> bool:
        """True when unpinned and the tag is ``latest`` or absent."""
        return self.digest is None and (self.tag is None or self.tag == DEFAULT_TAG)

    def canonical(self) -> str:
        """Full form: ``registry/repository[:tag][@digest]``."""
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def same_repository(self, other: ImageRef) -> bool:
        """True when both references name the same registry repository."""
        return self.name == other.name


def short_digest(digest: str) -> str:
    """``sha256:0123456789ab`` — enough to tell builds apart in a message or a picture."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest[:19]


def default_pull_policy(ref: ImageRef) -> str:
    """The ``imagePullPolicy`` the apiserver stores when a container names none.

    ``Always`` for ``:latest`` or no tag, ``IfNotPresent`` otherwise (digests included).
    """
    return "Always" if ref.is_floating else "IfNotPresent"


def parse(reference: str) -> ImageRef:
    """Parse an image reference as the container runtime does.

    Args:
        reference: e.g. ``nginx``, ``ghcr.io/org/app:1.0``, ``app@sha256:…``.

    Returns:
        The normalised reference.

    Raises:
        errors.InputError: the text is not a valid image reference.
    """
    ref = try_parse(reference)
    if ref is None:
        raise errors.InputError(
            f"{reference!r} is not a valid image reference",
            hint="write [registry[:port]/]path[:tag][@sha256:<64 hex>]",
        )
    return ref


@functools.lru_cache(maxsize=8192)
def try_parse(reference: str) -> ImageRef | None:
    """Like :func:`parse` but returns None for an invalid reference (cached: pure)."""
    if not reference or reference != reference.strip():
        return None
    remainder, digest = _split_digest(reference)
    if digest is not None and not _valid_digest(digest):
        return None
    name, tag = _split_tag(remainder)
    if tag is not None and not _TAG_RE.match(tag):
        return None
    if len(name) > _MAX_NAME_LENGTH:
        return None
    registry, repository = _split_registry(name)
    if registry is None:
        registry = DEFAULT_REGISTRY
    elif not _DOMAIN_RE.match(registry):
        return None
    if registry in _LEGACY_REGISTRIES:
        registry = DEFAULT_REGISTRY
    if not _PATH_RE.match(repository):
        return None
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_digest(reference: str) -> tuple[str, str | None]:
    at = reference.find("@")
    if at < 0:
        return reference, None
    return reference[:at], reference[at + 1 :]


def _split_tag(name_and_tag: str) -> tuple[str, str | None]:
    # A ':' after the last '/' starts the tag; one before it is a registry port.
    colon = name_and_tag.rfind(":")
    if colon > name_and_tag.rfind("/"):
        return name_and_tag[:colon], name_and_tag[colon + 1 :]
    return name_and_tag, None


def _split_registry(name: str) -> tuple[str | None, str]:
    slash = name.find("/")
    if slash < 0:
        return None, name
    first = name[:slash]
    if "." in first or ":" in first or first == "localhost" or first.lower() != first:
        return first, name[slash + 1 :]
    return None, name


def _valid_digest(digest: str) -> bool:
    if not _DIGEST_RE.match(digest):
        return False
    return not digest.startswith("sha256:") or bool(_SHA256_RE.match(digest))


class ImageIDKind(enum.Enum):
    """What an ``imageID`` value names."""

    REPO_DIGEST = "repo-digest"
    """``repo@sha256:…``: the registry digest the tag resolved to; comparable."""
    CONFIG_ID = "config-id"
    """``sha256:…`` only: the image's config digest; not comparable to registry digests."""
    EMPTY = "empty"
    """No value yet: the container is waiting (pulling, or the pull failed)."""
    UNKNOWN = "unknown"
    """A form driftscan does not recognise; never compared."""


_PULLABLE_PREFIX = "docker-pullable://"
_DOCKER_PREFIX = "docker://"


@initializers.fast_init
@dataclass(frozen=True, slots=True)
class ImageID:
    """A parsed ``status.containerStatuses[].imageID``."""

    raw: str
    kind: ImageIDKind
    digest: str | None
    """``sha256:…`` for repo digests and config ids; None otherwise."""
    repository: str | None
    """Normalised repository name for repo digests (``docker.io/library/nginx``)."""

    @property
    def comparable(self) -> bool:
        """True when the value is a registry digest that can be compared across pods."""
        return self.kind is ImageIDKind.REPO_DIGEST

    @property
    def key(self) -> str:
        """Identity used to group pods: the digest when there is one, else the raw value."""
        return self.digest if self.digest is not None else self.raw


@functools.lru_cache(maxsize=8192)
def parse_image_id(raw: str) -> ImageID:
    """Parse an ``imageID`` as reported by containerd, CRI-O or dockershim (cached: pure).

    Args:
        raw: the ``imageID`` string; may be empty while the image is being pulled.

    Returns:
        The parsed value; never raises.
    """
    value = raw.strip()
    if not value:
        return ImageID(raw=raw, kind=ImageIDKind.EMPTY, digest=None, repository=None)
    if value.startswith(_PULLABLE_PREFIX):
        value = value[len(_PULLABLE_PREFIX) :]
    elif value.startswith(_DOCKER_PREFIX):
        value = value[len(_DOCKER_PREFIX) :]
    if _SHA256_RE.match(value):
        return ImageID(raw=raw, kind=ImageIDKind.CONFIG_ID, digest=value, repository=None)
    if _HEX64_RE.match(value):
        # CRI-O before 1.23 reported the bare image (config) id.
        return ImageID(
            raw=raw, kind=ImageIDKind.CONFIG_ID, digest=f"sha256:{value}", repository=None
        )
    if "@" in value:
        name_part, _, digest = value.partition("@")
        if _SHA256_RE.match(digest) and _valid_digest(digest):
            repository = _repository_before_digest(name_part)
            if repository is not None:
                return ImageID(
                    raw=raw, kind=ImageIDKind.REPO_DIGEST, digest=digest, repository=repository
                )
    return ImageID(raw=raw, kind=ImageIDKind.UNKNOWN, digest=None, repository=None)


@functools.lru_cache(maxsize=4096)
def _repository_before_digest(name_part: str) -> str | None:
    """The repository :func:`try_parse` names for ``name_part@<a valid sha256 digest>``.

    What it says depends on the text before ``@`` only; the pods of a fleet report many
    digests of few repositories, so this is worked out once per repository.
    """
    ref = try_parse(f"{name_part}@sha256:{'0' * 64}")
    return ref.name if ref is not None else None

