"""A registry whose TLS certificate does not verify: the error says TLS, names the registry
as the user wrote it, and tells how to trust the CA or mark the registry insecure."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.clusters import pki
from scanner.oci import client as oci_client
from scanner.oci import failures


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server on loopback whose certificate comes from a CA nobody trusts."""
    files = pki.ensure(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.apiserver_crt, files.apiserver_key)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_tls_verification_failure_is_named_with_what_to_do(untrusted_https: int) -> None:
    registry = f"localhost:{untrusted_https}"
    client = oci_client.Client(registry, insecure=False, timeout=5)
    with pytest.raises(failures.Unreachable) as info:
        client.head_manifest("shop/web", "1.0")
    message, hint = info.value.message, info.value.hint or ""
    assert message.startswith(f"registry {registry}: TLS certificate verification failed")
    assert "shop/web" in message
    assert "SSL_CERT_FILE" in hint and f"--insecure-registry {registry}" in hint
