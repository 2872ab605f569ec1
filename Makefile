# Two commands do everything: `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/alliance

.PHONY: setup demo serve test lint test-sqlite test-postgres bench clean lock

setup:
	@scripts/bootstrap

demo: setup
	$(BIN)/alliance demo

serve: setup
	$(BIN)/alliance serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy alliance
	$(BIN)/bandit -q -r alliance -ll -ii -x alliance/science,alliance/accounts/migrations,alliance/care/migrations,alliance/audit/migrations
	@scripts/audit-dependencies

test-sqlite: setup
	@scripts/ensure-redis
	env -u DATABASE_URL $(BIN)/pytest

# The science tests touch no database, so the PostgreSQL run covers the Django suites only.
test-postgres: setup
	@scripts/ensure-postgres
	@scripts/ensure-redis
	DATABASE_URL=$(PG_URL) $(BIN)/pytest --ignore=tests/science

test: lint test-sqlite test-postgres

# Renew the locks from pyproject.toml (the newest versions its ranges allow, every file's hash):
# requirements.lock (with the dev tools) is what `make setup` and CI install; deploy/requirements.lock
# (the same versions, without dev tools) is what a server installs (docs/deployment.md). Commit
# both; tests/ops/test_ops_lock.py checks they agree with pyproject.toml and the virtualenv.
# Pins keep their extras (`cachecontrol[filecache]==...`): pip resolves an extra apart from the
# plain pin. The server's lock is constrained by a copy without them (constraints take no extras).
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --no-strip-extras --no-emit-index-url \
	--no-emit-find-links --upgrade
lock: setup
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev -o requirements.lock pyproject.toml
	sed -E 's/^([A-Za-z0-9_.-]+)\[[^]]*\]==/\1==/' requirements.lock > $(VENV)/constraints.lock
	$(BIN)/pip-compile $(LOCK_FLAGS) -c $(VENV)/constraints.lock -o deploy/requirements.lock pyproject.toml

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
