# driftscan — set-up, tests, demo and benchmarks. Every target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup python cluster-tools browser runtime test unit lint demo bench clean

setup: python cluster-tools

python: $(STAMP)

# setuptools warns on every editable install that a folder named like the package
# (scanner/) could shadow it: true of every project without src/, and it reads like a failure.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Go-built cluster binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, kwokctl, registry; kubelet for real nodes; helm for the
# chart tests) into .tools/bin at the versions pinned in scanner/clusters/gotools/
# (`driftscan cluster tools`, through the per-user cache).
cluster-tools: python
	bash tools/build.sh

# Headless Chromium for the browser tests (Debian's package), and poppler-utils to read
# the PDFs it prints, installed when missing.
browser:
	@{ command -v chromium && command -v pdftotext; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq chromium poppler-utils >/dev/null; \
	  else \
	    echo "the browser tests need Chromium and poppler-utils:" \
	      "sudo apt-get install chromium poppler-utils" >&2; exit 2; \
	  fi; }

# What real nodes (`cluster up --real-nodes N`, the emulator-vs-runtime test) run:
# Debian's containerd, runc, CNI plugins and a static busybox, installed when missing.
runtime:
	@{ command -v containerd && command -v runc && test -x /usr/lib/cni/bridge \
	   && test -x /bin/busybox; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq containerd runc \
	      containernetworking-plugins busybox-static >/dev/null; \
	  else \
	    echo "real nodes need containerd, runc, CNI plugins and busybox-static:" \
	      "sudo apt-get install containerd runc containernetworking-plugins busybox-static" >&2; \
	    exit 2; \
	  fi; }

test: setup browser runtime
	$(BIN)/python -m pytest

unit: python
	$(BIN)/python -m pytest -m "not cluster and not browser"

lint: python
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/mypy

# Debian's Prometheus and promtool for the alert tests (the chart's rules are checked and
# unit-tested by promtool, and fire in a real Prometheus scraping `driftscan watch`).
.PHONY: prometheus
test: prometheus
prometheus:
	@{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo "the alert tests need Prometheus and promtool: sudo apt-get install prometheus" >&2; \
	    exit 2; \
	  fi; }

# Every library scenario on the default provider (kind when a Docker engine answers, kwok
# otherwise); the cluster is started for the run and stopped after it. The provider is
# chosen first, so the kwok binaries are compiled only when kwok will run. The result
# paths are printed whether or not every scenario passed, and the run's exit code is kept.
DEMO_OUT := reports/scenarios/LATEST
DEMO_PROVIDER ?= auto
demo: python
	$(BIN)/driftscan cluster tools --provider $(DEMO_PROVIDER)
	$(BIN)/driftscan scenario run --all --provider $(DEMO_PROVIDER) --out $(DEMO_OUT)

# BENCH_DEPLOYMENTS=200,1000 measures the live scan at 10,000 and then 50,000 pods.
BENCH_DEPLOYMENTS ?= 200
bench: setup
	$(BIN)/python benchmarks/cluster_up.py
	$(BIN)/python benchmarks/scan_scale.py --deployments $(BENCH_DEPLOYMENTS)
	$(BIN)/python benchmarks/watch_scale.py
	$(BIN)/python benchmarks/scan_offline.py
	$(BIN)/python benchmarks/html_report.py
	$(BIN)/python benchmarks/manifests_scale.py

clean:
	-$(BIN)/driftscan cluster down --provider kwok --name driftscan 2>/dev/null
	rm -rf .driftscan reports/scenarios
