"""The board's filters, keyset pages and row actions (invitations/board.py)."""

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from invitations import board
from invitations.board import BoardQuery, Cursor, Refusal, RowAction
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
NOW = timezone.now()


def invite(email: str, minutes_ago: int = 0, **fields) -> Invitation:
    return Invitation.objects.create(email=email, created=NOW - timedelta(minutes=minutes_ago), **fields)


def emails(page: board.BoardPage) -> list[str]:
    return [invitation.email for invitation in page.rows]


def test_a_cursor_survives_its_text_form_to_the_microsecond():
    cursor = Cursor(NOW.replace(microsecond=123456), 42)

    assert Cursor.parse(str(cursor)) == cursor


@pytest.mark.parametrize("text", ["", "abc", "12-", "-3", "1.5-3", "12-x", "١٢-٣", "9" * 30 + "-1"])
def test_a_cursor_that_is_no_cursor_is_ignored(text):
    assert Cursor.parse(text) is None


def test_unknown_filters_are_ignored_and_known_ones_kept():
    assert BoardQuery.from_params(QueryDict("status=nonsense&sender=x&before=y&q=")) == BoardQuery()
    query = BoardQuery.from_params(QueryDict("status=expired&sender=7&q=%20ada%20"))
    assert (query.status, query.sender, query.search) == ("expired", 7, "ada")


def test_pages_go_older_and_newer_without_gaps_or_repeats():
    for n in range(7):
        invite(f"p{n}@example.com", minutes_ago=n)
    invite("same-time@example.com", minutes_ago=3)  # two rows at one instant: the id decides

    first = board.board_page(BoardQuery(), size=3)
    second = board.board_page(BoardQuery(before=first.older), size=3)
    third = board.board_page(BoardQuery(before=second.older), size=3)
    back = board.board_page(BoardQuery(after=third.newer), size=3)

    assert emails(first) == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert emails(second) == ["same-time@example.com", "p3@example.com", "p4@example.com"]
    assert emails(third) == ["p5@example.com", "p6@example.com"]
    assert (first.newer, first.first, third.older) == (None, True, None)
    assert back.rows == second.rows
    assert back.newer is not None


def test_newer_from_the_second_page_is_the_full_first_page():
    for n in range(5):
        invite(f"p{n}@example.com", minutes_ago=n)
    second = board.board_page(BoardQuery(before=board.board_page(BoardQuery(), size=3).older), size=3)

    back = board.board_page(BoardQuery(after=second.newer), size=3)

    assert emails(back) == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert back.first


def test_expired_is_a_filter_of_its_own_and_sent_leaves_it_out(settings):
    invite("fresh@example.com", status=Status.SENT, sent=NOW - timedelta(days=1))
    invite("old@example.com", status=Status.SENT, sent=NOW - timedelta(days=30))

    assert emails(board.board_page(BoardQuery(status="expired"))) == ["old@example.com"]
    assert emails(board.board_page(BoardQuery(status="sent"))) == ["fresh@example.com"]
    assert board.board_page(BoardQuery(status="expired")).rows[0].status_label() == "expired"


def test_search_is_a_prefix_of_the_address_in_any_case_and_sender_a_user(staff):
    invite("ada@example.com", sender=staff)
    invite("adam@example.com")
    invite("bob.ada@example.com", sender=staff)

    assert emails(board.board_page(BoardQuery(search="ADA"))) == ["adam@example.com", "ada@example.com"]
    assert emails(board.board_page(BoardQuery(sender=staff.pk))) == ["bob.ada@example.com", "ada@example.com"]


def test_the_sender_filter_lists_only_users_who_sent_invitations(staff, django_user_model):
    django_user_model.objects.create_user("invitee")
    invite("ada@example.com", sender=staff)
    invite("bob@example.com")

    assert board.board_senders() == [staff]


def test_resend_of_an_expired_invitation_queues_it_again_with_a_new_link():
    invitation = invite("ada@example.com", status=Status.SENT, sent=NOW - timedelta(days=30))

    result = board.invitation_act(invitation_id=invitation.pk, action=RowAction.RESEND, seen="expired")

    assert result.refusal is None
    assert result.invitation.status == Status.PENDING
    assert result.invitation.key_nonce != invitation.key_nonce


@pytest.mark.parametrize(
    ("action", "seen", "now"),
    [
        (RowAction.REVOKE, "pending", Status.SENT),  # sent meanwhile: the revoke was of a pending one
        (RowAction.RESEND, "sent", Status.ACCEPTED),
        (RowAction.RETRY, "failed", Status.PENDING),
        (RowAction.RETRY, "accepted", Status.ACCEPTED),  # a retry never applies to it
    ],
)
def test_an_action_on_a_row_that_changed_meanwhile_changes_nothing(action, seen, now):
    invitation = invite("ada@example.com", status=now, sent=NOW)

    result = board.invitation_act(invitation_id=invitation.pk, action=action, seen=seen)

    assert result.refusal == Refusal.CHANGED
    invitation.refresh_from_db()
    assert invitation.status == now


def test_a_retry_to_a_suppressed_address_or_one_invited_again_says_why():
    failed = invite("ada@example.com", status=Status.FAILED)
    Suppression.objects.create(email="ada@example.com", reason="bounced")
    other = invite("bob@example.com", status=Status.FAILED)
    invite("bob@example.com", status=Status.PENDING)

    assert board.invitation_act(invitation_id=failed.pk, action=RowAction.RETRY, seen="failed").refusal == (
        Refusal.SUPPRESSED
    )
    assert board.invitation_act(invitation_id=other.pk, action=RowAction.RETRY, seen="failed").refusal == (
        Refusal.TAKEN
    )


def test_an_action_on_a_deleted_invitation_says_it_is_gone():
    result = board.invitation_act(invitation_id=999, action=RowAction.REVOKE, seen="pending")

    assert (result.invitation, result.refusal) == (None, Refusal.GONE)
