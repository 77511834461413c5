import json
import os
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from invitations.models import Invitation
from myproject.dbpool import RecentUseCheck

READ_OPTIONS = (
    "from django.conf import settings; options = settings.DATABASES['default']['OPTIONS'];"
    " print(json.dumps({name: options.get(name) for name in ('server_side_binding', 'prepare_threshold')}))"
)


def database_options(**env: str) -> dict:
    """The default database's OPTIONS as the settings module builds them from `env`."""
    script = f"import json, django; django.setup(); {READ_OPTIONS}"
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "myproject.settings", "DEBUG": "1", **env}
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_postgresql_prepares_repeated_statements_unless_told_not_to():
    url = {"DATABASE_URL": "postgres://app@db.invalid:5432/app"}  # never connected to

    default, refused = database_options(**url), database_options(**url, DATABASE_PREPARED_STATEMENTS="0")

    assert (default["server_side_binding"], default["prepare_threshold"]) == (True, 5)
    assert refused == {"server_side_binding": None, "prepare_threshold": None}
    assert database_options(DATABASE_URL="sqlite:///:memory:")["server_side_binding"] is None


@pytest.mark.django_db(transaction=True)
def test_a_query_run_again_on_one_connection_is_answered_by_a_prepared_statement():
    for _ in range(6):  # psycopg prepares it on its 5th run
        Invitation.objects.filter(email="ada@example.com").exists()

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [statement for (statement,) in cursor]
        wanted = 'WHERE "invitations_invitation"."email" = $'
        assert any(wanted in statement for statement in prepared), prepared
    else:  # SQLite's own statement cache needs nothing from the settings
        assert "prepare_threshold" not in connection.settings_dict["OPTIONS"]


class FakeConnection:
    """Stands for a psycopg connection: the health check only ever hands it on."""


def test_a_connection_in_use_a_moment_ago_is_handed_out_without_a_round_trip(monkeypatch):
    asked = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(asked.append))
    clock = iter([100.0, 100.5, 101.4, 101.5, 102.5])  # the moments of handing out
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    check, connection, other = RecentUseCheck(fresh_for=1.0), FakeConnection(), FakeConnection()

    check(connection)  # never handed out: a new connection, or one the pool just made
    assert asked == [connection]
    check(connection)  # half a second later: the server is not asked
    check(connection)  # nor 0.9 s after that
    assert asked == [connection]
    check(other)  # each connection on its own
    assert asked == [connection, other]
    check(connection)  # 1.1 s later: it is
    assert asked == [connection, other, connection]


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_that_died_while_idle_is_replaced_before_a_request_sees_it(monkeypatch):
    pool = connection.settings_dict["OPTIONS"].get("pool")
    if connection.vendor != "postgresql":
        assert pool is None  # SQLite opens its file per request: nothing to check
        return
    monkeypatch.setattr(pool["check"], "fresh_for", 0.0)  # all count as idle for long
    connection.ensure_connection()
    connection.close()  # back to the pool, with any others it holds
    database = connection.settings_dict
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    ) as other:
        killed = other.execute(
            "SELECT pid FROM pg_stat_activity, pg_terminate_backend(pid)"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed  # every connection idle in the pool has died

    assert Invitation.objects.count() == 0  # no OperationalError: the pool replaced it
    assert (connection.connection.info.backend_pid,) not in killed
