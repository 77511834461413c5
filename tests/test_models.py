from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from invitations.models import Invitation

Status = Invitation.Status
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
transactional = pytest.mark.django_db(transaction=True)


def invite(email: str, **fields) -> Invitation:
    return Invitation.objects.create(email=email, **fields)


def emails(queryset) -> set[str]:
    return set(queryset.values_list("email", flat=True))


@transactional
@pytest.mark.parametrize("status", [Status.PENDING, Status.SENDING, Status.SENT])
def test_open_invitation_blocks_another_to_the_same_address(status):
    invite("ada@example.com", status=status)

    with pytest.raises(IntegrityError):
        invite("ada@example.com")

    assert Invitation.objects.count() == 1


@transactional
def test_one_open_invitation_per_address_ignores_case():
    invite("ada@example.com")

    with pytest.raises(IntegrityError):
        invite("ADA@Example.COM")


@transactional
@pytest.mark.parametrize("status", [Status.FAILED, Status.REVOKED, Status.ACCEPTED])
def test_address_can_be_invited_again_once_the_old_invitation_is_closed(status):
    invite("ada@example.com", status=status)

    invite("Ada@example.com")

    assert Invitation.objects.filter(email__iexact="ada@example.com").count() == 2


@pytest.mark.django_db
def test_model_validation_explains_the_duplicate():
    invite("ada@example.com")

    with pytest.raises(ValidationError, match="already has an open invitation"):
        Invitation(email="ADA@example.com").validate_constraints()


@pytest.mark.django_db
def test_open_addresses_are_found_whatever_their_case():
    invite("ada@example.com")
    invite("grace@example.org", status=Status.SENT)
    invite("bob@example.com", status=Status.FAILED)

    found = Invitation.objects.open_addresses(["ADA@EXAMPLE.COM", "grace@example.org", "bob@example.com"])

    assert found == {"ada@example.com", "grace@example.org"}
    assert Invitation.objects.open_addresses([]) == set()


@pytest.mark.django_db
def test_due_is_pending_invitations_whose_attempt_time_has_come():
    invite("now@example.com", next_attempt_at=NOW)
    invite("past@example.com", next_attempt_at=NOW - timedelta(hours=1))
    invite("later@example.com", next_attempt_at=NOW + timedelta(seconds=1))
    invite("sending@example.com", status=Status.SENDING, next_attempt_at=NOW - timedelta(hours=1))
    invite("failed@example.com", status=Status.FAILED, next_attempt_at=NOW - timedelta(hours=1))

    assert emails(Invitation.objects.due(NOW)) == {"now@example.com", "past@example.com"}


claim_due = Invitation.objects.claim_due


@pytest.mark.django_db
def test_claim_due_takes_a_due_invitation_once():
    invitation = invite("ada@example.com", next_attempt_at=NOW, attempts=1)

    [claimed] = claim_due([invitation.pk], worker="w1", now=NOW)
    again = claim_due([invitation.pk], worker="w2", now=NOW)

    assert again == []
    stored = Invitation.objects.get(pk=invitation.pk)
    for row in (claimed, stored):
        assert (row.pk, row.email, row.status, row.attempts) == (
            invitation.pk,
            "ada@example.com",
            "sending",
            2,
        )
        assert (row.claimed_by, row.claimed_at) == ("w1", NOW)


@pytest.mark.django_db
def test_claim_due_takes_the_due_ones_of_a_batch_in_the_order_asked():
    first, second, third = (invite(f"{name}@example.com", next_attempt_at=NOW) for name in "abc")
    taken = invite("taken@example.com", status=Status.SENDING, claimed_by="w0", claimed_at=NOW)
    missing = third.pk + 100

    claimed = claim_due([third.pk, taken.pk, first.pk, missing, third.pk, second.pk], worker="w1", now=NOW)

    assert [row.email for row in claimed] == ["c@example.com", "a@example.com", "b@example.com"]
    assert emails(Invitation.objects.filter(claimed_by="w1", status=Status.SENDING)) == {
        "a@example.com",
        "b@example.com",
        "c@example.com",
    }
    assert Invitation.objects.get(pk=taken.pk).claimed_by == "w0"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"next_attempt_at": NOW + timedelta(seconds=1)},
        *({"status": status} for status in Status if status != Status.PENDING),
    ],
)
def test_claim_due_leaves_what_is_not_due(fields):
    invitation = invite("ada@example.com", **{"next_attempt_at": NOW, **fields})

    assert claim_due([invitation.pk], worker="w1", now=NOW) == []
    assert claim_due([invitation.pk + 1], worker="w1", now=NOW) == []
    assert claim_due([], worker="w1", now=NOW) == []
    assert Invitation.objects.get(pk=invitation.pk).claimed_by == ""


@pytest.mark.django_db
def test_release_hands_back_only_the_workers_own_unused_claims():
    mine, theirs = (invite(f"{name}@example.com", next_attempt_at=NOW) for name in ("mine", "theirs"))
    Invitation.objects.claim_due([mine.pk], worker="w1", now=NOW)
    Invitation.objects.claim_due([theirs.pk], worker="w2", now=NOW)

    assert Invitation.objects.release_unused([mine.pk, theirs.pk], worker="w1") == 1

    released = Invitation.objects.get(pk=mine.pk)
    assert (released.status, released.attempts, released.claimed_by) == (Status.PENDING, 0, "")
    assert (released.claimed_at, released.published_at) == (None, None)  # the sweep publishes it again
    assert Invitation.objects.get(pk=theirs.pk).status == Status.SENDING


@pytest.mark.django_db
def test_forgotten_is_due_invitations_never_published_or_published_long_ago(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "REPUBLISH_AFTER": 45}
    due = {"next_attempt_at": NOW - timedelta(minutes=5)}
    invite("never@example.com", published_at=None, **due)
    invite("stale@example.com", published_at=NOW - timedelta(seconds=45), **due)
    invite("fresh@example.com", published_at=NOW - timedelta(seconds=44), **due)
    invite("later@example.com", published_at=None, next_attempt_at=NOW + timedelta(minutes=1))
    invite("sent@example.com", status=Status.SENT, published_at=None, **due)

    assert emails(Invitation.objects.forgotten(NOW)) == {"never@example.com", "stale@example.com"}


@pytest.mark.django_db
def test_abandoned_is_claims_older_than_the_claim_timeout(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "CLAIM_TIMEOUT": 60}
    sending = {"status": Status.SENDING}
    invite("dead@example.com", claimed_at=NOW - timedelta(seconds=60), **sending)
    invite("busy@example.com", claimed_at=NOW - timedelta(seconds=59), **sending)
    invite("pending@example.com", claimed_at=NOW - timedelta(hours=1))

    assert emails(Invitation.objects.abandoned(NOW)) == {"dead@example.com"}


@pytest.mark.django_db
def test_expired_is_sent_invitations_older_than_the_expiry(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}
    invite("old@example.com", status=Status.SENT, sent=NOW - timedelta(days=7))
    invite("recent@example.com", status=Status.SENT, sent=NOW - timedelta(days=6, hours=23))
    invite("accepted@example.com", status=Status.ACCEPTED, sent=NOW - timedelta(days=30))

    assert emails(Invitation.objects.expired(NOW)) == {"old@example.com"}


@pytest.mark.django_db
def test_expired_defaults_to_the_current_time(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}
    invite("old@example.com", status=Status.SENT, sent=datetime(2020, 1, 1, tzinfo=UTC))
    invite("recent@example.com", status=Status.SENT, sent=datetime.now(UTC))

    assert emails(Invitation.objects.expired()) == {"old@example.com"}


def test_is_expired_once_the_expiry_has_passed(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}
    invitation = Invitation(email="ada@example.com", status=Status.SENT, sent=NOW)

    assert invitation.expires == NOW + timedelta(days=7)
    assert not invitation.is_expired(now=NOW + timedelta(days=6))
    assert invitation.is_expired(now=NOW + timedelta(days=7))


@pytest.mark.parametrize("status", [Status.PENDING, Status.ACCEPTED, Status.REVOKED])
def test_only_sent_invitations_expire(status):
    sent = None if status == Status.PENDING else datetime(2020, 1, 1, tzinfo=UTC)
    invitation = Invitation(email="ada@example.com", status=status, sent=sent)

    assert not invitation.is_expired(now=NOW)


def test_str_shows_address_and_status():
    assert str(Invitation(email="ada@example.com", status=Status.FAILED)) == "ada@example.com (failed)"
