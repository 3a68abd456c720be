# bosai-hub — the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test bench lint check-config clean portal

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## portal: npm packages (map library, axe-core), the portal's built assets, compiled message catalogs
NODE_STAMP   := node_modules/.package-lock.json
PORTAL_BUILD := publishers/portal/static/build/manifest.json

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(PORTAL_BUILD): $(NODE_STAMP) frontend/build.mjs frontend/portal.js frontend/portal.css
	npm run --silent build

portal: $(PORTAL_BUILD) | $(STAMP)
	$(BIN)/pybabel -q compile -d publishers/portal/locales -D messages

## demo: run the service with the upstream simulator in-process; portal at http://127.0.0.1:8080/
demo: $(STAMP) portal
	$(BIN)/bosai run --demo

## test: the whole test suite on every core, one worker more than cores (tests/conftest.py); each worker
## starts its own redis-server; browser tests use /usr/bin/chromium, a module's browser on one worker
## (PYTHONDONTWRITEBYTECODE emptied: the service processes the tests start and kill compile the project
## once, not each time)
test: $(STAMP) portal
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup

## bench: every benchmark in bench/, printing ratios against a reference measured in the same run
bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

## lint: ruff over the Python tree
lint: $(STAMP)
	$(BIN)/ruff check collectors geo publishers service simulator bench tests

## check-config: validate every shipped config file
check-config: $(STAMP)
	@for f in config/*.toml; do $(BIN)/bosai check-config $$f || exit 2; done

clean:
	rm -rf $(VENV) var .pytest_cache
