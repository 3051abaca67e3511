"""Pure parts of scanner.oci: digests, image shapes, header and config parsing, the resolver."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from pathlib import Path

import pytest

from scanner import errors
from scanner.oci import client as oci_client
from scanner.oci import credentials, failures, headers, names, synthetic
from scanner.oci import resolver as oci_resolver

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --------------------------------------------------------------------------- digests, names


def test_digest_of_is_sha256_of_bytes() -> None:
    assert names.digest_of(b"") == EMPTY_SHA256
    assert names.digest_of(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (EMPTY_SHA256, True),
        ("sha512:" + "a" * 128, True),
        ("latest", False),
        ("v1.2.3", False),
        ("sha256:short", False),
    ],
)
def test_is_digest(reference: str, expected: bool) -> None:
    assert names.is_digest(reference) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5001", True),
        ("kind-registry.localhost:5000", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
        ("docker.io", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert names.is_loopback(host) is expected


def test_client_scheme_follows_loopback_and_insecure() -> None:
    assert oci_client.Client("127.0.0.1:5000").base_url == "http://127.0.0.1:5000"
    assert oci_client.Client("registry.example.com").base_url == "https://registry.example.com"
    assert oci_client.Client("127.0.0.1:5000", insecure=False).base_url.startswith("https://")
    assert oci_client.Client("reg.lan:5000", insecure=True).base_url == "http://reg.lan:5000"
    assert oci_client.Client("docker.io").base_url == "https://registry-1.docker.io"


def test_client_for_applies_insecure_hosts_and_credentials() -> None:
    config = credentials.DockerConfig(auths={"reg.lan:5000": credentials.Credentials("u", "p")})
    plain = oci_client.client_for("reg.lan:5000", docker_config=config, insecure_hosts=["reg.lan"])
    assert plain.base_url == "http://reg.lan:5000"
    assert plain.credentials == credentials.Credentials("u", "p")
    exact = oci_client.client_for("reg.lan:5000", insecure_hosts=["reg.lan:5000"])
    assert exact.base_url == "http://reg.lan:5000" and exact.credentials is None
    assert oci_client.client_for("reg.lan:5000").base_url == "https://reg.lan:5000"


@pytest.mark.parametrize("bad", ["http://reg:5000", "reg:5000/path", "reg:99999", ""])
def test_client_rejects_bad_registry(bad: str) -> None:
    with pytest.raises(errors.InputError, match="HOST:PORT"):
        oci_client.Client(bad)


@pytest.mark.parametrize(
    ("repository", "reference"),
    [("App", "v1"), ("app/", "v1"), ("../etc", "v1"), ("app", "bad tag"), ("app", "-x")],
)
def test_client_rejects_bad_names_before_any_request(repository: str, reference: str) -> None:
    client = oci_client.Client("127.0.0.1:9")  # nothing listens there: must not be contacted
    with pytest.raises(errors.InputError, match="127.0.0.1:9"):
        client.resolve(repository, reference)


def test_credentials_repr_hides_password() -> None:
    creds = credentials.Credentials("alice", "s3cret")
    assert "s3cret" not in repr(creds)
    assert creds.basic_header() == "Basic " + base64.b64encode(b"alice:s3cret").decode()


# --------------------------------------------------------------------------- images


def _layer_files(layer: synthetic.Layer) -> dict[str, bytes]:
    raw = gzip.decompress(layer.blob.data)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {
            member.name: (tar.extractfile(member) or io.BytesIO()).read()
            for member in tar.getmembers()
            if member.isfile()
        }


def test_build_image_is_deterministic_per_label() -> None:
    first = synthetic.build_image("v1")
    again = synthetic.build_image("v1")
    other = synthetic.build_image("v2")
    assert first.digest == again.digest
    assert first.manifest.data == again.manifest.data
    assert first.layers[0].blob.data == again.layers[0].blob.data
    assert other.digest != first.digest
    assert other.layers[0].diff_id != first.layers[0].diff_id


def test_build_image_differs_per_platform() -> None:
    amd = synthetic.build_image("v1", platform=synthetic.Platform("linux", "amd64"))
    arm = synthetic.build_image("v1", platform=synthetic.Platform("linux", "arm64", "v8"))
    assert amd.digest != arm.digest
    assert amd.layers == arm.layers  # same marker layer, different config
    assert json.loads(arm.config.data)["variant"] == "v8"


def test_image_manifest_shape_and_media_types() -> None:
    image = synthetic.build_image("build-7")
    manifest = json.loads(image.manifest.data)
    assert image.manifest.media_type == names.OCI_MANIFEST
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == names.OCI_MANIFEST
    assert manifest["config"] == {
        "mediaType": names.OCI_CONFIG,
        "digest": names.digest_of(image.config.data),
        "size": len(image.config.data),
    }
    assert manifest["layers"] == [
        {
            "mediaType": names.OCI_LAYER_GZIP,
            "digest": names.digest_of(image.layers[0].blob.data),
            "size": len(image.layers[0].blob.data),
        }
    ]
    assert manifest["annotations"] == {synthetic.BUILD_LABEL_KEY: "build-7"}
    assert image.digest == names.digest_of(image.manifest.data)


def test_image_config_points_at_uncompressed_layer() -> None:
    image = synthetic.build_image("v3")
    config = json.loads(image.config.data)
    layer = image.layers[0]
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": [names.digest_of(gzip.decompress(layer.blob.data))],
    }
    assert config["config"]["Labels"] == {synthetic.BUILD_LABEL_KEY: "v3"}
    assert len(config["history"]) == 1


def test_marker_layer_content_and_fixed_metadata() -> None:
    layer = synthetic.marker_layer("v1")
    assert _layer_files(layer) == {synthetic.MARKER_PATH: b"v1\n"}
    assert layer.blob.data[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.blob.data))) as tar:
        assert {(m.name, m.mtime, m.uid, m.gid) for m in tar.getmembers()} == {
            ("driftscan", 0, 0, 0),
            (synthetic.MARKER_PATH, 0, 0, 0),
        }


def test_marker_tar_is_byte_stable_across_runs() -> None:
    # The uncompressed tar does not depend on zlib, so its digest can be pinned here.
    assert synthetic.marker_layer("v1").diff_id == (
        "sha256:75311ea8c5ba245580df5994c42ed55213350b553f5fe4225e64b95898d557a7"
    )


@pytest.mark.parametrize("label", ["", "   ", "two\nlines", "x" * 300])
def test_bad_build_label_is_input_error(label: str) -> None:
    with pytest.raises(errors.InputError, match="build label"):
        synthetic.build_image(label)


def test_base_layers_sit_below_the_marker() -> None:
    base = synthetic.marker_layer("base")
    image = synthetic.build_image("v1", base_layers=[base])
    assert image.layers[0] == base
    config = json.loads(image.config.data)
    assert config["rootfs"]["diff_ids"] == [base.diff_id, image.layers[1].diff_id]
    assert len(config["history"]) == 2


def test_index_shape_lists_each_platform_manifest() -> None:
    platforms = [synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64", "v8")]
    index = synthetic.build_index("v1", platforms)
    doc = json.loads(index.manifest.data)
    assert index.manifest.media_type == names.OCI_INDEX
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == names.OCI_INDEX
    assert [entry["platform"] for entry in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    for entry, image in zip(doc["manifests"], index.images, strict=True):
        assert entry["digest"] == image.digest
        assert entry["size"] == len(image.manifest.data)
        assert entry["mediaType"] == names.OCI_MANIFEST
    assert index.digest not in {image.digest for image in index.images}
    assert synthetic.build_index("v1", platforms).digest == index.digest


def test_index_refuses_duplicate_or_no_platforms() -> None:
    with pytest.raises(errors.InputError):
        synthetic.build_index("v1", [])
    with pytest.raises(errors.InputError):
        synthetic.build_index("v1", [synthetic.Platform(), synthetic.Platform()])


def _docker_base() -> synthetic.Image:
    layer = synthetic.marker_layer("base-os")
    docker_layer = synthetic.Layer(
        synthetic.Blob(names.DOCKER_LAYER_GZIP, layer.blob.data), layer.diff_id
    )
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "Env": ["PATH=/bin"], "Labels": {"a": "b"}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created_by": "ADD rootfs"}],
    }
    config_blob = synthetic.Blob(
        "application/vnd.docker.container.image.v1+json", json.dumps(config).encode()
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": names.DOCKER_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [docker_layer.blob.descriptor()],
    }
    return synthetic.Image(
        synthetic.Blob(names.DOCKER_MANIFEST, json.dumps(manifest).encode()),
        config_blob,
        (docker_layer,),
        synthetic.Platform(),
    )


def test_derive_image_keeps_base_and_appends_marker() -> None:
    base = _docker_base()
    derived = synthetic.derive_image(base, "v9")
    config = json.loads(derived.config.data)
    manifest = json.loads(derived.manifest.data)
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["Labels"] == {"a": "b", synthetic.BUILD_LABEL_KEY: "v9"}
    assert config["rootfs"]["diff_ids"] == [base.layers[0].diff_id, derived.layers[1].diff_id]
    assert [h["created_by"] for h in config["history"]][0] == "ADD rootfs"
    assert len(config["history"]) == 2
    assert manifest["mediaType"] == names.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == names.OCI_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [names.OCI_LAYER_GZIP] * 2
    assert manifest["layers"][0]["digest"] == base.layers[0].blob.digest  # same bytes
    assert _layer_files(derived.layers[1]) == {synthetic.MARKER_PATH: b"v9\n"}
    assert synthetic.derive_image(base, "v9").digest == derived.digest
    assert synthetic.derive_image(base, "v10").digest != derived.digest


def test_derive_image_refuses_inconsistent_base() -> None:
    base = _docker_base()
    broken = synthetic.Image(base.manifest, base.config, base.layers * 2, base.platform)
    with pytest.raises(errors.InputError, match="diff_ids"):
        synthetic.derive_image(broken, "v1")


def test_platform_parse_and_match() -> None:
    platform = synthetic.Platform.parse("linux/arm64/v8")
    assert platform == synthetic.Platform("linux", "arm64", "v8")
    assert str(platform) == "linux/arm64/v8"
    assert synthetic.Platform.parse("linux/amd64").matches({"os": "linux", "architecture": "amd64"})
    assert synthetic.Platform("linux", "arm64").matches(
        {"os": "linux", "architecture": "arm64", "variant": "v8"}
    )
    assert not platform.matches({"os": "linux", "architecture": "arm64", "variant": "v7"})
    with pytest.raises(errors.InputError):
        synthetic.Platform.parse("linux")


# --------------------------------------------------------------------------- WWW-Authenticate


def test_parse_bearer_challenge_with_commas_in_scope() -> None:
    value = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert headers.parse_www_authenticate(value) == [
        headers.Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:samalba/my-app:pull,push",
            },
        )
    ]


def test_parse_challenge_error_escapes_and_spaces() -> None:
    value = 'Bearer realm = "https://a/t" , error="insufficient_scope", note="say \\"hi\\""'
    (challenge,) = headers.parse_www_authenticate(value)
    assert challenge.params == {
        "realm": "https://a/t",
        "error": "insufficient_scope",
        "note": 'say "hi"',
    }


def test_parse_basic_and_multiple_challenges() -> None:
    challenges = headers.parse_www_authenticate(
        'Basic realm="Registry Realm", Bearer realm="https://a/token",service=reg'
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params == {"realm": "Registry Realm"}
    assert challenges[1].params == {"realm": "https://a/token", "service": "reg"}


def test_parse_token68_and_garbage() -> None:
    assert headers.parse_www_authenticate("Negotiate abc123==")[0].scheme == "negotiate"
    assert headers.parse_www_authenticate("") == []


# --------------------------------------------------------------------------- Link


def test_link_header_next_relative() -> None:
    value = '</v2/app/tags/list?last=b&n=2>; rel="next"'
    assert headers.parse_link_header(value) == {"next": "/v2/app/tags/list?last=b&n=2"}
    assert headers.next_link(value) == "/v2/app/tags/list?last=b&n=2"


def test_link_header_several_rels_and_unquoted() -> None:
    value = '<https://r/v2/a/tags/list?n=1&last=x>; rel=next, <https://r/docs>; rel="help"'
    assert headers.parse_link_header(value) == {
        "next": "https://r/v2/a/tags/list?n=1&last=x",
        "help": "https://r/docs",
    }


def test_link_header_without_next() -> None:
    assert headers.next_link(None) is None
    assert headers.next_link('</x>; rel="prev"') is None


# --------------------------------------------------------------------------- docker config


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_docker_config_base64_auth_and_username_password() -> None:
    text = json.dumps(
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": _b64("hubuser:hub:pass")},
                "reg.example.com:5000": {"username": "bob", "password": "pw"},
                "http://other.example.com/v2/": {"auth": _b64("carol:x").rstrip("=")},
            }
        }
    )
    config = credentials.parse_docker_config(text)
    assert config.credentials_for("docker.io") == credentials.Credentials("hubuser", "hub:pass")
    assert config.credentials_for("registry-1.docker.io") == config.credentials_for("docker.io")
    assert config.credentials_for("reg.example.com:5000") == credentials.Credentials("bob", "pw")
    assert config.credentials_for("other.example.com") == credentials.Credentials("carol", "x")
    assert config.credentials_for("reg.example.com") is None
    assert config.notes == ()


def test_docker_config_auth_wins_over_username() -> None:
    text = json.dumps({"auths": {"r": {"auth": _b64("a:b"), "username": "c", "password": "d"}}})
    assert credentials.parse_docker_config(text).credentials_for("r") == credentials.Credentials(
        "a", "b"
    )


def test_docker_config_helpers_become_notes() -> None:
    text = json.dumps(
        {
            "auths": {"ghcr.io": {}, "quay.io": {"identitytoken": "tok"}},
            "credsStore": "desktop",
            "credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"},
        }
    )
    config = credentials.parse_docker_config(text)
    assert config.auths == {}
    joined = "\n".join(config.notes)
    assert "ghcr.io: credentials live in a credential store" in joined
    assert "quay.io: an OAuth identity token" in joined
    assert "credsStore 'desktop' is ignored" in joined
    assert "credential helper 'ecr-login' is ignored" in joined


def test_docker_config_reports_every_broken_entry() -> None:
    text = json.dumps(
        {"auths": {"a": {"auth": "!!!not base64"}, "b": {"auth": _b64("nocolon")}, "c": "x"}}
    )
    with pytest.raises(errors.InputError) as caught:
        credentials.parse_docker_config(text, source="/x/config.json")
    message = str(caught.value)
    assert "/x/config.json" in message
    assert "auths['a']" in message and "auths['b']" in message and "auths['c']" in message


def test_docker_config_invalid_json() -> None:
    with pytest.raises(errors.InputError, match="not valid JSON"):
        credentials.parse_docker_config("{", source="cfg")


def test_docker_config_path_and_loading(tmp_path: Path) -> None:
    assert (
        credentials.docker_config_path({"DOCKER_CONFIG": str(tmp_path)}) == tmp_path / "config.json"
    )
    assert credentials.docker_config_path({"HOME": "/home/u"}) == Path(
        "/home/u/.docker/config.json"
    )
    missing = credentials.load_docker_config(tmp_path / "config.json")
    assert missing.auths == {}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"r:1": {"auth": _b64("u:p")}}}))
    loaded = credentials.load_docker_config(tmp_path / "config.json")
    assert loaded.credentials_for("r:1") == credentials.Credentials("u", "p")
    assert loaded.source == str(tmp_path / "config.json")


# --------------------------------------------------------------------------- resolver


class _FakeClient(oci_client.Client):
    """Counts lookups; answers slowly so concurrent callers overlap."""

    def __init__(self, name: str, answers: dict[str, BaseException | str]) -> None:
        super().__init__(name)
        self.answers = answers
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def head_manifest(self, repository: str, reference: str) -> oci_client.ManifestInfo:
        with self.lock:
            self.calls.append(f"{repository}:{reference}")
        time.sleep(0.05)
        answer = self.answers[reference]
        if isinstance(answer, BaseException):
            raise answer
        return oci_client.ManifestInfo(answer, names.OCI_INDEX, 100)


def test_resolver_looks_each_reference_up_once_and_types_failures() -> None:
    digest = "sha256:" + "a" * 64
    fake = _FakeClient(
        "127.0.0.1:1",
        {
            "v1": digest,
            "gone": failures.NotFound("registry 127.0.0.1:1: cannot resolve app:gone", hint="h"),
            "secret": failures.Unauthorized("registry 127.0.0.1:1: denied", hint="login"),
            "boom": errors.RegistryError("registry 127.0.0.1:1: HTTP 500", hint="retry"),
        },
    )
    resolver = oci_resolver.Resolver(client_factory=lambda _name: fake, max_workers=16)
    refs = [("127.0.0.1:1", "app", ref) for ref in ["v1", "gone", "secret", "boom"] * 10]
    results = resolver.resolve_all(refs)
    assert len(results) == 4
    assert sorted(fake.calls) == ["app:boom", "app:gone", "app:secret", "app:v1"]
    assert resolver.lookups == 4
    by_ref = {key[2]: value for key, value in results.items()}
    assert by_ref["v1"].ok and by_ref["v1"].digest == digest and by_ref["v1"].is_index
    assert by_ref["gone"].status is oci_resolver.ResolutionStatus.NOT_FOUND
    assert by_ref["gone"].message.endswith("app:gone") and by_ref["gone"].hint == "h"
    assert by_ref["secret"].status is oci_resolver.ResolutionStatus.UNAUTHORIZED
    assert by_ref["boom"].status is oci_resolver.ResolutionStatus.FAILED
    assert resolver.resolve("127.0.0.1:1", "app", "v1") is results[("127.0.0.1:1", "app", "v1")]
    assert len(fake.calls) == 4


def test_resolver_single_flight_under_contention() -> None:
    fake = _FakeClient("127.0.0.1:1", {"v1": "sha256:" + "b" * 64})
    resolver = oci_resolver.Resolver(client_factory=lambda _name: fake)
    results: list[oci_resolver.Resolution] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.resolve("127.0.0.1:1", "a", "v1")))
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls) == 1
    assert len({id(result) for result in results}) == 1


def test_resolver_returns_digest_references_without_lookup() -> None:
    fake = _FakeClient("127.0.0.1:1", {})
    resolver = oci_resolver.Resolver(client_factory=lambda _name: fake)
    digest = "sha256:" + "c" * 64
    result = resolver.resolve("127.0.0.1:1", "app", digest)
    assert result.ok and result.digest == digest
    assert fake.calls == [] and resolver.lookups == 0


def test_resolver_turns_bad_registry_name_into_failed() -> None:
    result = oci_resolver.Resolver().resolve("http://bad/", "app", "v1")
    assert result.status is oci_resolver.ResolutionStatus.FAILED
    assert "HOST:PORT" in result.hint
