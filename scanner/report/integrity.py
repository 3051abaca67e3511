"""Seal a report with the sha256 of its canonical body, sign it, and verify both.

``scanning`` calls :func:`seal` on every report before it is rendered (so JSON, HTML
and PDF show the same digest); ``driftscan report verify`` calls :func:`verify` on a
saved JSON file.

The canonical body is the report's JSON object without its ``integrity`` member,
serialised with sorted keys, no insignificant whitespace and UTF-8 (``json.dumps(body,
sort_keys=True, separators=(",", ":"), ensure_ascii=False)``): any change to any value,
however a tool re-indents the file, changes the digest. An optional Ed25519 signature
(``--sign-key``, a PEM private key from ``openssl genpkey -algorithm ed25519``) signs that
same canonical body; it is detached from the body (it lives beside it in ``integrity``
and covers everything else) and carries the public key and its fingerprint, so
``verify --key`` can check it against the key the auditor trusts.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from scanner import errors
from scanner.report import document as report_model
from scanner.report import json_format

if TYPE_CHECKING:  # cryptography loads only to sign or check a signature
    from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = [
    "CANONICALIZATION",
    "Verdict",
    "canonical",
    "digest",
    "fingerprint",
    "load_private_key",
    "load_public_key",
    "seal",
    "verify",
]

CANONICALIZATION = "json-sorted-keys-compact-utf8"
_KEY_HINT = "create one with `openssl genpkey -algorithm ed25519 -out report-key.pem`"


def canonical(body: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a report object; its ``integrity`` member is left out."""
    data = {k: v for k, v in body.items() if k != "integrity"}
    return _canonical(data, _orjson_exact(data))


def _canonical(data: dict[str, Any], exact: bool) -> bytes:
    if exact:
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
            pass
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


_EXACT_LEAVES = frozenset({str, int, bool, type(None)})


def _orjson_exact(value: Any) -> bool:
    """Whether orjson writes ``value`` byte for byte as the canonical form defines it.

    For dicts with ``str`` keys, lists, strings, integers, booleans and None, orjson's
    sorted compact output is the standard library's ``sort_keys`` / ``ensure_ascii=False``
    text (same escapes; UTF-8 byte order is code point order), at a tenth of the cost.
    Floats are written differently (``1e-05`` against ``0.00001``) and anything else may
    be, so a body holding one takes the standard library's path.
    """
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind not in _EXACT_LEAVES:
            return False
    return True


def digest(body: Mapping[str, Any]) -> str:
    """``sha256:`` and the hex sha256 of the canonical body."""
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


def fingerprint(key: ed25519.Ed25519PublicKey) -> str:
    """``sha256:`` and the hex sha256 of the raw 32-byte public key."""
    return "sha256:" + hashlib.sha256(_raw(key)).hexdigest()


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal(report: report_model.Report,
         key: ed25519.Ed25519PrivateKey | None = None) -> report_model.Report:
    """The report with its ``integrity`` block: the digest, and a signature with ``key``."""
    body, exact = json_format.exact_dict(dataclasses.replace(report, integrity=None))
    canonical_body = _canonical(body, exact)
    signature = None
    if key is not None:
        public = key.public_key()
        signature = report_model.SignatureEntry(
            algorithm="ed25519",
            public_key=base64.b64encode(_raw(public)).decode(),
            key_fingerprint=fingerprint(public),
            value=base64.b64encode(key.sign(canonical_body)).decode(),
        )
    sealed = dataclasses.replace(report, integrity=report_model.IntegrityEntry(
        algorithm="sha256", canonicalization=CANONICALIZATION,
        digest="sha256:" + hashlib.sha256(canonical_body).hexdigest(), signature=signature))
    json_format.remember(sealed, body)
    return sealed


def _read_pem(path: str | Path, what: str) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except OSError as e:
        raise errors.InputError(f"{what} {p}: cannot read ({e.strerror or e})",
                                hint=_KEY_HINT) from e


def load_private_key(path: str | Path) -> ed25519.Ed25519PrivateKey:
    """An unencrypted Ed25519 private key from a PEM file.

    Raises:
        errors.InputError: unreadable, encrypted, not PEM, or not Ed25519.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read_pem(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as e:
        raise errors.InputError(f"signing key {path}: encrypted keys are not supported",
                                hint="decrypt it: `openssl pkey -in KEY -out plain.pem`") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise errors.InputError(f"signing key {path}: not a PEM private key",
                                hint=_KEY_HINT) from e
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise errors.InputError(f"signing key {path}: not an Ed25519 key", hint=_KEY_HINT)
    return key


def load_public_key(path: str | Path) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (a private key file gives its public half).

    Raises:
        errors.InputError: unreadable, not PEM, or not Ed25519.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read_pem(path, "key")
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise errors.InputError(
                f"key {path}: not a PEM public or private key",
                hint="export the public key with `openssl pkey -in KEY -pubout -out pub.pem`",
            ) from e
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise errors.InputError(f"key {path}: not an Ed25519 key", hint=_KEY_HINT)
    return key


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``ok`` and one line per check."""

    ok: bool
    lines: tuple[str, ...]


def verify(body: Mapping[str, Any],
           key: ed25519.Ed25519PublicKey | None = None) -> Verdict:
    """Check a parsed report's digest and, when present or required, its signature.

    Args:
        body: the report's JSON object as read from the file.
        key: the public key the signature must verify with; with a key, an unsigned
            report fails.
    """
    block = body.get("integrity")
    if not isinstance(block, Mapping) or not isinstance(block.get("digest"), str):
        return Verdict(False, ("no integrity block: this report cannot be verified (written"
                               " by a driftscan without integrity support, or removed)",))
    lines: list[str] = []
    ok = True
    actual = digest(body)
    if actual == block["digest"]:
        lines.append(f"digest ok: {actual}")
    else:
        ok = False
        lines.append(f"digest MISMATCH: the file records {block['digest']} but its body"
                     f" hashes to {actual}; the report was changed after it was written")
    signature = block.get("signature")
    if not isinstance(signature, Mapping):
        if key is not None:
            ok = False
            lines.append(f"signature MISSING: the report is not signed, --key"
                         f" {fingerprint(key)} was expected")
        else:
            lines.append("not signed")
        return Verdict(ok, tuple(lines))
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        embedded = ed25519.Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(signature.get("public_key")), validate=True))
        value = base64.b64decode(str(signature.get("value")), validate=True)
    except (ValueError, binascii.Error):
        return Verdict(False, (*lines, "signature MALFORMED: its key or value is not"
                                       " valid base64 Ed25519 data"))
    checker = key or embedded
    try:
        checker.verify(value, canonical(body))
    except InvalidSignature:
        ok = False
        if key is not None and _raw(key) != _raw(embedded):
            lines.append(f"signature INVALID for key {fingerprint(key)}: the report was"
                         f" signed by {fingerprint(embedded)}")
        else:
            lines.append(f"signature INVALID: the body does not match the signature of"
                         f" key {fingerprint(checker)}")
        return Verdict(ok, tuple(lines))
    if key is not None:
        lines.append(f"signature ok: signed by key {fingerprint(key)}")
    else:
        lines.append(f"signature consistent with the key it carries, {fingerprint(embedded)};"
                     f" pass --key PUBLIC.pem to check it is the key you trust")
    return Verdict(ok, tuple(lines))
