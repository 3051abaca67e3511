"""Scale benchmark: `driftscan manifests` on 1,000 files (5,000 documents) vs a bare YAML parse.

Generates a manifest tree — 1,000 files of five documents each (a Deployment with an init
container and a sidecar, a StatefulSet, a CronJob, a Service, a ConfigMap), a mix of
floating, versioned and digest-pinned images, comments, anchors and quoted scalars — and
times, side by side in one run, each in a fresh process (median of ``--repeat``):

* ``driftscan manifests DIR --format json``   (read, check, place every finding, render)
* a bare ``yaml.load_all`` of the same files with PyYAML's C loader (the floor: parsing
  alone, no positions, no checks)

with the CPU time (user + system) and peak RSS of each. Target: driftscan under 2 s. On
a shared machine the wall time includes waiting for a core; the CPU time does not, and
the load average is printed so the two can be read together.

    make bench                         # or: .venv/bin/python benchmarks/manifests_scale.py
    .venv/bin/python benchmarks/manifests_scale.py --files 200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import measure  # noqa: E402

TARGET_SECONDS = 2.0
_BARE_PARSE = """
import pathlib, sys, yaml
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
documents = 0
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    documents += sum(1 for d in yaml.load_all(path.read_text(), Loader=loader) if d)
print(documents)
"""
_DIGEST = "sha256:" + "ab" * 32


def _file(i: int) -> str:
    team, app = f"team{i % 17}", f"app{i}"
    image = (f"registry.example.com/{team}/{app}:1.{i % 9}" if i % 3 else
             f"registry.example.com/{team}/{app}:1.{i % 9}@{_DIGEST}")
    sidecar = "docker.io/envoyproxy/envoy:v1.31-latest" if i % 2 else "busybox"
    return f"""\
# {app}: generated for the manifests benchmark
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  namespace: {team}
  labels: &labels {{app: {app}, team: {team}}}
spec:
  replicas: 3
  selector: {{matchLabels: *labels}}
  template:
    metadata: {{labels: *labels}}
    spec:
      initContainers:
      - name: migrate
        image: "{image}"
        args: ["migrate", "--to", "latest"]
      containers:
      - name: {app}
        image: '{image}'
        imagePullPolicy: IfNotPresent
        env:
        - {{name: DB_ADDR, value: "db.{team}.svc:5432"}}
        ports: [{{containerPort: 8080}}]
      - name: proxy
        image: {sidecar}
        imagePullPolicy: Always
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {app}-db, namespace: {team}}}
spec:
  serviceName: {app}-db
  selector: {{matchLabels: {{app: {app}-db}}}}
  template:
    metadata: {{labels: {{app: {app}-db}}}}
    spec:
      containers:
      - name: db
        image: registry.example.com/library/postgres:16.{i % 4}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {app}-report, namespace: {team}}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: registry.example.com/{team}/report:latest
---
apiVersion: v1
kind: Service
metadata: {{name: {app}, namespace: {team}}}
spec:
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: {app}-config, namespace: {team}}}
data:
  settings.yaml: |
    level: info
    enabled: yes
"""


def generate(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"team{i % 17}"
        folder.mkdir(exist_ok=True)
        (folder / f"app{i}.yaml").write_text(_file(i))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    driftscan = str(Path(sys.executable).with_name("driftscan"))
    with tempfile.TemporaryDirectory(prefix="driftscan-manifests-bench-") as tmp:
        root = Path(tmp)
        generate(root, args.files)
        documents = int(subprocess.run([sys.executable, "-c", _BARE_PARSE, str(root)],
                                       capture_output=True, text=True, check=True).stdout)
        check = json.loads(subprocess.run(
            [driftscan, "manifests", str(root), "--format", "json", "--fail-on", "critical"],
            capture_output=True, text=True, check=False).stdout)
        print(f"{args.files} files, {documents} documents, {check['summary']['workloads']}"
              f" workloads, {check['summary']['findings']} findings,"
              f" {check['summary']['unreadable_files']} unreadable")
        commands = {
            "driftscan manifests --format json": measure.driftscan(
                "manifests", str(root), "--format", "json", "--fail-on", "critical"),
            "bare yaml.load_all (C loader)": measure.Command(
                [sys.executable, "-c", _BARE_PARSE, str(root)]),
        }
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} core(s)")
        results = measure.interleaved(commands, args.repeat)
        measure.table(results, "bare yaml.load_all (C loader)",
                      f"{args.files} manifest files, median of {args.repeat} interleaved rounds")
        walls = {name: r.wall for name, r in results.items()}
        ours, bare = walls.values()
        verdict = "met" if ours < TARGET_SECONDS else "MISSED"
        print(f"driftscan / bare parse: {ours / bare:.2f}x; target < {TARGET_SECONDS:g} s wall:"
              f" {verdict}")


if __name__ == "__main__":
    main()
