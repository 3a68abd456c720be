# bosai-hub — the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test bench lint check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## demo: run the service with the upstream simulator in-process; portal at http://127.0.0.1:8080/
demo: $(STAMP)
	$(BIN)/bosai run --demo

## test: the whole test suite (starts its own redis-server; browser tests use /usr/bin/chromium)
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

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
