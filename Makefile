# A handful of targets; CI (.ci/run) calls the same ones.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run setup data test lint check schema clean

## run: install, migrate, load the curated dataset and serve it at http://$(HOST):$(PORT)/
run: data
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

## test: run the test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: setup
	$(BIN)/pytest

## lint: ruff's linter and formatter check
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## check: Django's system checks, no missing migration, and a schema without warnings
check: setup
	DEBUG=1 $(BIN)/python manage.py check
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

## schema: print the OpenAPI schema (YAML)
schema: setup
	@DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
