import psycopg
import pytest
from django.db import connection

from invitations.models import Invitation


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_that_died_while_idle_is_replaced_before_a_request_sees_it():
    pool = connection.settings_dict["OPTIONS"].get("pool")
    if connection.vendor != "postgresql":
        assert pool is None  # SQLite opens its file per request: nothing to check
        return
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
