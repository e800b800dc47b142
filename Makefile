# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine
# with only Python and pip: uv is installed on first use, dependencies come from uv.lock.
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --frozen
PYTEST := $(RUN) pytest
# Tests that touch the database run a second time against PostgreSQL when this is set.
EXODERM_TEST_POSTGRES_URL ?=
POSTGRES_SUITES := tests/domain tests/api tests/photos tests/trust tests/ops tests/safety tests/studies tests/booking tests/messaging tests/signing tests/study_results
# Suites that depend on the date and the clinic's wall clock run again at awkward instants.
CLOCK_SUITES := tests/domain tests/api tests/web tests/booking tests/signing

.PHONY: demo test uv chromium faketime lint bench screenshots

uv:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

demo: uv
	$(RUN) exoderm demo

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; }

faketime:
	@command -v faketime >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq faketime >/dev/null; \
	  else echo "The clock tests need libfaketime: sudo apt-get install -y faketime" >&2; exit 1; fi; }

test: uv chromium faketime
	$(PYTEST) -n auto -m "not postgres"
	@echo "== the date-dependent tests again, at the awkward instants of tests/awkward_instants.py =="
	@$(RUN) python -m tests.awkward_instants | while IFS= read -r instant; do \
	  echo "-- the clock at $$instant UTC"; \
	  faketime -f "@$$instant" $(PYTEST) -q -n auto -m "not browser and not postgres and not clock_free" $(CLOCK_SUITES) || exit 1; \
	done
	@if [ -n "$(EXODERM_TEST_POSTGRES_URL)" ]; then \
	  echo "== the database tests again, on PostgreSQL =="; \
	  DATABASE_URL="$(EXODERM_TEST_POSTGRES_URL)" $(PYTEST) -n auto -m "not browser and not off_postgres" $(POSTGRES_SUITES); \
	elif [ "$$CI" = "true" ]; then \
	  echo "CI must run the PostgreSQL tests: set EXODERM_TEST_POSTGRES_URL" >&2; exit 1; \
	else echo "(PostgreSQL pass not run: set EXODERM_TEST_POSTGRES_URL=postgres://user@host/db to run it)"; fi

lint: uv
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy src

bench: uv
	$(RUN) python -m bench.recall
	$(RUN) python -m bench.audit
	$(RUN) python -m bench.backup
	$(RUN) python -m bench.load

# The browser tests leave their screenshots in build/screenshots/; this publishes the last run's.
screenshots:
	@test -d build/screenshots || { echo "No screenshots yet: run make test first" >&2; exit 1; }
	mkdir -p docs/screenshots && cp build/screenshots/*.png docs/screenshots/
