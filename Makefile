# driftscan — set-up, tests, demo and benchmarks. Every target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup python cluster-tools test unit lint demo bench clean

setup: python cluster-tools

python: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Go-built cluster binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, kwokctl, registry) into .tools/bin at pinned versions.
cluster-tools:
	bash tools/build.sh

test: setup
	$(BIN)/python -m pytest

unit: python
	$(BIN)/python -m pytest -m "not cluster and not browser"

lint: python
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/mypy

demo: setup
	$(BIN)/python -m scanner.demo

bench: setup
	$(BIN)/python benchmarks/scan_scale.py
	$(BIN)/python benchmarks/html_report.py

clean:
	-$(BIN)/driftscan cluster down --provider kwok --name driftscan 2>/dev/null
	rm -rf .driftscan reports/scenarios
