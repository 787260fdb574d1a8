# Two commands on a fresh machine: `make run` serves the API, `make test` runs every check.
# `make test` uses SQLite, or the PostgreSQL server that TEST_DATABASE_URL names (a database per
# test app is made on it); `make test-postgres` runs the suite on a throwaway PostgreSQL server.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-postgres test-clients explorer-assets check-migrations lint migrate bench clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

migrate: $(VENV)/.installed
	$(BIN)/flask --app wsgi db upgrade

# BIND wins when set (as in the README's deployment steps); otherwise HOST:PORT. gunicorn replaces
# the recipe's shell (exec), so Ctrl-C, or `kill %1` on a backgrounded job, reaches it.
run: migrate
	exec env BIND="$${BIND:-$(HOST):$(PORT)}" $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# Models and migrations agree: upgrade an empty database to head, then `flask db check`.
check-migrations: $(VENV)/.installed
	@scratch="$$(mktemp -d)" && trap 'rm -rf "$$scratch"' EXIT && \
	export DATABASE_URL="sqlite:///$$scratch/check.sqlite3" INSTANCE_PATH="$$scratch/instance" && \
	$(BIN)/flask --app wsgi db upgrade && $(BIN)/flask --app wsgi db check

test: lint check-migrations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# As CI does: the suite on a PostgreSQL server started for it and deleted afterwards.
test-postgres: $(VENV)/.installed
	scripts/with-postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The front-end checks (tests marked `clients`): real client tooling from clients/ (codegen, tsc,
# Apollo Client, newman, graphql-inspector, graphql-http's audit), the explorer and the staff
# console in headless Chromium, each against a real server. Needs Node.js and npm, and Debian's chromium.
test-clients: $(VENV)/.installed $(VENV)/.installed-clients
	cd clients && npm ci --no-audit --no-fund --loglevel=error
	$(BIN)/python -m pytest -m clients $(PYTEST_ARGS)

$(VENV)/.installed-clients: requirements-clients.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-clients.txt
	touch $@

# The explorers' files in service/graphql/static/explorer/vendor/ (committed: `make run` needs no Node),
# rebuilt from explorer/package-lock.json, each package's licence beside its files. Needs Node.js and npm.
explorer-assets:
	cd explorer && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node build.mjs

# The mail's message catalogs (service/translations): extract the English sentences from the mail
# templates into messages.pot, merge them into the fa and ru catalogs, compile the .mo files (committed;
# a test checks they match the .po). New or changed sentences come out untranslated: translate them
# in the .po files, then run this again.
translations: $(VENV)/.installed
	$(BIN)/pybabel --quiet extract -F babel.cfg --no-wrap --sort-by-file --project=accounts-service \
		-o service/translations/messages.pot .
	$(BIN)/pybabel --quiet update --no-wrap --no-fuzzy-matching --ignore-obsolete \
		-i service/translations/messages.pot -d service/translations
	$(BIN)/pybabel compile --statistics -d service/translations

# Load benchmark (benchmarks/load.py): the service and a bare-Flask reference under gunicorn, driven
# by wrk (apt-get install wrk). Minutes long; not part of `make test`. BENCH_ARGS=--quick for a smoke run.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts clients/node_modules clients/build clients/src/generated explorer/node_modules
