"""Write a scenario's YAML file and the app manifests it applies, for tests that run one.

The integration tests (scenarios, audit, newcomer) and the installed-package test write
scenarios the same way: a ``name:`` line, the body (dedented, so it can sit indented in
the test), and the manifests its ``apply:`` steps name, beside it in the folder.
:func:`existing_args` points ``driftscan scenario run`` at the test cluster as it is.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Mapping
from pathlib import Path

import yaml

from scanner.clusters import base

__all__ = ["CLEAN_RUN", "WEB_APP", "existing_args", "write"]

WEB_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: "{{ registry }}/{{ namespace }}/shop/web:1.0@{{ digest:b1 }}"
"""
"""A three-replica Deployment ``web`` pinned to build ``b1`` of ``shop/web:1.0``."""

CLEAN_RUN = """\
steps:
- push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
- apply: app.yaml
- wait: {rollout: Deployment/web}
- scan: s
expect:
  s: {clean: true}
"""
"""A scenario body that deploys ``WEB_APP`` and expects a clean scan."""


def write(folder: Path, body: str, apps: Mapping[str, str] | None = None, *,
          name: str | None = None) -> tuple[Path, str]:
    """Write ``NAME.yaml`` (``name: NAME`` and ``body``) and ``apps`` into ``folder``.

    Args:
        folder: where the scenario goes (created if missing).
        body: the scenario after its name line; indentation common to every line is
            removed.
        apps: manifest files to write beside it, by path relative to ``folder``;
            ``{"app.yaml": WEB_APP}`` when None.
        name: the scenario's name; a unique ``t-…`` when None, so that its namespace can
            be found by label and runs never collide.

    Returns:
        The scenario file and its name.
    """
    name = name or f"t-{uuid.uuid4().hex[:8]}"
    for relative, text in ({"app.yaml": WEB_APP} if apps is None else apps).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + textwrap.dedent(body))
    return path, name


def existing_args(cluster: base.ClusterHandle) -> list[str]:
    """``scenario run`` options that use ``cluster`` as it is (``--provider existing``)."""
    context = str(yaml.safe_load(cluster.kubeconfig.read_text())["current-context"])
    return ["--provider", "existing", "--context", context,
            "--kubeconfig", str(cluster.kubeconfig), "--registry", cluster.registry,
            "--pull-registry", cluster.pull_registry]
