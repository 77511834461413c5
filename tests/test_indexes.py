"""The questions the board, the admin, /healthz and /metrics ask of a large table are answered
from an index: the plan of each reads no whole table (PostgreSQL's EXPLAIN, or SQLite's)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
ROWS = 5000
STATUSES = [Status.ACCEPTED] * 11 + [Status.SENT] * 4 + [Status.REVOKED, Status.FAILED, Status.BOUNCED]


@pytest.fixture
def table():
    """A few thousand invitations, mostly long accepted, as a table that has been in use looks."""
    now = timezone.now()
    rows = []
    for n in range(ROWS):
        created = now - timedelta(minutes=ROWS - n)
        status = Status.PENDING if n >= ROWS - 5 else STATUSES[n % len(STATUSES)]
        sent = None if status in (Status.PENDING, Status.FAILED) else created + timedelta(seconds=2)
        rows.append(
            Invitation(
                email=f"person{n}@example{n % 97}.com", status=status, created=created, sent=sent,
                message_id=f"<{n}.mail@example.com>" if sent else "", next_attempt_at=created,
                published_at=created,
            )
        )  # fmt: skip
    Invitation.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invitations_invitation")


def reads_every_row(queryset) -> bool:
    plan = queryset.explain()
    if connection.vendor == "postgresql":
        return "Seq Scan" in plan
    # SQLite: a SCAN of the table without an index, or a sort of all its rows.
    scans = [line for line in plan.splitlines() if "SCAN invitations_invitation" in line]
    return any("INDEX" not in line for line in scans) or "TEMP B-TREE" in plan


def test_the_board_reads_the_newest_from_an_index(table):
    assert not reads_every_row(Invitation.objects.all()[:50])


@pytest.mark.parametrize("status", [Status.FAILED, Status.PENDING, Status.ACCEPTED])
def test_a_status_filter_reads_the_newest_of_that_status_from_an_index(table, status):
    assert not reads_every_row(Invitation.objects.filter(status=status)[:100])


def test_the_open_and_expired_sent_are_ranges_on_an_index(table):
    assert not reads_every_row(Invitation.objects.unexpired_sent()[:100])
    assert not reads_every_row(Invitation.objects.unexpired_sent().order_by())


def test_the_search_for_an_address_prefix_or_message_id_uses_indexes(table):
    by_message_id = Q(message_id="<4321.mail@example.com>")
    if connection.vendor == "postgresql":
        found = Invitation.objects.filter(Q(email__startswith="person432") | by_message_id).order_by()
    else:  # SQLite's LIKE is case-insensitive, and uses no index: a small database's search scans
        found = Invitation.objects.filter(by_message_id).order_by()
    assert not reads_every_row(found)


def test_the_health_figures_read_only_open_and_failed_rows(table):
    waiting = Invitation.objects.filter(status__in=[Status.PENDING, Status.SENDING, Status.FAILED])
    assert not reads_every_row(waiting.order_by().values("created"))


def test_the_recent_send_latency_reads_a_range_of_sent_times(table):
    assert not reads_every_row(
        Invitation.objects.sent_since(timezone.now() - timedelta(minutes=5)).order_by()
    )


def test_the_sweep_finds_unpublished_pending_rows_from_an_index(table):
    assert not reads_every_row(Invitation.objects.forgotten(timezone.now()).order_by())


def board_query(**filters):
    from invitations import board

    query = board.BoardQuery(**filters)
    rows = board.board_rows(query)
    if query.before:
        rows = board._past(rows, query.before, newer=False)
    return rows.order_by("-created", "-id")[:51]


def test_the_boards_pages_and_filters_read_from_indexes(table, staff):
    from invitations.board import Cursor

    Invitation.objects.filter(pk__in=Invitation.objects.order_by("id").values("pk")[:100]).update(
        sender=staff
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invitations_invitation")
    second_page = Cursor.of(Invitation.objects.all()[50])

    assert not reads_every_row(board_query(before=second_page))
    assert not reads_every_row(board_query(status="expired", before=second_page))
    assert not reads_every_row(board_query(status=Status.PENDING, sender=staff.pk))
    if connection.vendor == "postgresql":  # SQLite's LIKE uses no index (see above)
        assert not reads_every_row(board_query(search="person432"))
