#!/usr/bin/env bash
# Builds the kwok test cluster's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, kwokctl, registry; kubelet for real nodes; toxiproxy-server
# for the fault-injection tests, helm for the chart tests) into .tools/bin, or into
# $DRIFTSCAN_TOOLS_BIN when set.
#
# The pins ship in the package, in scanner/clusters/gotools/ (kube/go.mod, etcd/go.mod,
# versions.env): the one place they live. This script runs the same build an installed
# driftscan runs (`driftscan cluster tools`): each binary is compiled once per version into
# the per-user cache ~/.cache/driftscan-tools/VERSION/ and copied from there, so a fresh
# clone on the same machine is ready in seconds. Go's module and build caches stay in their
# default places (GOMODCACHE, GOCACHE).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
  echo "tools/build.sh needs the project's virtualenv: run \`make python\` first" >&2
  exit 2
fi
cd "$ROOT"
exec "$PYTHON" -m scanner.cli cluster tools --bin "${DRIFTSCAN_TOOLS_BIN:-$ROOT/.tools/bin}"
