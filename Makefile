# faultd — the two commands a newcomer needs are `make run` and `make test`.
# Both set up everything first: Debian packages the tests use (as root, via apt)
# and the project virtualenv in .venv.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
SYSSTAMP := $(VENV)/.system-deps
CONFIG   ?= etc/faultd.yaml
PYTEST_ARGS ?=
# Compiled (mypyc) builds of the per-message modules, rebuilt when any faultd
# source changes and used only while they match the sources (faultd/native.py).
NATIVE   := faultd/_native/manifest.json
SOURCES  := $(shell find faultd -name '*.py' -not -path 'faultd/_native/*')

# Debian packages: net-snmp clients and snmptrapd (tests and bench peer),
# util-linux logger, systemd-analyze, build headers for systemd-python,
# promtool (alert rules check), rsyslog (bench peer), lintian/rpm (packages),
# chromium (the NOC page is checked in a headless browser).
APT_PACKAGES := snmp snmptrapd bsdutils systemd libsystemd-dev pkg-config gcc \
                python3-dev python3-venv prometheus rsyslog lintian rpm iproute2 \
                chromium

.PHONY: all run test lint unit bench fuzz soak deps native system-deps clean deb rpm package-test

all: test

system-deps: $(SYSSTAMP)
$(SYSSTAMP):
	@mkdir -p $(VENV)
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; \
	  fi; \
	fi
	@touch $@

deps: $(STAMP)
$(STAMP): pyproject.toml | $(SYSSTAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,systemd]'
	@touch $@

native: $(NATIVE)
$(NATIVE): $(SOURCES) | $(STAMP)
	@echo "native: compiling the per-message modules with mypyc (about a minute)"
	@$(BIN)/python -m faultd.nativebuild || \
	  echo "native: build failed, faultd runs as plain Python (same behaviour, slower)"

run: deps native
	@mkdir -p var/faultd
	@echo "faultd: config $(CONFIG), state in ./var/faultd, batches -> var/faultd/sink/batches.jsonl"
	FAULTD_STATE_DIRECTORY=$(CURDIR)/var/faultd $(BIN)/faultd run --config $(CONFIG)

lint: deps
	$(BIN)/ruff check faultd tests bench
	$(BIN)/mypy faultd

unit: deps native
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: deps native lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: deps native
	$(BIN)/python bench/run_all.py

fuzz: deps
	FAULTD_FUZZ_SECONDS=$${FAULTD_FUZZ_SECONDS:-300} $(BIN)/pytest -q tests/fuzz -p no:cacheprovider

soak: deps
	FAULTD_SOAK=1 $(BIN)/pytest -q tests/reliability -m "slow or not slow"

# Packages (packaging/README.md).  The .deb bundles a virtualenv under /opt/faultd.
deb: deps
	packaging/build-deb.sh

rpm:
	@if command -v rpmbuild >/dev/null 2>&1; then packaging/build-rpm.sh; \
	else echo "rpm: rpmbuild not found, skipping (install rpm-build on a RHEL-family host)"; fi

package-test: deps
	$(BIN)/pytest -q tests/packaging tests/test_systemd.py

clean:
	rm -rf $(VENV) var build dist faultd/_native *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis \
	       packaging/out
