# Two commands: `make run` (set up and serve the demo) and `make test` (set up and run every check).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-postgres lint format migrate seed worker beat bench mutate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_roles

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite on a local PostgreSQL (the postgres-marked tests run instead of skipping); pytest creates and drops
# its own test_<name> database next to the one named here.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/loyalty_dev
test-postgres: install
	DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Mutation testing of the money modules (slow, not in CI): see bench/mutate.py and bench/README.md.
mutate:
	$(BIN)/python bench/mutate.py $(MUTATE_ARGS)

worker: install
	$(BIN)/celery -A loyalty_site worker --loglevel=INFO

beat: install
	$(BIN)/celery -A loyalty_site beat --loglevel=INFO

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
