# One command per verb, the same for people and CI.
#   make run    the whole pipeline on local mosquitto and influxd (installs them with apt if missing);
#               ARGS='--api-port 8001 -- --scale 2' passes flags to `urbanpulse up`
#   make test   the test suite against real mosquitto and influxd on free loopback ports
#   make lint   ruff and mypy --strict
#   make bench  benchmarks, each printing one JSON document
#   make check  lint, then test

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := mosquitto mosquitto-clients influxdb
# The modules setup.py compiles with mypyc: editing one reinstalls, which compiles it again.
COMPILED := $(shell $(PYTHON) -c "import runpy; print(' '.join(n.replace('.', '/') + '.py' \
	for n in runpy.run_path('ingest/compiled.py')['MODULES']))")

.PHONY: install run servers test lint bench check clean

$(VENV)/.installed: pyproject.toml setup.py $(COMPILED)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Compiled modules from an earlier install would shadow the sources if this one skips them.
	find ingest urbanpulse -name '*.so' -delete; rm -f urbanpulse__mypyc.*.so
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed

servers:
	@missing=""; \
	for bin in mosquitto:mosquitto mosquitto_sub:mosquitto-clients influxd:influxdb; do \
	  name=$${bin%%:*}; pkg=$${bin##*:}; \
	  PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v $$name >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing:$$missing - install them (apt-get install$$missing) and run make again" >&2; \
	    exit 1; \
	  fi; \
	fi

run: install servers
	$(VENV)/bin/urbanpulse up $(ARGS)

test: install
	$(PY) -m pytest --durations=30

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install servers
	$(PY) bench/suite.py

check: lint test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build
	find . -name "*.so" -not -path "./.venv/*" -delete
