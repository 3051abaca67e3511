"""The OCI distribution API of one registry: manifests, blobs, tags, pushes.

Protocol facts it relies on (OCI distribution spec v1.1, Docker registry v2 auth):

* ``HEAD /v2/<name>/manifests/<reference>`` answers with ``Docker-Content-Digest``, the
  digest of the stored bytes. We always accept OCI index and Docker manifest list, so a
  multi-arch tag resolves to its *index* digest, which is what containerd reports in
  ``imageID`` — never a per-platform manifest digest.
* Blobs upload monolithically: ``POST /v2/<name>/blobs/uploads/`` then ``PUT
  <Location>&digest=…``; a ``HEAD`` on the blob first skips what the registry holds.
* Tags page with ``n``/``last`` and a ``Link: <…>; rel="next"`` header.
* Loopback registries speak plain HTTP unless told otherwise; everything else HTTPS.

Auth lives in :mod:`scanner.oci.auth`, the HTTP exchange in :mod:`scanner.oci.transport`.
Every failure is an :class:`errors.RegistryError` (or one of :mod:`scanner.oci.failures`)
whose message names the registry, repository and reference, with a hint saying what to do.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from scanner import errors
from scanner.oci import auth, failures, headers, names, transport
from scanner.oci import credentials as creds

__all__ = ["MAX_TAG_PAGES", "Client", "Manifest", "ManifestInfo", "client_for"]

MAX_TAG_PAGES = 10_000
"""Tag list pages followed at most (a registry that loops its ``Link`` stops here)."""


@dataclass(frozen=True)
class ManifestInfo:
    """What a manifest ``HEAD`` says: digest, media type and size in bytes."""

    digest: str
    media_type: str
    size: int

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI index or Docker manifest list (multi-arch)."""
        return self.media_type in names.INDEX_MEDIA_TYPES


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes as stored, with its media type and digest."""

    media_type: str
    data: bytes = field(repr=False)
    digest: str

    def json(self) -> dict[str, Any]:
        """The manifest document (``{}`` if it is not a JSON object)."""
        return transport.json_object(self.data)

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI index or Docker manifest list (multi-arch)."""
        return self.media_type in names.INDEX_MEDIA_TYPES


class Client:
    """One registry's OCI distribution API; safe to share between threads.

    Each request opens its own connection (:class:`transport.Transport`), so threads never
    share a socket; the token cache (:class:`auth.Authenticator`) is guarded by a lock.
    """

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool | None = None,
        credentials: creds.Credentials | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Prepare a client (no network yet).

        Args:
            registry: ``host`` or ``host:port`` as users write it; ``docker.io`` is
                reached at ``registry-1.docker.io``.
            insecure: ``True`` for plain HTTP, ``False`` for HTTPS; ``None`` picks plain
                HTTP for loopback hosts and HTTPS otherwise.
            credentials: Basic credentials for the registry and its token service.
            timeout: Seconds one request may take in all: connecting, redirects and the
                whole body.
        """
        names.check_registry(registry)
        self.registry = registry
        self.insecure = names.is_loopback(registry) if insecure is None else insecure
        self.credentials = credentials
        self.timeout = timeout
        hub = names.registry_key(registry) == "docker.io"
        api_host = "registry-1.docker.io" if hub else registry
        self.base_url = f"{'http' if self.insecure else 'https'}://{api_host}"
        self._transport = transport.Transport(registry, self.base_url, timeout=timeout)
        self._auth = auth.Authenticator(self._transport, credentials)

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # ------------------------------------------------------------- public API

    def ping(self) -> None:
        """Check that ``/v2/`` answers (authenticating if asked); raise otherwise."""
        what = transport.Purpose(
            "reach the API of", "(any)", missing_hint="is this an OCI registry?"
        )
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
        what = transport.Purpose("resolve", repository, reference)
        response = self._call(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            what,
            request_headers={"Accept": ", ".join(names.MANIFEST_MEDIA_TYPES)},
        )
        if response.status == 405:
            manifest = self.get_manifest(repository, reference)
            return ManifestInfo(manifest.digest, manifest.media_type, len(manifest.data))
        if response.status != 200:
            self._fail(response, what)
        digest = (response.header("Docker-Content-Digest") or "").strip()
        media_type = headers.media_type(response.header("Content-Type"))
        if digest and not names.is_content_digest(digest):
            raise self._bad_digest(what, digest)
        size = transport.content_length(response.header("Content-Length"))
        if not digest or media_type not in names.MANIFEST_MEDIA_TYPES or size is None:
            manifest = self.get_manifest(repository, reference)
            return ManifestInfo(manifest.digest, manifest.media_type, len(manifest.data))
        return ManifestInfo(digest, media_type, size)

    def resolve(self, repository: str, reference: str) -> str:
        """The digest a tag (or digest) names now; see :meth:`head_manifest`."""
        return self.head_manifest(repository, reference).digest

    def manifest_exists(self, repository: str, reference: str) -> bool:
        """Whether a manifest exists under a tag or digest (``False`` on 404 only)."""
        try:
            self.head_manifest(repository, reference)
        except failures.NotFound:
            return False
        return True

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """A manifest's exact bytes and media type; the digest is checked against them.

        Raises:
            NotFound: No such repository or reference.
            errors.RegistryError: The bytes do not match the digest the registry named.
        """
        self._check(repository, reference)
        what = transport.Purpose("fetch manifest", repository, reference)
        response = self._call(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            what,
            request_headers={"Accept": ", ".join(names.MANIFEST_MEDIA_TYPES)},
        )
        if response.status != 200:
            self._fail(response, what)
        digest = names.digest_of(response.body)
        claimed = (response.header("Docker-Content-Digest") or "").strip()
        if claimed and not names.is_content_digest(claimed):
            raise self._bad_digest(what, claimed)
        for expected in (reference if names.is_digest(reference) else "", claimed):
            if expected and not names.matches(expected, response.body):
                raise errors.RegistryError(
                    f"registry {self.registry}: manifest {names.subject(repository, reference)}"
                    f" has digest {digest} but the registry named {expected}",
                    hint="the registry or a proxy altered the manifest; report it to its"
                    " operator",
                )
        doc = transport.json_object(response.body)
        if not doc:
            raise errors.RegistryError(
                f"registry {self.registry}: manifest {names.subject(repository, reference)}"
                " is not a JSON object",
                hint="the registry or a proxy in front of it sent something else; check"
                " what serves this registry",
            )
        media_type = headers.media_type(response.header("Content-Type"))
        if media_type not in names.MANIFEST_MEDIA_TYPES:
            found = doc.get("mediaType")
            media_type = found if isinstance(found, str) else media_type
        return Manifest(media_type, response.body, digest)

    def _bad_digest(self, what: transport.Purpose, value: str) -> errors.RegistryError:
        shown = value if len(value) <= 80 else value[:77] + "..."
        return errors.RegistryError(
            f"registry {self.registry}: {what.action}"
            f" {names.subject(what.repository, what.reference)} answered with an invalid"
            f" Docker-Content-Digest {shown!r}",
            hint="a digest is sha256: and 64 hex digits; the registry or a proxy in front"
            " of it is broken",
        )

    def push_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """``PUT`` manifest bytes under a tag or digest and return their digest.

        Raises:
            errors.InputError: ``reference`` is a digest that does not match ``data``.
            errors.RegistryError: The registry refused the manifest (e.g. a blob or
                child manifest it references was not pushed first).
        """
        self._check(repository, reference)
        digest = names.digest_of(data)
        if names.is_digest(reference) and reference != digest:
            raise errors.InputError(
                f"registry {self.registry}: cannot push manifest {digest} as {reference}"
                f" in {repository}",
                hint="push a manifest by its own digest, or by a tag",
            )
        what = transport.Purpose(
            "push manifest",
            repository,
            reference,
            missing_hint="push the blobs and child manifests it references first",
        )
        response = self._call(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            what,
            request_headers={"Content-Type": media_type},
            body=data,
            push=True,
        )
        if response.status not in (200, 201):
            self._fail(response, what)
        claimed = response.header("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise errors.RegistryError(
                f"registry {self.registry}: stored {names.subject(repository, reference)} as"
                f" {claimed}, but the pushed bytes hash to {digest}",
                hint="the registry rewrote the manifest; push a canonical OCI manifest",
            )
        return digest

    def tag(self, repository: str, source: str, new_tag: str) -> str:
        """Point ``new_tag`` at the manifest ``source`` names (the re-tag); return its digest.

        The manifest's bytes are fetched and pushed unchanged, so the digest is kept.
        """
        if not names.is_tag(new_tag):
            raise errors.InputError(
                f"registry {self.registry}: {new_tag!r} is not a tag (repository {repository})",
                hint="a tag is up to 128 of [A-Za-z0-9_.-] and starts with a letter or digit",
            )
        manifest = self.get_manifest(repository, source)
        return self.push_manifest(repository, new_tag, manifest.data, manifest.media_type)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (the registry must allow deletes)."""
        self._check(repository, digest)
        what = transport.Purpose(
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
        what = transport.Purpose(
            "list tags of", repository, missing_hint="the repository has no pushed manifests"
        )
        query = {k: v for k, v in (("n", page_size), ("last", last)) if v is not None}
        url: str | None = f"/v2/{repository}/tags/list"
        if query:
            url = f"{url}?{urllib.parse.urlencode(query)}"
        tags: list[str] = []
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_TAG_PAGES:
            seen.add(url)
            response = self._call("GET", url, what)
            if response.status != 200:
                self._fail(response, what)
            page = transport.json_object(response.body).get("tags")
            if isinstance(page, list):
                tags.extend(tag for tag in page if isinstance(tag, str))
            following = headers.next_link(response.header("Link"))
            try:
                url = urllib.parse.urljoin(response.url, following) if following else None
            except ValueError:
                url = None  # a Link that is not a URL ends the listing
        return tags

    def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository holds a blob (``HEAD``)."""
        self._check(repository, digest)
        what = transport.Purpose("check blob", repository, digest)
        response = self._call("HEAD", f"/v2/{repository}/blobs/{digest}", what)
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        self._fail(response, what)

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes (redirects followed), checked against its digest."""
        self._check(repository, digest)
        what = transport.Purpose("fetch blob", repository, digest)
        response = self._call("GET", f"/v2/{repository}/blobs/{digest}", what,
                              max_body=transport.MAX_BLOB_BYTES)
        if response.status != 200:
            self._fail(response, what)
        if digest.startswith("sha256:") and names.digest_of(response.body) != digest:
            raise errors.RegistryError(
                f"registry {self.registry}: blob {names.subject(repository, digest)} arrived"
                f" with digest {names.digest_of(response.body)}",
                hint="the download was corrupted or altered; retry, then report it",
            )
        return response.body

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload a blob unless the repository has it (monolithic ``POST`` + ``PUT``).

        Returns:
            The blob's digest.
        """
        digest = names.digest_of(data)
        if self.blob_exists(repository, digest):
            return digest
        what = transport.Purpose(
            "upload blob to", repository, digest, missing_hint="check the repository"
        )
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
            request_headers={"Content-Type": "application/octet-stream"},
            body=data,
            push=True,
        )
        if finished.status not in (201, 204):
            self._fail(finished, what)
        return digest

    # ------------------------------------------------------------- plumbing

    def _check(self, repository: str, reference: str) -> None:
        names.check_repository(self.registry, repository)
        if reference:
            names.check_reference(self.registry, repository, reference)

    def _call(
        self,
        method: str,
        url: str,
        what: transport.Purpose,
        *,
        request_headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        push: bool = False,
        scope: str | None = None,
        scope_actions: str | None = None,
        max_body: int = transport.MAX_MANIFEST_BYTES,
    ) -> transport.Response:
        """Send one request, answering one auth challenge; return any HTTP answer."""
        if scope is None:
            actions = scope_actions or ("pull,push" if push else "pull")
            scope = f"repository:{what.repository}:{actions}"
        target = urllib.parse.urljoin(self.base_url + "/", url)
        send_headers = {"User-Agent": transport.USER_AGENT, **(request_headers or {})}
        authorization = self._auth.authorization(scope, what)
        if authorization:
            send_headers["Authorization"] = authorization
        response = self._transport.send(method, target, send_headers, body, what,
                                        max_body=max_body)
        if response.status == 401:
            self._auth.answer_challenge(response, scope, what, sent=authorization)
            retry = self._auth.authorization(scope, what)
            # Retry once, and only with credentials we have not just seen refused.
            if retry and retry != authorization:
                send_headers["Authorization"] = retry
                response = self._transport.send(method, target, send_headers, body, what,
                                                max_body=max_body)
        return response

    def _fail(self, response: transport.Response, what: transport.Purpose) -> NoReturn:
        subject = names.subject(what.repository, what.reference)
        detail = f"HTTP {response.status} {response.reason}".rstrip()
        codes = response.registry_errors()
        if codes:
            detail += f" ({codes})"
        message = f"registry {self.registry}: cannot {what.action} {subject}: {detail}"
        if response.status == 404:
            raise failures.NotFound(message, hint=what.missing_hint)
        if response.status in (401, 403):
            who = f"user {self.credentials.username!r}" if self.credentials else "anonymous access"
            raise failures.Unauthorized(
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


def client_for(
    registry: str,
    *,
    docker_config: creds.DockerConfig | None = None,
    insecure_hosts: Iterable[str] = (),
    timeout: float = 30.0,
) -> Client:
    """A :class:`Client` with credentials from ``docker_config`` and the insecure setting.

    Args:
        registry: ``host[:port]``.
        docker_config: Where credentials come from (anonymous when ``None``).
        insecure_hosts: ``host`` or ``host:port`` entries to reach over plain HTTP;
            loopback hosts are plain HTTP anyway.
        timeout: Seconds one request may take in all (see :class:`Client`).
    """
    hosts = {entry.strip().lower() for entry in insecure_hosts}
    insecure = (
        registry.lower() in hosts
        or names.hostname(registry) in hosts
        or names.is_loopback(registry)
    )
    credentials = docker_config.credentials_for(registry) if docker_config else None
    return Client(registry, insecure=insecure, credentials=credentials, timeout=timeout)
