# The two commands of the README: `make demo` runs the whole service, `make test` passes the tests.
# Both do all the setup on a fresh Debian or Ubuntu machine (apt-get needs root or sudo).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test services venv clean

demo: $(BIN)/anxin
	$(BIN)/anxin demo

test: $(BIN)/anxin services
	$(BIN)/pytest

services:
	bash tests/services.sh

venv: $(BIN)/anxin

$(BIN)/anxin: pyproject.toml
	@command -v $(PYTHON) >/dev/null && $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3 python3-venv; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "anxin needs Python 3.11 or later"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) demo-data *.egg-info .pytest_cache
