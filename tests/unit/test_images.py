from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner import errors, images

HEX = "0123456789abcdef"
D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("library/nginx", "docker.io", "library/nginx", None, None),
        ("docker.io/nginx", "docker.io", "library/nginx", None, None),
        ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", None),
        ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/team/app:v2", "localhost:5000", "team/app", "v2", None),
        ("registry.example.com:5000/a/b/c:1.0", "registry.example.com:5000", "a/b/c", "1.0",
         None),
        (f"ghcr.io/org/app@{D}", "ghcr.io", "org/app", None, D),
        (f"ghcr.io/org/app:1.2@{D}", "ghcr.io", "org/app", "1.2", D),
        ("Registry/app", "Registry", "app", None, None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("gcr.io/p/a__b.c-d:x_Y.z-1", "gcr.io", "p/a__b.c-d", "x_Y.z-1", None),
    ],
)
def test_parse_examples(text: str, registry: str, repository: str, tag: str | None,
                        digest: str | None) -> None:
    ref = images.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry, repository, tag, digest)


def test_default_tag_and_flags() -> None:
    assert images.parse("nginx").effective_tag == "latest"
    assert images.parse("nginx").is_floating
    assert images.parse("nginx:latest").is_floating
    assert not images.parse("nginx:1").is_floating
    assert images.parse(f"nginx@{D}").effective_tag is None
    assert images.parse(f"nginx@{D}").is_pinned
    assert not images.parse(f"nginx:latest@{D}").is_floating


@pytest.mark.parametrize(
    "text",
    ["", " nginx", "NGINX", "nginx:", "nginx:-bad", "nginx@sha256:abc", "a//b",
     "registry.io/UPPER/x", "nginx@sha256:" + "g" * 64, "-a/b", "a/b-", "x:" + "t" * 129,
     "nginx@sha256:" + "A" * 64],
)
def test_parse_rejects(text: str) -> None:
    assert images.try_parse(text) is None
    with pytest.raises(errors.InputError):
        images.parse(text)


@pytest.mark.parametrize(
    ("raw", "kind", "digest", "repository"),
    [
        (f"docker.io/library/nginx@{D}", images.ImageIDKind.REPO_DIGEST, D,
         "docker.io/library/nginx"),
        (f"docker-pullable://nginx@{D}", images.ImageIDKind.REPO_DIGEST, D,
         "docker.io/library/nginx"),
        (f"localhost:5000/app@{D}", images.ImageIDKind.REPO_DIGEST, D, "localhost:5000/app"),
        (D, images.ImageIDKind.CONFIG_ID, D, None),
        (f"docker://{D}", images.ImageIDKind.CONFIG_ID, D, None),
        ("ab" * 32, images.ImageIDKind.CONFIG_ID, D, None),
        ("", images.ImageIDKind.EMPTY, None, None),
        ("  ", images.ImageIDKind.EMPTY, None, None),
        ("something-odd", images.ImageIDKind.UNKNOWN, None, None),
        ("nginx@md5:" + "a" * 32, images.ImageIDKind.UNKNOWN, None, None),
    ],
)
def test_parse_image_id(raw: str, kind: images.ImageIDKind, digest: str | None,
                        repository: str | None) -> None:
    parsed = images.parse_image_id(raw)
    assert parsed.kind is kind
    assert parsed.digest == digest
    assert parsed.repository == repository
    assert parsed.comparable == (kind is images.ImageIDKind.REPO_DIGEST)


# --- properties ---------------------------------------------------------------------------

alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alnum, st.lists(st.tuples(separator, alnum), max_size=2),
)
path = st.lists(component, min_size=1, max_size=4).map("/".join)
domain_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?\Z")
domain = st.one_of(
    st.lists(domain_label, min_size=2, max_size=3).map(".".join),
    st.just("localhost"),
    st.builds(lambda d, p: f"{d}:{p}", st.lists(domain_label, min_size=1, max_size=2)
              .map(".".join), st.integers(1, 65535)),
)
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
digest = st.text(alphabet=HEX, min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def references(draw: st.DrawFn) -> tuple[str, str | None, str, str | None, str | None]:
    reg = draw(st.one_of(st.none(), domain))
    repo = draw(path)
    first = repo.split("/", 1)[0]
    if reg is None and "/" in repo and ("." in first or first == "localhost"):
        # Such a first component is read as a registry host, by design of the grammar.
        reg = "docker.io"
    t = draw(st.one_of(st.none(), tag))
    d = draw(st.one_of(st.none(), digest))
    text = (f"{reg}/" if reg else "") + repo + (f":{t}" if t else "") + (f"@{d}" if d else "")
    return text, reg, repo, t, d


@given(references())
def test_valid_references_parse_to_their_parts(case: tuple[str, str | None, str, str | None,
                                                            str | None]) -> None:
    text, reg, repo, t, d = case
    ref = images.parse(text)
    assert ref.tag == t
    assert ref.digest == d
    if reg is None or reg in ("docker.io", "index.docker.io"):
        assert ref.registry == "docker.io"
        assert ref.repository == (repo if "/" in repo else f"library/{repo}")
    else:
        assert ref.registry == reg
        assert ref.repository == repo


@given(references())
def test_canonical_form_is_a_fixed_point(case: tuple[str, str | None, str, str | None,
                                                     str | None]) -> None:
    ref = images.parse(case[0])
    again = images.parse(ref.canonical())
    assert again == ref
    assert images.parse(again.canonical()).canonical() == ref.canonical()


@given(references())
def test_effective_tag_defaults_to_latest_only_without_tag_and_digest(
    case: tuple[str, str | None, str, str | None, str | None]
) -> None:
    ref = images.parse(case[0])
    _, _, _, t, d = case
    if t is None and d is None:
        assert ref.effective_tag == "latest"
    else:
        assert ref.effective_tag == t
    assert ref.is_pinned == (d is not None)


@given(references())
def test_pinned_image_ids_round_trip(case: tuple[str, str | None, str, str | None,
                                                 str | None]) -> None:
    ref = images.parse(case[0])
    d = "sha256:" + "0" * 64
    for raw in (f"{ref.name}@{d}", f"docker-pullable://{ref.name}@{d}"):
        parsed = images.parse_image_id(raw)
        assert parsed.kind is images.ImageIDKind.REPO_DIGEST
        assert parsed.digest == d
        assert parsed.repository == ref.name


@given(st.text(max_size=40))
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    images.try_parse(text)
    assert images.parse_image_id(text).raw == text


@pytest.mark.parametrize("raw", [
    "docker-pullable://nginx@sha256:" + "b" * 64,
    "  localhost:5000/team/app:1.0@sha256:" + "1" * 64 + "\n",
    "Foo/bar@sha256:" + "f" * 64,
    "index.docker.io/a/b@sha256:" + "3" * 64,
    "foo @sha256:" + "e" * 64,
    "a@b@sha256:" + "d" * 64,
    "@sha256:" + "1" * 64,
    "x@sha256:" + "A" * 64,
    "x@sha512:" + "1" * 128,
])
def test_repo_digest_image_id_names_what_the_reference_parser_names(raw: str) -> None:
    # parse_image_id works the repository out once per text before "@"; it must say
    # what parsing the whole value as a reference says.
    value = raw.strip().removeprefix("docker-pullable://")
    ref = images.try_parse(value)
    parsed = images.parse_image_id(raw)
    if ref is not None and ref.digest is not None and ref.digest.startswith("sha256:"):
        assert (parsed.kind, parsed.digest, parsed.repository) == (
            images.ImageIDKind.REPO_DIGEST, ref.digest, ref.name)
    else:
        assert parsed.kind is images.ImageIDKind.UNKNOWN
