from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from invitations.models import Invitation, open_and_recent_sql

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


def open_and_recent(email, sender=None, since=NOW - timedelta(hours=1)) -> tuple[bool, int]:
    return Invitation.objects.open_and_recent(email, sender_pk=sender.pk if sender else None, since=since)


@pytest.mark.django_db
def test_an_open_invitation_is_found_whatever_the_case_of_the_address():
    invite("ada@example.com")
    invite("ada@example.org", status=Status.SENT)

    assert open_and_recent("ADA@EXAMPLE.COM") == (True, 0)
    assert open_and_recent("grace@example.com") == (False, 0)
    assert open_and_recent(None) == (False, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.FAILED, Status.REVOKED, Status.ACCEPTED])
def test_a_closed_invitation_does_not_count_as_open(status):
    invite("ada@example.com", status=status)

    assert open_and_recent("ada@example.com") == (False, 0)


@pytest.mark.django_db
def test_a_senders_invitations_since_a_time_are_counted(django_user_model):
    sender, other = (django_user_model.objects.create_user(name) for name in ("staff", "other"))
    for created in (NOW - timedelta(minutes=59), NOW - timedelta(hours=1), NOW - timedelta(minutes=61)):
        invite(f"{created:%H%M}@example.com", sender=sender, created=created)
    invite("other@example.com", sender=other, created=NOW, status=Status.FAILED)

    assert open_and_recent("0000@example.com", sender=sender) == (False, 2)  # the limit included
    assert open_and_recent("1101@example.com", sender=sender) == (True, 2)
    assert open_and_recent("1101@example.com", sender=None) == (True, 0)
    assert open_and_recent(None, sender=other) == (False, 1)  # closed ones count too


def index_plan(sql: str, params: list) -> str:
    """The plan the database picks for `sql` when an index can answer it at all, as a prepared
    statement's generic plan: the values are not known when it is planned."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            numbered = sql
            for number in range(1, len(params) + 1):
                numbered = numbered.replace("%s", f"${number}", 1)
            cursor.execute(f"PREPARE planned AS {numbered}")
            arguments = connection.ops.compose_sql(", ".join(["%s"] * len(params)), params)
            cursor.execute(f"EXPLAIN EXECUTE planned({arguments})")
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)  # SQLite binds them, as when it runs
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.django_db
def test_both_checks_are_answered_from_indexes(django_user_model):
    sender = django_user_model.objects.create_user("staff")
    plan = index_plan(open_and_recent_sql(connection), ["ada@example.com", sender.pk, NOW])

    if connection.vendor == "postgresql":
        assert "Scan using unique_open_invitation_per_email" in plan, plan
        assert "Index Cond: (lower((email)::text) = $1)" in plan, plan  # a lookup, not a scan
        assert "Scan using invitation_sender_idx" in plan, plan
        assert "Index Cond: ((sender_id = $2) AND (created >= $3))" in plan, plan  # both columns
    else:
        assert "USING INDEX unique_open_invitation_per_email (<expr>=?)" in plan, plan
        assert "USING COVERING INDEX invitation_sender_idx (sender_id=? AND created>?)" in plan, plan


def stored(invitation: Invitation) -> dict:
    fields = Invitation.objects.filter(pk=invitation.pk).values().get()
    return {name: value for name, value in fields.items() if name not in ("id", "email")}


@pytest.mark.django_db
def test_insert_stores_the_row_that_save_would(django_user_model, django_assert_num_queries):
    sender = django_user_model.objects.create_user("staff")
    times = {"created": NOW, "next_attempt_at": NOW, "published_at": NOW}  # else defaults of now
    saved = invite("saved@example.com", sender=sender, **times)
    inserted = Invitation(email="inserted@example.com", sender=sender, **times)

    with django_assert_num_queries(1):
        Invitation.objects.insert(inserted)

    assert inserted.pk == saved.pk + 1
    assert (inserted._state.adding, inserted._state.db) == (False, "default")
    assert stored(inserted) == stored(saved)
    defaulted = Invitation(email="defaults@example.com")
    Invitation.objects.insert(defaulted)
    assert Invitation.objects.get(pk=defaulted.pk).next_attempt_at == defaulted.next_attempt_at
    inserted.status = Status.REVOKED
    inserted.save(update_fields=["status"])  # an instance like any other loaded one
    assert Invitation.objects.get(pk=inserted.pk).status == Status.REVOKED


@pytest.mark.django_db(transaction=True)
def test_insert_is_refused_by_the_open_invitation_constraint():
    invite("ada@example.com")

    with pytest.raises(IntegrityError):
        Invitation.objects.insert(Invitation(email="ADA@example.com"))
    assert Invitation.objects.count() == 1


@pytest.mark.django_db
def test_due_is_pending_invitations_whose_attempt_time_has_come():
    invite("now@example.com", next_attempt_at=NOW)
    invite("past@example.com", next_attempt_at=NOW - timedelta(hours=1))
    invite("later@example.com", next_attempt_at=NOW + timedelta(seconds=1))
    invite("sending@example.com", status=Status.SENDING, next_attempt_at=NOW - timedelta(hours=1))
    invite("failed@example.com", status=Status.FAILED, next_attempt_at=NOW - timedelta(hours=1))

    assert emails(Invitation.objects.due(NOW)) == {"now@example.com", "past@example.com"}


@pytest.fixture(params=["returning", "update then select"])
def claim_due(request, monkeypatch):
    """Invitation.objects.claim_due, by UPDATE … RETURNING and by the fallback for databases without it."""
    if request.param != "returning":
        from django.db import connection

        monkeypatch.setattr(connection.features, "can_return_rows_from_update", False)
    return Invitation.objects.claim_due


@pytest.mark.django_db
def test_claim_due_takes_a_due_invitation_once(claim_due):
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
def test_claim_due_takes_the_due_ones_of_a_batch_in_the_order_asked(claim_due):
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
def test_claim_due_leaves_what_is_not_due(claim_due, fields):
    invitation = invite("ada@example.com", **{"next_attempt_at": NOW, **fields})

    assert claim_due([invitation.pk], worker="w1", now=NOW) == []
    assert claim_due([invitation.pk + 1], worker="w1", now=NOW) == []
    assert claim_due([], worker="w1", now=NOW) == []
    assert Invitation.objects.get(pk=invitation.pk).claimed_by == ""


@pytest.mark.django_db
def test_stamp_sent_records_the_mail_only_for_the_worker_holding_the_claim():
    invitation = invite("ada@example.com", next_attempt_at=NOW)
    Invitation.objects.claim_due([invitation.pk], worker="w1", now=NOW)
    sent = NOW + timedelta(seconds=1)

    assert not Invitation.objects.stamp_sent(invitation.pk, worker="w2", sent=sent, key_digest="e" * 64)
    assert Invitation.objects.stamp_sent(invitation.pk, worker="w1", sent=sent, key_digest="d" * 64)
    assert not Invitation.objects.stamp_sent(invitation.pk, worker="w1", sent=sent, key_digest="d" * 64)

    stamped = Invitation.objects.get(pk=invitation.pk)
    assert (stamped.status, stamped.sent, stamped.key_digest) == (Status.SENT, sent, "d" * 64)
    assert (stamped.claimed_at, stamped.last_error, stamped.attempts) == (None, "", 1)


@pytest.mark.django_db
def test_release_hands_back_only_the_workers_own_unused_claims():
    mine, theirs = (invite(f"{name}@example.com", next_attempt_at=NOW) for name in ("mine", "theirs"))
    Invitation.objects.claim_due([mine.pk], worker="w1", now=NOW)
    Invitation.objects.claim_due([theirs.pk], worker="w2", now=NOW)

    assert Invitation.objects.release([mine.pk, theirs.pk], worker="w1") == 1

    released = Invitation.objects.get(pk=mine.pk)
    assert (released.status, released.attempts, released.claimed_by) == (Status.PENDING, 0, "")
    assert (released.claimed_at, released.published_at) == (None, None)  # the sweep publishes it again
    assert Invitation.objects.get(pk=theirs.pk).status == Status.SENDING


@pytest.mark.django_db
def test_forgotten_is_due_invitations_never_published_or_published_long_ago(settings):
    settings.INVITATION_REPUBLISH_AFTER = 45
    due = {"next_attempt_at": NOW - timedelta(minutes=5)}
    invite("never@example.com", published_at=None, **due)
    invite("stale@example.com", published_at=NOW - timedelta(seconds=45), **due)
    invite("fresh@example.com", published_at=NOW - timedelta(seconds=44), **due)
    invite("later@example.com", published_at=None, next_attempt_at=NOW + timedelta(minutes=1))
    invite("sent@example.com", status=Status.SENT, published_at=None, **due)

    assert emails(Invitation.objects.forgotten(NOW)) == {"never@example.com", "stale@example.com"}


@pytest.mark.django_db
def test_abandoned_is_claims_older_than_the_claim_timeout(settings):
    settings.INVITATION_CLAIM_TIMEOUT = 60
    sending = {"status": Status.SENDING}
    invite("dead@example.com", claimed_at=NOW - timedelta(seconds=60), **sending)
    invite("busy@example.com", claimed_at=NOW - timedelta(seconds=59), **sending)
    invite("pending@example.com", claimed_at=NOW - timedelta(hours=1))

    assert emails(Invitation.objects.abandoned(NOW)) == {"dead@example.com"}


@pytest.mark.django_db
def test_expired_is_sent_invitations_older_than_the_expiry(settings):
    settings.INVITATION_EXPIRY_DAYS = 7
    invite("old@example.com", status=Status.SENT, sent=NOW - timedelta(days=7))
    invite("recent@example.com", status=Status.SENT, sent=NOW - timedelta(days=6, hours=23))
    invite("accepted@example.com", status=Status.ACCEPTED, sent=NOW - timedelta(days=30))

    assert emails(Invitation.objects.expired(NOW)) == {"old@example.com"}


@pytest.mark.django_db
def test_expired_defaults_to_the_current_time(settings):
    settings.INVITATION_EXPIRY_DAYS = 7
    invite("old@example.com", status=Status.SENT, sent=datetime(2020, 1, 1, tzinfo=UTC))
    invite("recent@example.com", status=Status.SENT, sent=datetime.now(UTC))

    assert emails(Invitation.objects.expired()) == {"old@example.com"}


def test_is_expired_once_the_expiry_has_passed(settings):
    settings.INVITATION_EXPIRY_DAYS = 7
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
