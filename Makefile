# Two commands do everything: `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/alliance

.PHONY: setup demo serve test lint test-sqlite test-postgres bench clean

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
	env -u DATABASE_URL $(BIN)/pytest

# The science tests touch no database, so the PostgreSQL run covers the Django suites only.
test-postgres: setup
	@scripts/ensure-postgres
	DATABASE_URL=$(PG_URL) $(BIN)/pytest --ignore=tests/science

test: lint test-sqlite test-postgres

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
