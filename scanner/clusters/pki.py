"""Certificates and keys for the kwok test cluster's control plane.

A throw-away CA signs the apiserver's serving certificate and one admin client
certificate (``O=system:masters``) that the controllers, KWOK, the image-pull emulator
and the user's kubeconfig share. The service-account key pair signs tokens, so a
ServiceAccount bound to a narrow Role can be used to test RBAC gaps for real.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "ensure"]

_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    """Paths of the files ``ensure`` writes."""

    ca_crt: Path
    ca_key: Path
    apiserver_crt: Path
    apiserver_key: Path
    admin_crt: Path
    admin_key: Path
    sa_pub: Path
    sa_key: Path
    etcd_crt: Path
    """etcd's serving and peer certificate (127.0.0.1, localhost)."""
    etcd_key: Path
    etcd_client_crt: Path
    """The apiserver's client certificate for etcd: etcd accepts no other client."""
    etcd_client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
          sans: list[x509.GeneralName] | None = None,
          usage: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + _VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def ensure(directory: Path) -> Pki:
    """Write the cluster's PKI under ``directory`` unless it is already there."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(*(directory / n for n in (
        "ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key",
        "sa.pub", "sa.key", "etcd.crt", "etcd.key", "etcd-client.crt", "etcd-client.key")))
    if all(p.exists() for p in (pki.ca_crt, pki.apiserver_crt, pki.admin_crt, pki.sa_key,
                                pki.etcd_crt, pki.etcd_client_crt)):
        return pki

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("driftscan-test-cluster-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)

    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                  "kubernetes.default.svc",
                                  "kubernetes.default.svc.cluster.local")]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.96.0.1")]
    server = _cert(_name("kube-apiserver"), server_key, ca_name, ca_key, ca=False, sans=sans,
                   usage=[ExtendedKeyUsageOID.SERVER_AUTH])

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _cert(_name("driftscan-admin", "system:masters"), admin_key, ca_name, ca_key,
                  ca=False, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    # etcd on loopback would otherwise give any local user the whole cluster: it serves
    # TLS and accepts only clients (the apiserver, its peer) with a certificate of this CA.
    etcd_key = ec.generate_private_key(ec.SECP256R1())
    etcd = _cert(_name("etcd"), etcd_key, ca_name, ca_key, ca=False,
                 sans=[x509.DNSName("localhost"),
                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                 usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    etcd_client_key = ec.generate_private_key(ec.SECP256R1())
    etcd_client = _cert(_name("kube-apiserver-etcd-client"), etcd_client_key, ca_name, ca_key,
                        ca=False, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])

    for path, cert in ((pki.ca_crt, ca), (pki.apiserver_crt, server), (pki.admin_crt, admin),
                       (pki.etcd_crt, etcd), (pki.etcd_client_crt, etcd_client)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.ca_key, ca_key)
    _write_key(pki.apiserver_key, server_key)
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    _write_key(pki.etcd_key, etcd_key)
    _write_key(pki.etcd_client_key, etcd_client_key)
    pki.sa_pub.write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki
