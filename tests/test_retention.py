"""Retention: invitations that ended long ago are deleted (by hand or by the workers, once a
day for the fleet); open ones and suppressions stay."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from invitations import retention
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
ENDED = [Status.ACCEPTED, Status.REVOKED, Status.FAILED, Status.BOUNCED, Status.COMPLAINED, Status.OPTED_OUT]


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def history():
    """One invitation of each ending, 40 days ago; others that must stay."""
    old = {status: Invitation.objects.create(email=f"{status}@example.com", status=status, ended=days_ago(40))
           for status in ENDED}  # fmt: skip
    old["expired"] = Invitation.objects.create(
        email="expired@example.com", status=Status.SENT, sent=days_ago(50)
    )
    kept = [
        Invitation.objects.create(email="recent@example.com", status=Status.REVOKED, ended=days_ago(10)),
        Invitation.objects.create(
            email="lately@example.com", status=Status.SENT, sent=days_ago(35)
        ),  # expired 28 d ago
        Invitation.objects.create(email="pending@example.com", created=days_ago(90)),
    ]
    Suppression.objects.create(email="bounced@example.com", reason="bounced", invitation=old[Status.BOUNCED])
    return old, kept


def test_the_command_deletes_what_ended_long_ago_and_says_how_many_of_each(history, capsys):
    _, kept = history

    call_command("purge_invitations", "--older-than-days", "30")

    assert capsys.readouterr().out == (
        "deleted 7 invitation(s) that ended more than 30 day(s) ago: accepted 1, bounced 1, complained 1, "
        "expired 1, failed 1, opted_out 1, revoked 1\n"
    )
    assert set(Invitation.objects.all()) == set(kept)
    suppression = Suppression.objects.get()  # suppressions stay, without their invitation
    assert (suppression.email, suppression.invitation) == ("bounced@example.com", None)


def test_a_dry_run_counts_and_deletes_nothing(history, capsys):
    call_command("purge_invitations", "--older-than-days", "30", "--dry-run")

    assert capsys.readouterr().out.startswith(
        "would delete 7 invitation(s) that ended more than 30 day(s) ago:"
    )
    assert Invitation.objects.count() == 10


def test_it_deletes_in_batches(history):
    deleted = retention.invitations_purge(older_than_days=30, batch=2)

    assert deleted.total() == 7
    assert Invitation.objects.count() == 3


def test_ending_stamps_the_time_and_a_retry_clears_it(staff):
    revoked, failed = (
        Invitation.objects.create(email="a@example.com"),
        Invitation.objects.create(email="b@example.com"),
    )
    Invitation.objects.filter(pk=revoked.pk).revoke()
    Invitation.objects.filter(pk=failed.pk).update(status=Status.SENDING, claimed_by="w")
    Invitation.objects.fail(failed.pk, worker="w", error="550 no")
    assert all(Invitation.objects.values_list("ended", flat=True))

    Invitation.objects.filter(pk=failed.pk).requeue(statuses=[Status.FAILED])

    failed.refresh_from_db()
    assert (failed.status, failed.ended) == (Status.PENDING, None)
