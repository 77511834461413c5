"""Data migrations, run forward from the state before them on the real schema."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("invitations", "0002_sender_created_index"), ("invitations", "0003_idna_email_domains")


@pytest.fixture
def migrate():
    """Migrate to a state and return its apps; the latest state is restored afterwards."""

    def migrate_to(target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([target])
        return executor.loader.project_state([target]).apps

    yield migrate_to
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_domains_take_their_idna_form_and_one_mailbox_keeps_one_open_invitation(migrate):
    old = migrate(BEFORE).get_model("invitations", "Invitation")
    first = old.objects.create(email="user@bücher.example", status="sent")
    second = old.objects.create(email="user@xn--bcher-kva.example", status="pending")
    closed = old.objects.create(email="USER@BÜCHER.example", status="failed")
    plain = old.objects.create(email="Ada@Example.com", status="pending")

    Invitation = migrate(AFTER).get_model("invitations", "Invitation")

    rows = {row.pk: (row.email, row.status) for row in Invitation.objects.all()}
    assert rows == {
        first.pk: ("user@xn--bcher-kva.example", "sent"),  # the oldest open one stays open
        second.pk: ("user@xn--bcher-kva.example", "revoked"),
        closed.pk: ("USER@xn--bcher-kva.example", "failed"),
        plain.pk: ("Ada@example.com", "pending"),
    }
    assert "same mailbox" in Invitation.objects.get(pk=second.pk).last_error


@pytest.mark.django_db(transaction=True)
def test_quotes_that_are_not_needed_go_and_one_mailbox_keeps_one_open_invitation_and_suppression(migrate):
    before = migrate(("invitations", "0005_derived_keys"))
    old, old_suppression = (
        before.get_model("invitations", "Invitation"),
        before.get_model("invitations", "Suppression"),
    )
    first = old.objects.create(email="first@example.com", status="sent")
    quoted = old.objects.create(email='"first"@example.com', status="sent")
    escaped = old.objects.create(email='"\\first"@example.com', status="accepted")
    literal = old.objects.create(email="x@[127.0.0.1]", status="pending")
    needed = old.objects.create(email='"a b"@example.com', status="pending")
    old_suppression.objects.create(email="bnc@example.com", reason="bounced")
    old_suppression.objects.create(email='"bnc"@example.com', reason="bounced")
    old_suppression.objects.create(email='"other"@example.com', reason="complained")

    after = migrate(("invitations", "0006_unquoted_local_parts"))

    Invitation, Suppression = (
        after.get_model("invitations", "Invitation"),
        after.get_model("invitations", "Suppression"),
    )
    rows = {row.pk: (row.email, row.status) for row in Invitation.objects.all()}
    assert rows == {
        first.pk: ("first@example.com", "sent"),
        quoted.pk: ("first@example.com", "revoked"),
        escaped.pk: ("first@example.com", "accepted"),
        literal.pk: ("x@[127.0.0.1]", "revoked"),
        needed.pk: ('"a b"@example.com', "revoked"),
    }
    assert sorted(Suppression.objects.values_list("email", flat=True)) == [
        "bnc@example.com",
        "other@example.com",
    ]


@pytest.mark.django_db(transaction=True)
def test_accept_keys_that_sessions_kept_are_taken_out(migrate):
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    migrate(("invitations", "0007_suppression_lifted"))
    scanner, visitor, other = SessionStore(), SessionStore(), SessionStore()
    scanner["invitation_accept_key"] = "1-" + "a" * 64
    visitor.update({"invitation_accept_key": "2-" + "b" * 64, "_auth_user_id": "7"})
    other["_auth_user_id"] = "8"
    for store in (scanner, visitor, other):
        store.create()

    migrate(("invitations", "0008_forget_accept_keys_in_sessions"))

    kept = {row.session_key: row.get_decoded() for row in Session.objects.all()}
    assert kept == {visitor.session_key: {"_auth_user_id": "7"}, other.session_key: {"_auth_user_id": "8"}}


@pytest.mark.django_db(transaction=True)
def test_invitations_that_ended_before_0009_get_the_best_time_there_is(migrate):
    from datetime import UTC, datetime

    created, sent, accepted = (datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3))
    old = migrate(("invitations", "0008_forget_accept_keys_in_sessions")).get_model(
        "invitations", "Invitation"
    )
    times = {"created": created, "sent": sent}
    rows = {
        "accepted": old.objects.create(email="a@x.com", status="accepted", accepted=accepted, **times),
        "failed": old.objects.create(email="f@x.com", status="failed", **times),
        "revoked": old.objects.create(email="r@x.com", status="revoked", created=created),
        "sent": old.objects.create(email="s@x.com", status="sent", **times),
    }

    Invitation = migrate(("invitations", "0009_opt_out_and_retention")).get_model("invitations", "Invitation")

    ended = dict(Invitation.objects.values_list("pk", "ended"))
    assert {name: ended[row.pk] for name, row in rows.items()} == {
        "accepted": accepted,
        "failed": sent,
        "revoked": created,
        "sent": None,  # open: its end is its link's expiry
    }
