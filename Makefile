# Everything runs from the project's own virtual environment, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint typecheck imports test demo bench crds clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml testbed/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./testbed
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check controller testbed tests bench

typecheck: install
	$(BIN)/mypy --strict controller

imports: install
	$(BIN)/lint-imports

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure, so an empty run fails.
test: lint typecheck imports
	$(BIN)/pytest

demo: install
	$(BIN)/scaleset-image-testbed demo --until-settled

# Benchmarks against the emulators (not part of make test): bench/results.json and a table (BENCHMARKS.md).
bench: install
	$(BIN)/python -m bench

# Regenerate the CRD from controller/model.py (a test fails when the committed file is stale).
crds: install
	$(BIN)/python -m controller.resource.crd --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
