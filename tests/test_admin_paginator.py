"""The admin's changelist on a large table: no count of every row, searches from an index."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invitations.admin import EstimatedCountPaginator
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
CHANGELIST = "/admin/invitations/invitation/"


@pytest.fixture
def table(monkeypatch):
    """Six accepted and six failed invitations, as a "large" table: exact counts stop at 3."""
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_UP_TO", 3)
    for n in range(6):
        Invitation.objects.create(email=f"ada{n}@example.com", status=Status.ACCEPTED)
        Invitation.objects.create(email=f"Bob{n}@example.com", status=Status.FAILED, message_id=f"<{n}@mail>")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invitations_invitation")


def counts_of_every_row(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"] and "WHERE" not in q["sql"]]


def test_the_unfiltered_list_shows_how_many_without_counting_every_row_on_postgresql(admin_client, table):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)

    assert response.context["cl"].result_count == 12  # PostgreSQL's estimate after ANALYZE
    assert "12 invitations" in response.content.decode()
    if connection.vendor == "postgresql":
        assert counts_of_every_row(queries) == []
    else:  # SQLite counts: a database of that kind is small
        assert len(counts_of_every_row(queries)) == 1


def test_a_filtered_list_counts_at_most_a_few_rows_exactly(admin_client, table):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST, {"status": "failed"})

    assert len(response.context["cl"].result_list) == 6
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"]]
    if connection.vendor == "postgresql":
        assert response.context["cl"].result_count >= 4  # counted up to 4, then estimated
        assert all("LIMIT 4" in sql for sql in counts), counts
    else:
        assert response.context["cl"].result_count == 6
    assert counts_of_every_row(queries) == []  # and no second, "of N total" count


def listed(response) -> set[str]:
    return {invitation.email for invitation in response.context["cl"].result_list}


def test_search_finds_the_start_of_an_address_in_either_case(admin_client, table):
    assert listed(admin_client.get(CHANGELIST, {"q": "ADA3@"})) == {"ada3@example.com"}
    assert listed(admin_client.get(CHANGELIST, {"q": "Bob2"})) == {"Bob2@example.com"}


def test_search_finds_a_providers_message_id(admin_client, table):
    assert listed(admin_client.get(CHANGELIST, {"q": "<4@mail>"})) == {"Bob4@example.com"}


def test_the_changelist_has_no_date_list_over_every_row(admin_client, table):
    response = admin_client.get(CHANGELIST)

    assert response.context["cl"].date_hierarchy is None
    assert 'class="xfull"' not in response.content.decode()
