# Caseworks: `make run` serves the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Development server: debug on, demo sign-in without MFA, emails printed to the console.
RUN_ENV := DEBUG=1 MFA_REQUIRED_FOR=
# Tests run on the production settings, minus what needs TLS in front of the server.
TEST_ENV := SECRET_KEY=tests-only-secret-key-not-for-production-use-0123456789 DEBUG=0 \
	ALLOWED_HOSTS=127.0.0.1,localhost,testserver SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 \
	BEHIND_TLS_PROXY=0 STATICFILES_BACKEND=django.contrib.staticfiles.storage.StaticFilesStorage \
	TASKS_BACKEND=django_tasks.backends.immediate.ImmediateBackend MFA_REQUIRED_FOR=
# Production-like environment for `check --deploy`.
DEPLOY_ENV := SECRET_KEY=$$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=') DEBUG=0 \
	ALLOWED_HOSTS=caseworks.example.gov DATABASE_URL=sqlite:///:memory:

.PHONY: run test lint install install-dev assets demo migrate format clean screenshots bench

run: install assets ## Install, migrate SQLite, load the demo data, run web, worker and scheduler
	$(RUN_ENV) $(PY) manage.py migrate --no-input
	$(RUN_ENV) $(PY) manage.py load_demo
	@echo ""
	@echo "Caseworks is starting on http://$(HOST):$(PORT)/ (web, worker, scheduler; Ctrl-C stops all)"
	@echo "  Agency sign-in:         http://$(HOST):$(PORT)/login/"
	@echo "  Partner Portal sign-in: http://$(HOST):$(PORT)/portal/login/"
	@echo "  Admin:                  http://$(HOST):$(PORT)/admin/"
	@echo "  Demo logins (password caseworks-demo): admin, manager, caseworker, partner, partner2, partnermgr, outsider"
	@echo ""
# Procfile: web, worker, scheduler. honcho gives web PORT (the others PORT+100, PORT+200),
# and one Ctrl-C stops all three. Unbuffered, so that the worker's emails show as sent;
# SITE_URL, so that their links point at this server.
	$(RUN_ENV) HOST=$(HOST) PORT=$(PORT) SITE_URL=http://$(HOST):$(PORT) PYTHONUNBUFFERED=1 \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

test: install-dev assets ## Run the whole suite (DATABASE_URL when set, SQLite otherwise)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev ## ruff, formatting, mypy, migrations, deployment checks, bandit, pip-audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(TEST_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/bandit -q -r casesite accounts partners cases portal demo -c pyproject.toml
	$(PY) scripts/pip_audit.py

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.lock | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed-runtime
	$(PY) -m pip install --quiet -r requirements-dev.lock
	touch $@

assets: static/vendor/.installed ## USWDS and htmx from npm into static files (no CDN)

static/vendor/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor/uswds static/vendor/htmx
	cp -r node_modules/@uswds/uswds/dist/css node_modules/@uswds/uswds/dist/js \
		node_modules/@uswds/uswds/dist/img node_modules/@uswds/uswds/dist/fonts static/vendor/uswds/
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	touch $@

demo: install assets
	$(RUN_ENV) $(PY) manage.py migrate --no-input
	$(RUN_ENV) $(PY) manage.py load_demo

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles db.sqlite3 var

# Benchmark (docs/performance.md): scratch PostgreSQL database caseworks_bench (dropped and
# recreated), gunicorn on the production settings, wrk. BENCH_CASES=1000000 for the full run,
# BENCH_RATIO_CASES=100000 to also measure the 1M/100k latency ratio.
BENCH_CASES ?= 20000
BENCH_RATIO_CASES ?= 0
BENCH_ROUNDS ?= 3
BENCH_SECONDS ?= 5
BENCH_PORT ?= 8731
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/caseworks_bench
BENCH_ARGS ?=
bench: install assets ## Measure pages, My Cases SQL, routing and memory on a seeded database
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py --cases $(BENCH_CASES) \
		--ratio-cases $(BENCH_RATIO_CASES) --rounds $(BENCH_ROUNDS) \
		--seconds $(BENCH_SECONDS) --port $(BENCH_PORT) $(BENCH_ARGS)

# README screenshots (docs/screenshots/): a scratch SQLite database with the demo data, a
# development server on a spare port in the background, scripts/screenshots.py against it;
# the server is stopped whatever happens.
SCREENSHOTS_PORT ?= 8765
SCREENSHOTS_DB := var/screenshots.sqlite3
SCREENSHOTS_ENV := $(RUN_ENV) DATABASE_URL=sqlite:///$(SCREENSHOTS_DB)
screenshots: install-dev assets ## Retake the README screenshots from fresh demo data
	mkdir -p var && rm -f $(SCREENSHOTS_DB)
	$(SCREENSHOTS_ENV) $(PY) manage.py migrate --no-input
	$(SCREENSHOTS_ENV) $(PY) manage.py load_demo
	$(SCREENSHOTS_ENV) $(PY) manage.py runserver --noreload 127.0.0.1:$(SCREENSHOTS_PORT) \
		> var/screenshots-server.log 2>&1 & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT; \
	$(PY) scripts/screenshots.py --wait 30 http://127.0.0.1:$(SCREENSHOTS_PORT) \
		|| { tail -n 20 var/screenshots-server.log; exit 1; }
