# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine
# with only Python and pip: uv is installed on first use, dependencies come from uv.lock.
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --frozen
PYTEST := $(RUN) pytest
# Tests that touch the database run a second time against PostgreSQL when this is set.
EXODERM_TEST_POSTGRES_URL ?=
POSTGRES_SUITES := tests/domain tests/api tests/photos

.PHONY: demo test uv chromium lint bench

uv:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

demo: uv
	$(RUN) exoderm demo

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; }

test: uv chromium
	$(PYTEST) -m "not postgres"
	@if [ -n "$(EXODERM_TEST_POSTGRES_URL)" ]; then \
	  echo "== the database tests again, on PostgreSQL =="; \
	  DATABASE_URL="$(EXODERM_TEST_POSTGRES_URL)" $(PYTEST) -m "not browser" $(POSTGRES_SUITES); \
	elif [ "$$CI" = "true" ]; then \
	  echo "CI must run the PostgreSQL tests: set EXODERM_TEST_POSTGRES_URL" >&2; exit 1; \
	else echo "(PostgreSQL pass not run: set EXODERM_TEST_POSTGRES_URL=postgres://user@host/db to run it)"; fi

lint: uv
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy src

bench: uv
	$(RUN) python -m bench.recall
