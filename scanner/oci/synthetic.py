"""Synthetic OCI images for test clusters and scenarios: one build label, one digest.

Only ``clusters/`` and ``scenarios/`` use this module (a layer contract keeps the scan
path away from it). A build is a real OCI image — config, layers, manifest, optionally an
index over platforms — whose digest is a function of its label and platform, so a
scenario can publish "v1" and "v2" and later prove which pods run which. On kind, the
marker layer sits on a runnable base (:func:`derive_image`) so pods really start.
Images are pushed with :class:`client.Client`; blobs first, then manifests, then the tag.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner import errors
from scanner.oci import client as oci_client
from scanner.oci import credentials, failures, names, transport

__all__ = [
    "BUILD_LABEL_KEY",
    "DEFAULT_PLATFORM",
    "MARKER_PATH",
    "Blob",
    "Image",
    "ImageIndex",
    "Layer",
    "Platform",
    "build_image",
    "build_index",
    "derive_image",
    "fetch_image",
    "marker_layer",
    "push_image",
]

BUILD_LABEL_KEY = "io.driftscan.build"
"""Config label and manifest annotation that carry a synthetic image's build label."""
MARKER_PATH = "driftscan/build"
"""File inside the marker layer whose content is the build label and a newline."""

_OCI_LAYER_FOR = {
    names.DOCKER_LAYER_GZIP: names.OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
}


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
        object.__setattr__(self, "digest", names.digest_of(self.data))

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
        return cls(Blob(names.OCI_LAYER_GZIP, compressed), names.digest_of(tar))


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
        "mediaType": names.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor() for layer in layers],
        "annotations": {BUILD_LABEL_KEY: build_label},
    }
    return Blob(names.OCI_MANIFEST, _canonical(doc))


def build_image(
    build_label: str,
    *,
    base_layers: Sequence[Layer] = (),
    platform: Platform = DEFAULT_PLATFORM,
    entrypoint: Sequence[str] = (),
) -> Image:
    """Build a synthetic OCI image whose digest is a function of its label and platform.

    Args:
        build_label: Names the build (``v1``, ``build-2``); stored in the marker layer,
            the config label and a manifest annotation ``io.driftscan.build``.
        base_layers: Layers placed below the marker layer.
        platform: The config's os/architecture/variant.
        entrypoint: The config's ``Entrypoint`` (a runnable build); none by default.

    Returns:
        An image with an OCI manifest, an OCI config and ``base_layers`` + marker layer.
    """
    marker = marker_layer(build_label)
    layers = (*base_layers, marker)
    settings: dict[str, Any] = {"Labels": {BUILD_LABEL_KEY: build_label}}
    if entrypoint:
        settings["Entrypoint"] = list(entrypoint)
    config: dict[str, Any] = {
        **platform.to_json(),
        "config": settings,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": "base layer"} for _ in base_layers]
        + [{"created_by": f"driftscan build marker {build_label}"}],
    }
    config_blob = Blob(names.OCI_CONFIG, _canonical(config))
    return Image(_manifest(config_blob, layers, build_label), config_blob, layers, platform)


def build_index(build_label: str, platforms: Sequence[Platform], *,
                base_layers: Sequence[Layer] = (), entrypoint: Sequence[str] = ()) -> ImageIndex:
    """A multi-arch build: one :func:`build_image` per platform under an OCI image index.

    ``base_layers`` and ``entrypoint`` go to every platform's image (a runnable build).

    Raises:
        errors.InputError: No platforms, or one listed twice.
    """
    if not platforms or len(set(platforms)) != len(platforms):
        raise errors.InputError(
            f"build {build_label!r} needs distinct platforms, got {[str(p) for p in platforms]}",
            hint="list each platform once, e.g. linux/amd64 and linux/arm64",
        )
    images = tuple(build_image(build_label, platform=p, base_layers=base_layers,
                               entrypoint=entrypoint) for p in platforms)
    doc = {
        "schemaVersion": 2,
        "mediaType": names.OCI_INDEX,
        "manifests": [
            {**image.manifest.descriptor(), "platform": image.platform.to_json()}
            for image in images
        ],
        "annotations": {BUILD_LABEL_KEY: build_label},
    }
    return ImageIndex(Blob(names.OCI_INDEX, _canonical(doc)), images)


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
    config_blob = Blob(names.OCI_CONFIG, _canonical(config))
    layers = tuple(
        Layer(
            Blob(_OCI_LAYER_FOR.get(layer.blob.media_type, layer.blob.media_type), layer.blob.data),
            layer.diff_id,
        )
        for layer in base.layers
    ) + (marker,)
    return Image(_manifest(config_blob, layers, build_label), config_blob, layers, base.platform)


def fetch_image(
    client: oci_client.Client,
    repository: str,
    reference: str,
    *,
    platform: Platform = DEFAULT_PLATFORM,
) -> Image:
    """Download one platform's manifest, config and layers (e.g. a base for :func:`derive_image`).

    Raises:
        NotFound: The reference, or the platform inside its index, does not exist.
        errors.RegistryError: The manifest is of a kind this client cannot use.
    """
    manifest = client.get_manifest(repository, reference)
    subject = f"{client.registry}/{names.subject(repository, reference)}"
    if manifest.is_index:
        entries = manifest.json().get("manifests") or []
        matching = (
            entry
            for entry in entries
            if isinstance(entry, dict) and platform.matches(entry.get("platform") or {})
        )
        chosen = next(matching, None)
        if chosen is None:
            raise failures.NotFound(
                f"registry {client.registry}: {subject} has no manifest for {platform}",
                hint="choose a platform the index lists, or another base image",
            )
        manifest = client.get_manifest(repository, str(chosen["digest"]))
    if manifest.media_type not in names.IMAGE_MANIFEST_TYPES:
        raise errors.RegistryError(
            f"registry {client.registry}: {subject} is a {manifest.media_type or 'untyped'}"
            " manifest, not an OCI or Docker v2 image manifest",
            hint="use an image pushed by a current docker/buildkit/OCI tool",
        )
    doc = manifest.json()
    config_desc = doc.get("config") or {}
    config = Blob(
        str(config_desc.get("mediaType") or names.OCI_CONFIG),
        client.get_blob(repository, str(config_desc.get("digest"))),
    )
    config_doc = transport.json_object(config.data)
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


def push_image(
    registry: oci_client.Client | str, repository: str, tag: str, image: Image | ImageIndex
) -> str:
    """Push an image or index with everything it references, tag it, return its digest.

    Order matters: blobs, then per-platform manifests (by digest), then the tag, because
    a registry refuses manifests whose references are missing.

    Args:
        registry: A :class:`Client`, or ``host:port`` (plain HTTP if loopback; credentials
            from the docker ``config.json``, as ``DOCKER_CONFIG`` names it).
        repository: Target repository.
        tag: Tag to point at the pushed manifest (re-pushing moves it).
        image: What :func:`build_image`, :func:`build_index` or :func:`derive_image` made.
    """
    client = (registry if isinstance(registry, oci_client.Client) else oci_client.client_for(
        registry, docker_config=credentials.load_docker_config()))
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
