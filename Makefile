# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLOWDECK_INSTANCE ?= $(CURDIR)/instance
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: run test test-sqlite test-postgres lint security format clean translations bench bench-lookups bench-rollups screenshots lock

# Installs the exact versions of constraints.txt (the ones the test suite passed with).
$(BIN)/flowdeck: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,redis]'
	touch $@

# Refresh constraints.txt: the newest versions pyproject.toml allows, resolved in a fresh
# virtualenv; then run `make test` and commit constraints.txt when it passes.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[test,redis]'
	printf '%s\n' '# The exact versions the test suite passed with (make lock writes it; make and .ci/run install from it).' > constraints.txt
	$(LOCK_VENV)/bin/pip freeze --exclude-editable --all | grep -v -E '^(pip|setuptools|wheel)==' >> constraints.txt
	rm -rf $(LOCK_VENV) $(VENV)

run: $(BIN)/flowdeck
	$(BIN)/flowdeck init --demo
	@echo "Sign in at http://$(HOST):$(PORT)/ as admin (password printed above on first run, or FLOWDECK_ADMIN_PASSWORD)"
	@echo "or as a demo user, e.g. wang.fang / alice, with the demo password: $$($(BIN)/python -c 'from flowdeck.demo import DEMO_PASSWORD; print(DEMO_PASSWORD)')"
	@echo "Background jobs run in a worker beside the web server (Admin -> Background jobs)."
	FLOWDECK_EMBEDDED_WORKER=off $(BIN)/flowdeck worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
		FLOWDECK_EMBEDDED_WORKER=off $(BIN)/flowdeck run --host $(HOST) --port $(PORT)

test: lint security test-sqlite test-postgres

lint: $(BIN)/flowdeck
	$(BIN)/ruff format --check platform tests
	$(BIN)/ruff check platform tests

# Static security checks (settings in pyproject.toml). Known vulnerabilities in the pinned
# versions: `pip-audit -r constraints.txt` where it can reach its database (docs/deploy.md).
security: $(BIN)/flowdeck
	$(BIN)/bandit -q -r platform -c pyproject.toml -ll

test-sqlite: $(BIN)/flowdeck
	FLOWDECK_TEST_DB=sqlite $(BIN)/python -m pytest -q

test-postgres: $(BIN)/flowdeck
	FLOWDECK_TEST_DB=postgresql FLOWDECK_TEST_PG_URL="$${FLOWDECK_TEST_PG_URL:-$(PG_URL)}" $(BIN)/python -m pytest -q

format: $(BIN)/flowdeck
	$(BIN)/ruff format platform tests
	$(BIN)/ruff check --fix platform tests

# The UI's words and the engine's messages (M, Mp, Mn): extract them (Python and templates), merge them into the Chinese catalog
# (created the first time), then compile the .mo the app reads. Translate what is new in
# platform/translations/zh/LC_MESSAGES/messages.po, run this again, commit .po and .mo.
# Babel matches babel.cfg's paths relative to the directory it extracts from: the repo root.
I18N := platform/translations
translations: $(BIN)/flowdeck
	$(BIN)/pybabel extract -F platform/translations/babel.cfg -k _l -k lazy_gettext -k M -k Mp:1c,2 -k Mn:1,2 --add-comments=TRANSLATORS: \
		--project=Flowdeck --version=0.1.0 --msgid-bugs-address= -o $(I18N)/messages.pot .
	if [ -f $(I18N)/zh/LC_MESSAGES/messages.po ]; then \
		$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N) -l zh --no-fuzzy-matching --ignore-obsolete; \
	else \
		$(BIN)/pybabel init -i $(I18N)/messages.pot -d $(I18N) -l zh; \
	fi
	$(BIN)/pybabel compile -d $(I18N) -l zh --statistics

# Peer benchmark (docs/performance.md): the floor and Flowdeck through the shared harness,
# then in-process and raw SQL timings and profiles. N=10000 by default; N=1000000 with
# FLOWDECK_BENCH_DATABASE_URL=postgresql://.../flowdeck_bench for PostgreSQL.
# PEERS_HOME: the harness (default ../shared/peers); results in bench/results/.
bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py

# Lookups (issue #12): a list with two lookup columns against one without, in process.
# N=10000 on a temporary SQLite file; LOOKUP_BENCH_ARGS="--url postgresql+psycopg://... --tasks 1000000".
bench-lookups: $(VENV)/.bench-installed
	$(BIN)/python bench/lookups.py $(LOOKUP_BENCH_ARGS)

# Roll-ups (issue #12): saves with three levels of roll-ups against saves without, list pages
# with a roll-up column, and the plan's rebuild; interleaved rounds, in process. N=10000 on a
# temporary SQLite file; ROLLUP_BENCH_ARGS="--url postgresql://... --tasks 1000000 --trees 4".
bench-rollups: $(VENV)/.bench-installed
	$(BIN)/python bench/rollups.py $(ROLLUP_BENCH_ARGS)

$(VENV)/.bench-installed: $(BIN)/flowdeck pyproject.toml
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,redis,bench]'
	touch $@

# The README's screenshots (docs/screenshots/*.png, 1280x800, English and Chinese, demo
# data): the browser tests save them when FLOWDECK_SCREENSHOTS=1. Needs Debian's chromium
# and fonts-wqy-microhei (.ci/run installs both). Look at them, then commit the PNGs.
screenshots: $(BIN)/flowdeck
	FLOWDECK_SCREENSHOTS=1 FLOWDECK_TEST_DB=sqlite $(BIN)/python -m pytest -q -m browser tests/browser

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info
