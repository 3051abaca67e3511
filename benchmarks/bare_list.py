"""The floor a live scan is measured against: fetch and decode the same LISTs, nothing else.

Reads the kubeconfig's current context (server, CA and client certificate data, or a
token), then, single-threaded, GETs every collection ``driftscan scan -A`` lists, 500
objects a page, following ``continue`` tokens, and decodes each page with ``json.loads``
(or ``orjson.loads`` with ``--orjson``). Prints the number of objects read.

    .venv/bin/python benchmarks/bare_list.py KUBECONFIG [--orjson]
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import tempfile

import urllib3

COLLECTIONS = (
    "/api/v1/pods", "/apis/apps/v1/replicasets", "/apis/apps/v1/deployments",
    "/apis/apps/v1/statefulsets", "/apis/apps/v1/daemonsets",
    "/apis/apps/v1/controllerrevisions", "/apis/batch/v1/jobs", "/apis/batch/v1/cronjobs",
    "/api/v1/services", "/api/v1/nodes",
)


def connect(path: str) -> tuple[str, urllib3.PoolManager, dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)  # kwok clusters write their kubeconfig as JSON
    current = config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    tls = ssl.create_default_context()
    if "certificate-authority-data" in cluster:
        tls.load_verify_locations(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    headers = {"Accept": "application/json"}
    if "client-certificate-data" in user:
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "c"), os.path.join(folder, "k")
            for file, field in ((cert, "client-certificate-data"), (key, "client-key-data")):
                with open(file, "wb") as handle:
                    handle.write(base64.b64decode(user[field]))
            tls.load_cert_chain(cert, key)
    if "token" in user:
        headers["Authorization"] = f"Bearer {user['token']}"
    return cluster["server"], urllib3.PoolManager(ssl_context=tls), headers


def main() -> None:
    if sys.argv[2:] == ["--orjson"]:
        import orjson

        loads = orjson.loads
    else:
        loads = json.loads
    server, pool, headers = connect(sys.argv[1])
    objects = 0
    for collection in COLLECTIONS:
        token = ""
        while True:
            fields = {"limit": "500", **({"continue": token} if token else {})}
            response = pool.request("GET", server + collection, fields=fields,
                                    headers=headers, redirect=False)
            if response.status != 200:
                raise SystemExit(f"GET {collection}: {response.status}")
            page = loads(response.data)
            objects += len(page["items"])
            token = page["metadata"].get("continue") or ""
            if not token:
                break
    print(objects)


if __name__ == "__main__":
    main()
