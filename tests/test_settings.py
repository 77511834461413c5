import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from invitations.models import Invitation

READ_OPTIONS = "from django.conf import settings; print(json.dumps(settings.DATABASES['default']['OPTIONS']))"


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
    assert "server_side_binding" not in refused
    assert "prepare_threshold" not in refused
    assert "server_side_binding" not in database_options(DATABASE_URL="sqlite:///:memory:")


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
