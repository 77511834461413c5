"""myproject/database.py: the web process's statement timeout, and only the web process's."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client

from invitations import health
from myproject.database import limit_statements

ROOT = Path(__file__).resolve().parent.parent
SHOW_OPTIONS = (
    "from django.db import connections; print(connections['default'].settings_dict['OPTIONS'].get('options'))"
)


def options_of(*command: str) -> str:
    environment = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",  # never connected to
        "DATABASE_STATEMENT_TIMEOUT": "1500",
        "DEBUG": "1",
    }
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]  # after what `shell` says of its imports


def test_the_web_process_has_a_statement_timeout():
    assert (
        options_of(sys.executable, "-c", f"import myproject.asgi; {SHOW_OPTIONS}")
        == "-c statement_timeout=1500"
    )


def test_the_worker_and_migrate_have_none():
    # runworker loads myproject.asgi too, after manage.py configured settings.
    script = f"import myproject.asgi; {SHOW_OPTIONS}"
    assert options_of(sys.executable, "manage.py", "shell", "-c", script) == "None"


def test_sqlite_and_zero_have_no_limit():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}
    postgres = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"options": "-c search_path=app"}}

    limit_statements(sqlite, 1500)
    limit_statements(postgres, 0)

    assert "OPTIONS" not in sqlite
    assert postgres["OPTIONS"] == {"options": "-c search_path=app"}


@pytest.mark.django_db
def test_postgresql_cancels_a_statement_past_the_limit():
    database = connection.settings_dict
    if connection.vendor != "postgresql":
        limit_statements(database := {**database, "OPTIONS": {}}, 50)
        assert database["OPTIONS"] == {}  # SQLite has no statement timeout to set
        return
    limited = {**database, "OPTIONS": {}}
    limit_statements(limited, 50)
    with (
        psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            user=database["USER"],
            dbname=database["NAME"],
            options=limited["OPTIONS"]["options"],
        ) as other,
        pytest.raises(psycopg.errors.QueryCanceled),
    ):
        other.execute("SELECT pg_sleep(2)")


@pytest.mark.django_db
def test_a_request_whose_statement_is_cancelled_gets_the_503_page(staff, monkeypatch):
    def slow_query():
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":  # SQLite has no statement timeout: what Django raises
                raise OperationalError("canceling statement due to statement timeout")
            cursor.execute("SET LOCAL statement_timeout = 50")  # as DATABASE_STATEMENT_TIMEOUT sets it
            cursor.execute("SELECT pg_sleep(2)")

    monkeypatch.setattr(health, "provider_pause", slow_query)  # a query of the board's
    browser = Client(raise_request_exception=False)
    browser.force_login(staff)

    response = browser.get("/invites/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
