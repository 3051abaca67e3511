"""The OCI client against hostile registries on loopback: no crash, no leaked password,
no answer that outlives its deadline or its size cap, no digest that is not one.

Each test scripts a real HTTP(S) server (``tests.unit.fake_registry``) and checks what the
client did: the error it raised, and the ``Authorization`` headers each server saw.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
from pathlib import Path

import pytest

from scanner import errors
from scanner.clusters import pki
from scanner.oci import auth, client, credentials, failures, names, resolver, transport
from tests.unit.fake_registry import Answer, FakeRegistry, serve

USER = credentials.Credentials("ci", "s3cret-password")
BASIC = USER.basic_header()
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": names.OCI_MANIFEST,
                       "config": {}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
OCI = (("Content-Type", names.OCI_MANIFEST),)


def host(registry: FakeRegistry) -> str:
    return registry.url.split("://", 1)[1]


def plain_client(registry: FakeRegistry, *, timeout: float = 5.0,
                 creds: credentials.Credentials | None = USER) -> client.Client:
    return client.Client(host(registry), insecure=True, credentials=creds, timeout=timeout)


# --- the credential rules (pure) -------------------------------------------------------------


@pytest.mark.parametrize(("url", "insecure", "allowed"), [
    ("https://registry.example/v2/", None, True),
    ("http://registry.example/v2/", None, False),
    ("http://127.0.0.1:5000/v2/", None, True),
    ("http://localhost:5000/token", None, True),
    ("http://[::1]:5000/token", None, True),
    ("http://registry.example/v2/", ("http", "registry.example"), True),
    ("http://other.example/token", ("http", "registry.example"), False),
    ("ftp://registry.example/", None, False),
    ("http://[bad/", None, False),
])
def test_who_may_receive_credentials(url: str, insecure: tuple[str, str] | None,
                                     allowed: bool) -> None:
    assert transport.may_carry_credentials(url, insecure_origin=insecure) is allowed


class _Recorder(transport.Transport):
    """A transport that answers token requests itself and records their headers."""

    def __init__(self, base_url: str) -> None:
        super().__init__("registry.example", base_url, timeout=5)
        self.sent: list[tuple[str, dict[str, str]]] = []

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             what: transport.Purpose, *, max_body: int = transport.MAX_MANIFEST_BYTES,
             ) -> transport.Response:
        import email.message

        self.sent.append((url, dict(headers)))
        return transport.Response(200, "OK", email.message.Message(),  # type: ignore[arg-type]
                                  b'{"token": "t"}', url)


@pytest.mark.parametrize(("realm", "gets_password"), [
    ("https://auth.example/token", True),
    ("http://auth.example/token", False),   # clear text to another host: never
    ("http://registry.example/token", False),  # clear text, even to the registry's host
    ("http://127.0.0.1:9/token", True),     # loopback test registries
])
def test_basic_credentials_reach_a_token_realm_only_over_https_or_loopback(
        realm: str, gets_password: bool) -> None:
    from scanner.oci import headers

    sender = _Recorder("https://registry.example")
    authenticator = auth.Authenticator(sender, USER)
    (challenge,) = headers.parse_www_authenticate(f'Bearer realm="{realm}",service="r"')
    what = transport.Purpose("resolve", "app", "1")
    assert authenticator._fetch_token(challenge, "repository:app:pull", what) == "t"
    ((url, sent),) = sender.sent
    assert url.startswith(realm)
    assert (sent.get("Authorization") == BASIC) is gets_password
    assert "Authorization" not in sent or gets_password


def test_a_plain_http_realm_that_refuses_anonymous_access_says_why() -> None:
    from scanner.oci import headers

    class Refusing(_Recorder):
        def send(self, *args: object, **kwargs: object) -> transport.Response:
            import email.message
            return transport.Response(401, "Unauthorized", email.message.Message(),  # type: ignore[arg-type]
                                      b"", "")

    authenticator = auth.Authenticator(Refusing("https://registry.example"), USER)
    (challenge,) = headers.parse_www_authenticate('Bearer realm="http://auth.example/t"')
    with pytest.raises(failures.Unauthorized) as info:
        authenticator._fetch_token(challenge, "repository:app:pull",
                                   transport.Purpose("resolve", "app", "1"))
    assert "anonymous access" in info.value.message
    assert "plain HTTP" in (info.value.hint or "")


# --- redirects over real sockets -------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    pki.ensure(folder)
    return folder


def test_a_redirect_from_https_to_http_drops_the_password(tls: Path) -> None:
    with serve(FakeRegistry(), tls=tls) as registry:
        plain = registry.url.replace("https://", "http://")
        registry.routes["/v2/app/manifests/1"] = Answer(
            307, (("Location", f"{plain}/v2/app/manifests/again"),))
        registry.routes["/v2/app/manifests/again"] = Answer(200, OCI, MANIFEST)
        c = client.Client(host(registry), insecure=False, credentials=USER, timeout=5)
        c._transport._ssl = ssl.create_default_context(cafile=str(tls / "ca.crt"))
        c._auth._basic = True  # the registry asked for basic auth earlier
        assert c.get_manifest("app", "1").digest == DIGEST
    # Same host and port, only the scheme changed: the password must not follow.
    assert registry.authorizations("https") == [BASIC]
    assert registry.authorizations("http") == [None]


def test_a_redirect_to_another_host_drops_the_password() -> None:
    with serve(FakeRegistry()) as other, serve(FakeRegistry()) as registry:
        other.routes["/blob"] = Answer(200, OCI, MANIFEST)
        registry.routes["/v2/app/manifests/1"] = Answer(302, (("Location",
                                                              f"{other.url}/blob"),))
        c = plain_client(registry)
        c._auth._basic = True
        c.get_manifest("app", "1")
    assert registry.authorizations() == [BASIC] and other.authorizations() == [None]


def test_credentials_are_never_sent_in_clear_text_to_a_remote_host() -> None:
    t = transport.Transport("registry.example", "https://registry.example", timeout=1)
    assert not t.may_carry_credentials("http://registry.example/v2/")
    assert not t.may_carry_credentials("http://mirror.example/v2/")
    insecure = transport.Transport("registry.example", "http://registry.example", timeout=1)
    assert insecure.may_carry_credentials("http://registry.example/v2/")
    assert not insecure.may_carry_credentials("http://mirror.example/v2/")


@pytest.mark.parametrize("location", ["http://[::1", "http://host:port/x", "file:///etc/passwd"])
def test_a_malformed_redirect_is_one_registry_error(location: str) -> None:
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(302, (("Location", location),))
        with pytest.raises(errors.RegistryError) as info:
            plain_client(registry).get_manifest("app", "1")
    assert "\n" not in info.value.message


# --- answers that are not what they claim -----------------------------------------------------


def test_content_length_that_is_not_a_number() -> None:
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(
            200, (*OCI, ("Docker-Content-Digest", DIGEST)), MANIFEST, length="abc")
        # HEAD: the size is unknown, so the manifest is fetched; its GET refuses the header.
        with pytest.raises(errors.RegistryError, match="invalid Content-Length"):
            plain_client(registry).head_manifest("app", "1")


def test_an_index_body_that_is_not_json() -> None:
    body = b"<html>proxy error</html>"
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(200, (("Content-Type", names.OCI_INDEX),),
                                                        body)
        with pytest.raises(errors.RegistryError, match="not a JSON object"):
            plain_client(registry).get_manifest("app", "1")


@pytest.mark.parametrize("claimed", ["<script>alert(1)</script>", "sha256:abc",
                                     "sha256:" + "G" * 64, "md5:" + "a" * 32])
def test_an_invalid_digest_header_is_refused(claimed: str) -> None:
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(
            200, (*OCI, ("Docker-Content-Digest", claimed)), MANIFEST)
        c = plain_client(registry)
        with pytest.raises(errors.RegistryError, match="invalid Docker-Content-Digest"):
            c.head_manifest("app", "1")
        with pytest.raises(errors.RegistryError, match="invalid Docker-Content-Digest"):
            c.get_manifest("app", "1")
        found = resolver.Resolver(client_factory=lambda _: c).resolve(host(registry), "app", "1")
    assert not found.ok and found.digest is None and "<script>" not in (found.digest or "")


def test_a_digest_that_does_not_match_the_body_is_refused() -> None:
    other = "sha256:" + "0" * 64
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(
            200, (*OCI, ("Docker-Content-Digest", other)), MANIFEST)
        with pytest.raises(errors.RegistryError, match="but the registry named"):
            plain_client(registry).get_manifest("app", "1")


# --- deadline and size cap -----------------------------------------------------------------


def test_a_trickling_registry_is_cut_off_at_the_deadline() -> None:
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(200, OCI, MANIFEST, trickle=0.3)
        started = time.monotonic()
        with pytest.raises(failures.Unreachable):
            plain_client(registry, timeout=1.5).get_manifest("app", "1")
        assert time.monotonic() - started < 4.0  # 1.5 s deadline, slack for load


def test_a_huge_announced_body_is_refused_before_reading() -> None:
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(200, OCI, b"{}",
                                                        length=str(300 * 2**20))
        started = time.monotonic()
        with pytest.raises(errors.RegistryError, match="larger than 4 MiB"):
            plain_client(registry).get_manifest("app", "1")
        assert time.monotonic() - started < 3.0  # refused before reading 300 MB


def test_a_body_that_grows_past_the_cap_is_cut_off() -> None:
    big = b"{" + b" " * (5 * 2**20) + b"}"
    with serve(FakeRegistry()) as registry:
        registry.routes["/v2/app/manifests/1"] = Answer(200, OCI, big, length="-")
        with pytest.raises(errors.RegistryError, match="larger than 4 MiB"):
            plain_client(registry).get_manifest("app", "1")
