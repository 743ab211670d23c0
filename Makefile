# The two commands of the README: `make demo` runs the whole service, `make test` passes the tests.
# Both do all the setup on a fresh Debian or Ubuntu machine (apt-get needs root or sudo).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test services venv clean bench soak

demo: $(BIN)/anxin
	$(BIN)/anxin demo

test: $(BIN)/anxin services
	$(BIN)/pytest

services:
	bash tests/services.sh

# Every benchmark in turn at its default (README) size, each against its reference in the same run;
# 30 to 45 minutes on the 2-core machine, by its speed that day. The hour-long soak is `make soak`.
bench: $(BIN)/anxin services
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk; }
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.ingest --store both --ingesters 2
	$(BIN)/python -m bench.ingest --store both --ingesters 2 --protocol 3.1.1
	$(BIN)/python -m bench.ingest --store both --batch 96 --ingesters 2
	$(BIN)/python -m bench.ingest --store both --batch 96 --backlog --ingesters 2
	$(BIN)/python -m bench.mqtt_read
	$(BIN)/python -m bench.tick
	$(BIN)/python -m bench.tick --database postgresql
	$(BIN)/python -m bench.backtest
	$(BIN)/python -m bench.api --workers 2

soak: $(BIN)/anxin services
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.soak

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
