#!/usr/bin/env bash
# Builds the kwok test cluster's binaries into .tools/bin at the versions pinned below
# and in tools/*/go.mod. A binary is rebuilt only when its pin changes: each one has a
# stamp file next to it naming the version it was built from.
#
# Go's module and build caches stay in their default places (GOMODCACHE, GOCACHE), which
# survive between runs on one machine, so a warm rebuild takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${DRIFTSCAN_TOOLS_BIN:-$ROOT/.tools/bin}"
# Built binaries are also kept in a per-user cache keyed by version, so a fresh clone on
# the same machine copies them instead of linking them again.
CACHE="${DRIFTSCAN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/driftscan-tools}"
KUBE_VERSION="v1.36.3"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
REGISTRY_VERSION="v3.1.2"
# Toxiproxy sits between driftscan and the test cluster in the fault-injection tests.
TOXIPROXY_VERSION="v2.12.0"

export CGO_ENABLED=0
export GOFLAGS="-trimpath"
mkdir -p "$BIN"

fresh() { # fresh NAME VERSION: true when BIN/NAME exists and was built from VERSION
  [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]
}
stamp() {
  echo "$2" > "$BIN/.$1.version"
  mkdir -p "$CACHE/$2" && cp -f "$BIN/$1" "$CACHE/$2/$1.tmp" && mv -f "$CACHE/$2/$1.tmp" "$CACHE/$2/$1"
  echo "built $1 $2"
}
cached() { # cached NAME VERSION: copy a binary built earlier on this machine
  [[ -x "$CACHE/$2/$1" ]] || return 1
  cp -f "$CACHE/$2/$1" "$BIN/$1" && echo "$2" > "$BIN/.$1.version" && echo "reused $1 $2"
}

kube_ldflags() {
  local v="${KUBE_VERSION#v}"
  local pkg="k8s.io/component-base/version"
  echo "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=${v%%.*}" \
       "-X $pkg.gitMinor=$(echo "$v" | cut -d. -f2) -X $pkg.gitTreeState=clean" \
       "-X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
}

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  if ! fresh "$cmd" "$KUBE_VERSION" && ! cached "$cmd" "$KUBE_VERSION"; then
    echo "building $cmd $KUBE_VERSION (a cold build takes several minutes)"
    (cd "$ROOT/tools/kube" && go build -ldflags "$(kube_ldflags)" -o "$BIN/$cmd" "k8s.io/kubernetes/cmd/$cmd")
    stamp "$cmd" "$KUBE_VERSION"
  fi
done

if ! fresh etcd "$ETCD_VERSION" && ! cached etcd "$ETCD_VERSION"; then
  echo "building etcd $ETCD_VERSION"
  (cd "$ROOT/tools/etcd" && go build -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  stamp etcd "$ETCD_VERSION"
fi

for cmd in kwok kwokctl; do
  if ! fresh "$cmd" "$KWOK_VERSION" && ! cached "$cmd" "$KWOK_VERSION"; then
    echo "building $cmd $KWOK_VERSION"
    GOBIN="$BIN" go install -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
      "sigs.k8s.io/kwok/cmd/$cmd@$KWOK_VERSION"
    stamp "$cmd" "$KWOK_VERSION"
  fi
done

if ! fresh registry "$REGISTRY_VERSION" && ! cached registry "$REGISTRY_VERSION"; then
  echo "building registry $REGISTRY_VERSION"
  GOBIN="$BIN" go install -ldflags "-s -w" \
    "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
  stamp registry "$REGISTRY_VERSION"
fi

if ! fresh toxiproxy-server "$TOXIPROXY_VERSION" && ! cached toxiproxy-server "$TOXIPROXY_VERSION"; then
  echo "building toxiproxy-server $TOXIPROXY_VERSION"
  gobin="$(mktemp -d)"
  GOBIN="$gobin" go install -ldflags "-s -w" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv -f "$gobin/server" "$BIN/toxiproxy-server" && rmdir "$gobin"
  stamp toxiproxy-server "$TOXIPROXY_VERSION"
fi
