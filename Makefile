# Two commands: `make run` (set up and serve the demo) and `make test` (set up and run every check).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# uv installs the exact versions in uv.lock; the Makefile fetches this one release of it from PyPI with pip.
# Keep it equal to required-version in pyproject.toml.
UV_VERSION := 0.13.9
UV_DIR := .tools/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000
# Links in emails and the demo's printed addresses follow the address the demo is served on.
export SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: install run test test-faults test-postgres lint format migrate seed worker beat bench mutate clean

$(UV):
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade --target $(UV_DIR) uv==$(UV_VERSION)

# The interpreter's real path, not a shim's (pyenv): given another path for the same Python, uv rebuilds .venv.
PYTHON_EXE = $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

# --locked: install exactly uv.lock, and stop if pyproject.toml changed without `uv lock`. No Python downloads:
# the venv uses $(PYTHON).
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --extra dev --python $(PYTHON_EXE)
	@touch $(STAMP)

# The browser tests inject axe-core (pinned in package-lock.json) into each page they check.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

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
	$(BIN)/lint-imports --no-cache

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

# Fault injection (docs/operations.md, "Faults"): real Celery workers killed with SIGKILL mid-run, and PostgreSQL
# stopped during a stream of purchases, on a private cluster the suite starts itself (never the shared server).
# Needs Redis: TEST_CELERY_BROKER_URL (a database the suite may purge).
TEST_CELERY_BROKER_URL ?= redis://127.0.0.1:6379/15
test-faults: install
	TEST_CELERY_BROKER_URL=$(TEST_CELERY_BROKER_URL) $(BIN)/python tests/faults/run.py $(PYTEST_ARGS)

# Mutation testing of the money modules (slow, not in CI): see bench/mutate.py and bench/README.md.
mutate:
	$(BIN)/python bench/mutate.py $(MUTATE_ARGS)

worker: install
	$(BIN)/celery -A loyalty_site worker --loglevel=INFO

beat: install
	$(BIN)/celery -A loyalty_site beat --loglevel=INFO

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache node_modules
