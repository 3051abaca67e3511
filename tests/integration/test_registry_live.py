"""scanner.oci against real CNCF distribution registries.

Most tests use the session's registry (the ``registry`` fixture). Auth tests start their
own registry processes from the same binary: one with ``htpasswd`` (HTTP basic) and one
with ``token`` auth, whose token service is a small JWT issuer in this file; the
registry verifies its RS256 tokens against the issuer's certificate, so the whole bearer
flow (401 challenge → token request → retry) runs against real registry code.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from scanner import errors
from scanner.oci import client as oci_client
from scanner.oci import credentials, failures, names, synthetic
from scanner.oci import resolver as oci_resolver

pytestmark = pytest.mark.cluster

USER, PASSWORD = "drift", "drift-pass"
# bcrypt (cost 4) of PASSWORD, made once with golang.org/x/crypto/bcrypt: the registry's
# htpasswd support accepts bcrypt only and the standard library cannot produce it.
HTPASSWD = f"{USER}:$2a$04$il7eSxL7TrQHu.TnwX8Xa.wvJK56scNc45FbWlLeBYJvzSi3krOca\n"
SERVICE, ISSUER = "driftscan-test-registry", "driftscan-test-issuer"


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"driftscan-test/{name}-{uuid.uuid4().hex[:8]}"


def _resolver() -> oci_resolver.Resolver:
    return oci_resolver.Resolver(docker_config=credentials.load_docker_config())


def _client(registry: str) -> oci_client.Client:
    """A client with the cluster's registry credentials (``DOCKER_CONFIG``)."""
    return oci_client.client_for(registry, docker_config=credentials.load_docker_config())


@pytest.fixture
def client(registry: str) -> oci_client.Client:
    return _client(registry)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- push, resolve


def test_push_then_resolve_returns_the_manifest_sha256(
    client: oci_client.Client, repo: str
) -> None:
    image = synthetic.build_image("v1")
    pushed = synthetic.push_image(client, repo, "v1", image)
    manifest = client.get_manifest(repo, "v1")
    assert pushed == image.digest == names.digest_of(image.manifest.data)
    assert client.resolve(repo, "v1") == pushed
    assert manifest.data == image.manifest.data
    assert manifest.digest == pushed and manifest.media_type == names.OCI_MANIFEST
    info = client.head_manifest(repo, "v1")
    assert (info.media_type, info.size) == (names.OCI_MANIFEST, len(image.manifest.data))
    assert client.get_blob(repo, image.layers[0].blob.digest) == image.layers[0].blob.data


def test_repush_under_same_tag_moves_the_digest(client: oci_client.Client, repo: str) -> None:
    first = synthetic.push_image(client, repo, "latest", synthetic.build_image("build-1"))
    assert client.resolve(repo, "latest") == first
    second = synthetic.push_image(client, repo, "latest", synthetic.build_image("build-2"))
    assert second != first
    assert client.resolve(repo, "latest") == second
    # The old build stays reachable by digest: pods that pulled it keep naming it.
    assert client.resolve(repo, first) == first
    assert client.manifest_exists(repo, first)


def test_same_label_pushes_to_the_same_digest(client: oci_client.Client, repo: str) -> None:
    assert synthetic.push_image(
        client, repo, "a", synthetic.build_image("same")
    ) == synthetic.push_image(client, repo, "b", synthetic.build_image("same"))


def test_retag_keeps_bytes_and_digest(client: oci_client.Client, repo: str) -> None:
    v1 = synthetic.push_image(client, repo, "v1", synthetic.build_image("v1"))
    synthetic.push_image(client, repo, "stable", synthetic.build_image("v0"))
    assert client.tag(repo, "v1", "stable") == v1
    assert client.resolve(repo, "stable") == v1
    assert client.get_manifest(repo, "stable").data == client.get_manifest(repo, "v1").data


def test_push_blob_skips_existing(client: oci_client.Client, repo: str) -> None:
    data = b"driftscan blob " + uuid.uuid4().bytes
    assert not client.blob_exists(repo, names.digest_of(data))
    assert client.push_blob(repo, data) == names.digest_of(data)
    assert client.blob_exists(repo, names.digest_of(data))
    assert client.push_blob(repo, data) == names.digest_of(data)
    assert client.get_blob(repo, names.digest_of(data)) == data


def test_list_tags_follows_pages(client: oci_client.Client, repo: str) -> None:
    tags = [f"t{i}" for i in range(7)]
    for tag in tags:
        synthetic.push_image(client, repo, tag, synthetic.build_image(tag))
    assert client.list_tags(repo) == tags
    assert client.list_tags(repo, page_size=2) == tags  # four pages joined by Link
    assert client.list_tags(repo, page_size=3, last="t2") == tags[3:]


def test_list_tags_of_missing_repository_is_not_found(client: oci_client.Client, repo: str) -> None:
    with pytest.raises(failures.NotFound) as caught:
        client.list_tags(repo)
    assert client.registry in str(caught.value) and repo in str(caught.value)
    assert "NAME_UNKNOWN" in str(caught.value)


def test_delete_manifest(client: oci_client.Client, repo: str) -> None:
    digest = synthetic.push_image(client, repo, "gone", synthetic.build_image("gone"))
    client.delete_manifest(repo, digest)
    assert not client.manifest_exists(repo, digest)
    assert not client.manifest_exists(repo, "gone")


def test_push_manifest_refuses_missing_blobs(client: oci_client.Client, repo: str) -> None:
    image = synthetic.build_image("orphan")
    with pytest.raises(errors.RegistryError) as caught:
        client.push_manifest(repo, "orphan", image.manifest.data, image.manifest.media_type)
    message = str(caught.value)
    assert client.registry in message and f"{repo}:orphan" in message
    assert "hint:" in message


# --------------------------------------------------------------------------- multi-arch


def test_index_resolves_to_index_digest_not_platform_digest(
    client: oci_client.Client, repo: str
) -> None:
    platforms = [synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64", "v8")]
    index = synthetic.build_index("v1", platforms)
    pushed = synthetic.push_image(client, repo, "multi", index)
    info = client.head_manifest(repo, "multi")
    assert pushed == index.digest == info.digest
    assert info.is_index and info.media_type == names.OCI_INDEX
    assert info.digest not in {image.digest for image in index.images}
    for image in index.images:
        assert client.resolve(repo, image.digest) == image.digest
    arm = synthetic.fetch_image(
        client, repo, "multi", platform=synthetic.Platform("linux", "arm64")
    )
    assert arm.digest == index.images[1].digest
    assert arm.platform == synthetic.Platform("linux", "arm64", "v8")
    with pytest.raises(failures.NotFound, match="linux/s390x"):
        synthetic.fetch_image(client, repo, "multi", platform=synthetic.Platform("linux", "s390x"))


def test_resolver_reports_index_media_type(registry: str, repo: str) -> None:
    index = synthetic.build_index(
        "v1", [synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64")]
    )
    synthetic.push_image(registry, repo, "multi", index)
    result = _resolver().resolve(registry, repo, "multi")
    assert result.ok and result.is_index and result.digest == index.digest


# --------------------------------------------------------------------------- derive


def test_fetch_and_derive_a_runnable_base(client: oci_client.Client, repo: str) -> None:
    base = synthetic.build_image("base-os", base_layers=[synthetic.marker_layer("rootfs")])
    synthetic.push_image(client, repo, "base", base)
    fetched = synthetic.fetch_image(client, repo, "base")
    assert fetched.digest == base.digest and fetched.layers == base.layers
    derived = synthetic.derive_image(fetched, "v2")
    digest = synthetic.push_image(client, f"{repo}-app", "v2", derived)
    assert _client(client.registry).resolve(f"{repo}-app", "v2") == digest
    roundtrip = synthetic.fetch_image(client, f"{repo}-app", "v2")
    assert [layer.blob.digest for layer in roundtrip.layers] == [
        *(layer.blob.digest for layer in base.layers),
        synthetic.marker_layer("v2").blob.digest,
    ]
    config = json.loads(roundtrip.config.data)
    assert config["config"]["Labels"][synthetic.BUILD_LABEL_KEY] == "v2"
    assert len(config["rootfs"]["diff_ids"]) == 3


# --------------------------------------------------------------------------- typed gaps


def test_missing_tag_is_a_typed_result(registry: str, repo: str) -> None:
    client = _client(registry)
    synthetic.push_image(client, repo, "v1", synthetic.build_image("v1"))
    with pytest.raises(failures.NotFound) as caught:
        client.resolve(repo, "v404")
    assert f"registry {registry}" in str(caught.value) and f"{repo}:v404" in str(caught.value)
    assert not client.manifest_exists(repo, "v404")
    result = _resolver().resolve(registry, repo, "v404")
    assert result.status is oci_resolver.ResolutionStatus.NOT_FOUND and result.digest is None
    assert f"{repo}:v404" in result.message and result.hint


def test_unreachable_registry_is_a_typed_result(repo: str) -> None:
    closed = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(failures.Unreachable) as caught:
        oci_client.Client(closed, timeout=3).resolve(repo, "v1")
    assert closed in str(caught.value) and f"{repo}:v1" in str(caught.value)
    resolver = oci_resolver.Resolver(timeout=3)
    results = resolver.resolve_all([(closed, repo, "v1"), (closed, repo, "v2")])
    assert {r.status for r in results.values()} == {oci_resolver.ResolutionStatus.UNREACHABLE}
    assert all(closed in r.message and r.hint for r in results.values())
    # Later lookups of the same registry do not wait for it again.
    assert resolver.resolve(closed, repo, "v3").status is oci_resolver.ResolutionStatus.UNREACHABLE
    assert resolver.lookups <= 2


def test_https_to_plain_http_registry_says_mark_it_insecure(registry: str, repo: str) -> None:
    with pytest.raises(failures.Unreachable) as caught:
        oci_client.Client(registry, insecure=False, timeout=3).resolve(repo, "v1")
    assert caught.value.hint and "insecure" in caught.value.hint


def test_resolver_resolves_many_concurrently_and_caches(registry: str, repo: str) -> None:
    client = _client(registry)
    expected = {
        f"v{i}": synthetic.push_image(client, repo, f"v{i}", synthetic.build_image(f"v{i}"))
        for i in range(6)
    }
    resolver = oci_resolver.Resolver(max_workers=6,
                                     docker_config=credentials.load_docker_config())
    wanted = [(registry, repo, tag) for tag in [*expected, "missing"] * 3]
    results = resolver.resolve_all(wanted)
    assert resolver.lookups == 7
    for (_, _, tag), result in results.items():
        if tag == "missing":
            assert result.status is oci_resolver.ResolutionStatus.NOT_FOUND
        else:
            assert result.ok and result.digest == expected[tag]
    synthetic.push_image(client, repo, "v0", synthetic.build_image("v0-rebuilt"))
    # Cached per run: a re-push is seen by a new resolver, not the old one.
    assert resolver.resolve(registry, repo, "v0").digest == expected["v0"]
    assert _resolver().resolve(registry, repo, "v0").digest != expected["v0"]


# --------------------------------------------------------------------------- own registries


def _registry_binary() -> str:
    configured = os.environ.get("DRIFTSCAN_TOOLS_BIN")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[2] / ".tools/bin"
    for candidate in (folder / "registry", shutil.which("registry")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip("the distribution registry binary is not built: run `make cluster-tools`")


def _wait_for_http(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"registry exited early:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"registry did not listen on {port}:\n{log.read_text()[-2000:]}")


def _start_registry(folder: Path, auth: dict[str, Any]) -> Iterator[str]:
    port = _closed_port()
    config = {
        "version": "0.1",
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(folder / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": auth,
    }
    path = folder / "config.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    log = folder / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [_registry_binary(), "serve", str(path)], stdout=sink, stderr=sink
        )
    try:
        _wait_for_http(port, process, log)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("basic-registry")
    (folder / "htpasswd").write_text(HTPASSWD)
    auth = {"htpasswd": {"realm": "driftscan-test", "path": str(folder / "htpasswd")}}
    yield from _start_registry(folder, auth)


def test_basic_auth(basic_registry: str, repo: str, tmp_path: Path) -> None:
    anonymous = oci_client.Client(basic_registry)
    with pytest.raises(failures.Unauthorized) as caught:
        anonymous.resolve(repo, "v1")
    assert basic_registry in str(caught.value) and "docker login" in (caught.value.hint or "")

    authed = oci_client.Client(basic_registry, credentials=credentials.Credentials(USER, PASSWORD))
    digest = synthetic.push_image(authed, repo, "v1", synthetic.build_image("v1"))
    assert authed.resolve(repo, "v1") == digest
    assert authed.list_tags(repo) == ["v1"]

    wrong = oci_client.Client(basic_registry, credentials=credentials.Credentials(USER, "nope"))
    with pytest.raises(failures.Unauthorized, match=f"user '{USER}'"):
        wrong.resolve(repo, "v1")

    # Credentials from a docker config.json found through DOCKER_CONFIG.
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {basic_registry: {"auth": auth}}}))
    config = credentials.load_docker_config(
        credentials.docker_config_path({"DOCKER_CONFIG": str(tmp_path)})
    )
    resolver = oci_resolver.Resolver(docker_config=config)
    assert resolver.resolve(basic_registry, repo, "v1").digest == digest
    denied = oci_resolver.Resolver().resolve(basic_registry, repo, "v1")
    assert denied.status is oci_resolver.ResolutionStatus.UNAUTHORIZED


class _TokenIssuer:
    """A token service in the shape of the Docker registry v2 token spec, signing RS256."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.requests: list[dict[str, Any]] = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                issuer.handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            if (name, secret) != (USER, PASSWORD):
                request.send_response(401)
                request.end_headers()
                return
            user = name
        scopes = query.get("scope", [])
        self.requests.append({"user": user, "service": query.get("service"), "scopes": scopes})
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            granted = wanted if user else [a for a in wanted if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        body = json.dumps({"token": self.sign(user or "", access), "expires_in": 300}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        def b64url(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _TokenIssuer]]:
    folder = tmp_path_factory.mktemp("token-registry")
    issuer = _TokenIssuer()
    bundle = folder / "issuer.pem"
    bundle.write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
    issuer.thread.start()
    auth = {
        "token": {
            "realm": issuer.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    try:
        for address in _start_registry(folder, auth):
            yield address, issuer
    finally:
        issuer.server.shutdown()
        issuer.server.server_close()


def test_bearer_token_flow(token_registry: tuple[str, _TokenIssuer], repo: str) -> None:
    address, issuer = token_registry
    authed = oci_client.Client(address, credentials=credentials.Credentials(USER, PASSWORD))
    digest = synthetic.push_image(authed, repo, "v1", synthetic.build_image("v1"))
    assert authed.resolve(repo, "v1") == digest
    assert authed.list_tags(repo) == ["v1"]
    push_requests = [r for r in issuer.requests if f"repository:{repo}:pull,push" in r["scopes"]]
    assert push_requests and push_requests[0]["user"] == USER
    assert push_requests[0]["service"] == [SERVICE]
    # The push token also serves pulls, and tokens are cached: one token request per scope.
    assert len(push_requests) == 1

    anonymous = oci_client.Client(address)
    assert anonymous.resolve(repo, "v1") == digest  # the issuer grants anonymous pulls
    with pytest.raises(failures.Unauthorized) as caught:
        synthetic.push_image(anonymous, repo, "v2", synthetic.build_image("v2"))
    assert address in str(caught.value) and repo in str(caught.value)

    wrong = oci_client.Client(address, credentials=credentials.Credentials(USER, "nope"))
    with pytest.raises(failures.Unauthorized, match="token service") as refused:
        wrong.resolve(repo, "v1")
    assert issuer.realm in str(refused.value)
    result = oci_resolver.Resolver(client_factory=lambda _name: wrong).resolve(address, repo, "v1")
    assert result.status is oci_resolver.ResolutionStatus.UNAUTHORIZED


# --------------------------------------------------------------------------- digest fallback


def test_resolve_falls_back_to_get_when_head_has_no_digest() -> None:
    """A registry that omits Docker-Content-Digest (an emulation: real ones send it)."""
    body = synthetic.build_image("v1").manifest.data
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            seen.append(self.command)
            self.send_response(200)
            self.send_header("Content-Type", names.OCI_MANIFEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(True)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = oci_client.Client(f"127.0.0.1:{server.server_address[1]}")
        assert client.resolve("app", "v1") == names.digest_of(body)
        assert seen == ["HEAD", "GET"]
    finally:
        server.shutdown()
        server.server_close()
