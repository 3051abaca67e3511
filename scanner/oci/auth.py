"""Registry auth: HTTP basic, or the bearer token flow with a per-scope token cache.

A 401 carries ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``; we GET a token
from the realm (with basic credentials when we have them) and the caller retries once.
Once a registry has asked for bearer tokens, each new scope's token is fetched up front,
skipping the 401 round trip. Tokens are cached per scope until shortly before they
expire; a push token also serves pulls. Thread-safe.
"""

from __future__ import annotations

import threading
import time
import urllib.parse

from scanner import errors
from scanner.oci import credentials as creds
from scanner.oci import failures, headers, names, transport

__all__ = ["Authenticator", "covering_scopes"]


class Authenticator:
    """Answers one registry's auth challenges and caches its tokens; shared by threads."""

    def __init__(self, sender: transport.Transport, credentials: creds.Credentials | None) -> None:
        """Prepare (no network yet).

        Args:
            sender: Where token requests go (redirects and unreachable hosts handled).
            credentials: Basic credentials for the registry and its token service.
        """
        self._transport = sender
        self.registry = sender.registry
        self.credentials = credentials
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._bearer: headers.Challenge | None = None
        self._basic = False

    def authorization(self, scope: str, what: transport.Purpose) -> str | None:
        """The ``Authorization`` value to send for ``scope`` now, or ``None`` (anonymous)."""
        with self._lock:
            now = time.monotonic()
            for key in covering_scopes(scope):
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

    def answer_challenge(
        self, response: transport.Response, scope: str, what: transport.Purpose, *, sent: str | None
    ) -> None:
        """Get ready to answer a 401: learn the auth scheme, fetch a fresh token."""
        challenges = [
            challenge
            for value in response.headers.get_all("WWW-Authenticate") or []
            for challenge in headers.parse_www_authenticate(value)
        ]
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            with self._lock:
                self._bearer = bearer
                if sent and sent.startswith("Bearer "):
                    for key in covering_scopes(scope):
                        self._tokens.pop(key, None)
            self._fetch_token(bearer, scope, what)
        elif any(c.scheme == "basic" for c in challenges) and self.credentials:
            with self._lock:
                self._basic = True

    def _fetch_token(
        self, challenge: headers.Challenge, scope: str, what: transport.Purpose
    ) -> str:
        realm = challenge.params.get("realm", "").strip()
        subject = names.subject(what.repository, what.reference)
        try:
            realm_host = urllib.parse.urlsplit(realm).hostname
        except ValueError:
            realm_host = None
        if not realm.startswith(("http://", "https://")) or not realm_host:
            raise failures.Unauthorized(
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
        request_headers = {"User-Agent": transport.USER_AGENT, "Accept": "application/json"}
        # The realm is named by the registry's answer: the password goes there only over
        # HTTPS (or to loopback, or the registry's own insecure origin), never in clear text
        # to a host the answer picked.
        withheld = bool(self.credentials) and not self._transport.may_carry_credentials(url)
        if self.credentials and not withheld:
            request_headers["Authorization"] = self.credentials.basic_header()
        token_what = transport.Purpose("get a token for", what.repository, what.reference)
        response = self._transport.send("GET", url, request_headers, None, token_what)
        if response.status in (401, 403):
            who = (f"user {self.credentials.username!r}" if self.credentials and not withheld
                   else "anonymous access")
            hint = (f"the token service {realm} is plain HTTP, so driftscan did not send the"
                    " password there; the registry must name an HTTPS realm" if withheld
                    else f"log in with `docker login {self.registry}` or fix the stored"
                    " password")
            raise failures.Unauthorized(
                f"registry {self.registry}: token service {realm} refused {who} for"
                f" {subject} (HTTP {response.status})",
                hint=hint,
            )
        doc = transport.json_object(response.body) if response.status == 200 else {}
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise errors.RegistryError(
                f"registry {self.registry}: token service {realm} gave no token for"
                f" {subject} (HTTP {response.status})",
                hint="retry later; if it persists, the token service is misconfigured",
            )
        try:
            lifetime = float(doc.get("expires_in") or 60)
        except (TypeError, ValueError, OverflowError):
            lifetime = 60.0
        if not 0 < lifetime < 86400:  # NaN, negative or absurd: keep the default
            lifetime = 60.0
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + max(lifetime - 10.0, 1.0))
        return token


def covering_scopes(scope: str) -> tuple[str, ...]:
    """Cached scopes whose token also serves ``scope`` (a push token can pull)."""
    if scope.endswith(":pull"):
        return (scope, scope + ",push")
    return (scope,)
