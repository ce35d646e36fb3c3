# A handful of targets; CI (.ci/run) calls the same ones.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup data audit-data test lint check secrets audit schema schema-release sdk sdk-python sdk-typescript tools lint-schema sdk-clients fuzz clean bench bench-smoke load

## run: install, migrate, load the curated dataset and serve it at http://$(HOST):$(PORT)/, with
## the changes feed's worker beside it (manage.py feed_worker)
run: data
	DEBUG=1 $(BIN)/python manage.py feed_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

## setup: create the virtual environment and install the pinned dependencies
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## data: migrate the database and load the curated fixtures
data: setup
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py load_dataset

## audit-data: load the curated dataset into a scratch SQLite database and audit its sourcing
## (manage.py audit_dataset; the seed article's text, when it lies beside the project, is given
## so that its verbatim quotes are checked against it)
SEED_DIR ?= ../shared/seed
SEED_TEXT = $(if $(wildcard $(SEED_DIR)/*.txt),--source-text star-2017-09-16-wechat-crackdown=$(SEED_DIR),)
audit-data: setup
	mkdir -p build
	rm -f build/audit.sqlite3
	DATABASE_URL=sqlite:///$(CURDIR)/build/audit.sqlite3 DEBUG=1 $(BIN)/python manage.py migrate --no-input -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/build/audit.sqlite3 DEBUG=1 $(BIN)/python manage.py load_dataset -v 0
	DATABASE_URL=sqlite:///$(CURDIR)/build/audit.sqlite3 DEBUG=1 $(BIN)/python manage.py audit_dataset $(SEED_TEXT)

## test: run the test suite (SQLite by default; set DATABASE_URL for PostgreSQL).
## PYTEST_ARGS: more pytest arguments, e.g. PYTEST_ARGS='-m "not servers"'
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff's linter and formatter check
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## check: Django's system checks, no missing migration, and a schema without warnings
check: setup
	DEBUG=1 $(BIN)/python manage.py check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

## secrets: fail if a tracked file holds something that looks like a credential (detect-secrets;
## a false positive is marked in place with a `pragma: allowlist secret` comment)
secrets: setup  # pragma: allowlist secret
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline  # pragma: allowlist secret

## audit: fail on a known vulnerability in the installed dependencies, or on one not audited
## (it needs PyPI's JSON API; CI runs it where that can be reached)
audit: setup
	$(BIN)/pip-audit --strict --progress-spinner off

## schema: write the OpenAPI schema to schema/openapi.yaml (committed; a test checks it)
schema: setup
	DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file schema/openapi.yaml

## schema-release: make the current schema the baseline that later changes must stay compatible with
schema-release: schema
	cp schema/openapi.yaml schema/baseline.yaml

## sdk: generate the Python client and the TypeScript types from schema/openapi.yaml, into build/sdk
sdk: sdk-python sdk-typescript

sdk-python: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --path schema/openapi.yaml \
		--config sdk/python/config.yaml --output-path build/sdk/python --overwrite --fail-on-warning

sdk-typescript:
	npm ci --prefix sdk/typescript --no-audit --no-fund
	npm run --prefix sdk/typescript generate
	npm run --prefix sdk/typescript check

## tools: the pinned schema linters and client generators (tools/): npm's into tools/node_modules,
## openapi-generator (its jar runs on Java 17) into the virtual environment
tools: tools/node_modules/.installed

tools/node_modules/.installed: $(VENV)/.installed tools/requirements.txt tools/package-lock.json
	$(BIN)/python -m pip install --quiet -r tools/requirements.txt
	npm ci --prefix tools --no-audit --no-fund
	touch $@

# Redocly and Spectral send no usage data from here.
TOOLS_ENV = REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true SCARF_ANALYTICS=false

## lint-schema: schema/openapi.yaml against Redocly's `recommended` rules and Spectral's
## `spectral:oas` (rules turned off, with the reason, in tools/redocly.yaml and tools/.spectral.yaml)
lint-schema: tools
	cd tools && $(TOOLS_ENV) node_modules/.bin/redocly lint --config redocly.yaml ../schema/openapi.yaml
	cd tools && $(TOOLS_ENV) node_modules/.bin/spectral lint --ruleset .spectral.yaml \
		--fail-severity warn ../schema/openapi.yaml

## sdk-clients: clients from openapi-generator (python, typescript-fetch) and @hey-api/openapi-ts,
## generated without a warning, compiled, and used against a live server
## (tests/test_sdk_generators.py)
sdk-clients: tools
	SDK_CLIENTS=1 $(TOOLS_ENV) $(BIN)/pytest tests/test_sdk_generators.py -p no:cacheprovider

## fuzz: a longer schemathesis session than the test suite's (FUZZ_EXAMPLES per operation)
fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(BIN)/pytest tests/test_fuzz.py 

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles build .pytest_cache .ruff_cache .hypothesis \
		sdk/typescript/node_modules sdk/typescript/generated tools/node_modules

# wrk drives the load of the benchmarks; Debian packages it.
WRK_INSTALL = command -v wrk >/dev/null 2>&1 || { apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

## bench: the API against its floor under load (bench/run.py, docs/performance.md), on the
## database DATABASE_URL names: PostgreSQL with the synthetic dataset for real figures
## (manage.py generate_synthetic --groups 1000000). BENCH_ARGS: e.g. --duration 10 --rounds 3
bench: setup
	$(WRK_INSTALL)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## load: a bounded load run (bench/load.py, docs/reliability.md) on the database DATABASE_URL
## names; it fails on any error. LOAD_ARGS: e.g. --duration 60 --connections 64 --private-redis
load: setup
	$(WRK_INSTALL)
	$(BIN)/python -m bench.load $(LOAD_ARGS)

## bench-smoke: one short round that checks the floor's bytes and that the harness runs (CI)
bench-smoke: setup
	$(WRK_INSTALL)
	$(BIN)/python -m bench.run --smoke
