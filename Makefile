# trustledger — one command each. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres:postgres@127.0.0.1:5432/trustledger_test
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup system-deps test-deps run demo serve test test-fast postgres lint bench bench-quick reliability clean vendor-js

## setup: system packages (apt, when root) and the virtualenv with the project
setup: system-deps $(VENV)/.installed

system-deps:
	@scripts/system-deps.sh

test-deps:
	@scripts/system-deps.sh --test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## run: the main job — the demo estate on SQLite, served on http://$(HOST):$(PORT)
run: setup
	$(BIN)/trustledger demo
	$(BIN)/trustledger serve --host $(HOST) --port $(PORT)

demo: setup
	$(BIN)/trustledger demo

## test: the whole suite on SQLite and PostgreSQL (started here when it is not running)
test: setup test-deps postgres
	TRUSTLEDGER_TEST_PG_URL=$(PG_URL) TRUSTLEDGER_REQUIRE_PG=1 $(BIN)/pytest -q

postgres:
	@scripts/ensure-postgres.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ledger api statements audits

bench: setup postgres
	$(BIN)/python -m bench.run

bench-quick: setup postgres
	$(BIN)/python -m bench.run --quick

## vendor-js: refresh the pages' fallback crypto from npm (pinned; the output is committed)
vendor-js:
	scripts/vendor-js.sh

## reliability: every reliability campaign at the issue's counts (minutes; figures in docs/reliability.md)
reliability: setup postgres
	TRUSTLEDGER_TEST_PG_URL=$(PG_URL) $(BIN)/python -m reliability.run --full

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
