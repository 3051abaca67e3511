"""The OCI distribution client, and apart from it the synthetic image builder.

Modules, each importing only those above it:

* :mod:`~scanner.oci.names` — media types, digests, name checks (pure).
* :mod:`~scanner.oci.headers` — ``WWW-Authenticate``, ``Link``, ``Content-Type`` (pure).
* :mod:`~scanner.oci.failures` — NotFound, Unauthorized, Unreachable.
* :mod:`~scanner.oci.credentials` — docker ``config.json`` inline auths.
* :mod:`~scanner.oci.transport` — one HTTP exchange, redirects, unreachable hosts.
* :mod:`~scanner.oci.auth` — basic and bearer auth, per-scope token cache.
* :mod:`~scanner.oci.client` — the distribution API of one registry.
* :mod:`~scanner.oci.resolver` — per-run tag → digest cache; the scan path's only door.
* :mod:`~scanner.oci.synthetic` — build and push synthetic images (test clusters and
  scenarios only).

Import the module you need (``from scanner.oci import resolver``); this package exports
no names of its own.
"""

from __future__ import annotations

__all__: list[str] = []
