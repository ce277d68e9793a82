# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := contracts/node_modules/.installed

.PHONY: demo test check install sysdeps node contracts bench clean web-assets suite-time

# Python environment: torch (CPU wheel) first, then eotrust with its test extras.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System tools the tests drive for real: the age CLI (interop), Chromium (web page) and the
# PostgreSQL server (the catalogue tests start a throwaway one; no cluster service is used),
# and bubblewrap (bwrap), the sandbox every workflow step runs in.
sysdeps:
	@if ! command -v age >/dev/null || ! command -v chromium >/dev/null || ! command -v bwrap >/dev/null || ! command -v jq >/dev/null \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q age chromium postgresql bubblewrap jq; \
	fi

# Pinned solc (compiler) and anvil (JSON-RPC node) from npm.
$(NODE_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

# Recompile the Solidity contracts into the committed artifacts.
contracts: $(NODE_STAMP) $(STAMP)
	$(PY) -m eotrust.ledger.build

demo: install
	$(VENV)/bin/eotrust demo

# Static checks (configured in pyproject.toml): ruff lint and format, the import contracts
# (layers, no cycles) and mypy in strict mode on the whole tree: the package, tools/, benchmarks/
# and tests/ (tools/typecheck.py: one mypy run per test directory). `make test` runs them first.
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) tools/typecheck.py

# The suite runs on as many pytest-xdist workers as the machine has cores (one file per worker
# at a time, so a file's module fixtures are built once); `pytest tests/x.py` alone runs serially.
# The 25 slowest tests are listed at the end of every run. Bytecode is cached even where the
# environment says PYTHONDONTWRITEBYTECODE (as on this project's machines): the suite starts
# hundreds of Python processes, and each would compile eotrust's modules again.
test: install sysdeps node check
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -n auto --dist loadfile --durations=25

# Where the suite's time goes (issue 17): the whole suite recording each test's wall time, CPU
# and reaped children's CPU (tests/conftest.py --suite-time, tools/suite_time.py), then the
# report (printed even when a test failed): busy time per worker, files by CPU, the tests that
# mostly wait, and the files during which the machine's cores stood idle most.
suite-time: install sysdeps node
	rm -rf .suite-time
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -n auto --dist loadfile -q --suite-time .suite-time; \
	  status=$$?; $(PY) tools/suite_time.py .suite-time; exit $$status

bench: install node
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) contracts/node_modules .pytest_cache .mypy_cache .ruff_cache

# The web page's map library (Leaflet) and offline basemap (Natural Earth land, 1:110m, from
# world-atlas, converted to GeoJSON with topojson-client), from npm at the pinned versions,
# copied into the static files. The results are committed: serving needs no Node.
WEB_VENDOR := src/eotrust/api/web/static/vendor
web-assets:
	cd web && npm ci --no-audit --no-fund
	mkdir -p $(WEB_VENDOR)/images
	cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css $(WEB_VENDOR)/
	cp web/node_modules/leaflet/dist/images/*.png $(WEB_VENDOR)/images/
	cp web/node_modules/leaflet/LICENSE $(WEB_VENDOR)/LEAFLET-LICENSE
	web/node_modules/.bin/topo2geo land=- < web/node_modules/world-atlas/land-110m.json > $(WEB_VENDOR)/land-110m.geojson
