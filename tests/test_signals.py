"""The host's hooks: each signal arrives once, after the transaction that caused it commits."""

import logging

import pytest

from invitations import signals, tracking
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-kettle-93"


@pytest.fixture
def received():
    """Connects a receiver to every signal; returns what each received, by signal name."""
    heard: dict[str, list[dict]] = {}
    connected = []
    for name in ("invitation_created", "invitation_sent", "invitation_accepted", "invitation_bounced"):

        def receiver(sender, signal, name=name, **kwargs):
            heard.setdefault(name, []).append({"sender": sender, **kwargs})

        getattr(signals, name).connect(receiver)
        connected.append((getattr(signals, name), receiver))
    yield heard
    for signal, receiver in connected:
        signal.disconnect(receiver)


def test_created_arrives_after_commit_for_the_form(
    staff_client, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        staff_client.post("/invites/new/", {"email": "ada@example.com"})
    assert "invitation_created" not in received  # not before the commit

    for callback in callbacks:
        callback()

    [event] = received["invitation_created"]
    assert event["sender"] is Invitation
    assert event["invitation"].email == "ada@example.com"


def test_created_arrives_for_each_address_of_a_bulk_invite(
    staff_client, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/invites/bulk/", {"addresses": "a@example.com b@example.com nope"})

    assert sorted(e["invitation"].email for e in received["invitation_created"]) == [
        "a@example.com",
        "b@example.com",
    ]


def test_sent_arrives_once_the_mail_is_stamped(staff, deliver, received, django_capture_on_commit_callbacks):
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(invitation)

    [event] = received["invitation_sent"]
    assert event["invitation"].pk == invitation.pk
    assert event["invitation"].sent is not None


def test_accepted_carries_the_new_user_and_the_request(
    client, sent_invitation, received, django_capture_on_commit_callbacks
):
    invitation, key = sent_invitation
    client.get(f"/invites/accept/{key}/")

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/invites/accept/set/", {"username": "ada", "password1": PASSWORD, "password2": PASSWORD})

    [event] = received["invitation_accepted"]
    assert event["invitation"].pk == invitation.pk
    assert event["user"].get_username() == "ada"
    assert event["request"].path == "/invites/accept/set/"


def test_bounced_carries_the_providers_words(sent_invitation, received, django_capture_on_commit_callbacks):
    invitation, _ = sent_invitation
    invitation.message_id = "<m1@example.com>"
    Invitation.objects.filter(pk=invitation.pk).update(message_id=invitation.message_id)

    with django_capture_on_commit_callbacks(execute=True):
        tracking.invitation_record_event(
            message_id="<m1@example.com>", event_type="bounced", reason="550 no such user"
        )

    [event] = received["invitation_bounced"]
    assert (event["invitation"].pk, event["reason"]) == (invitation.pk, "550 no such user")


def test_a_receiver_that_raises_is_logged_and_undoes_nothing(
    staff_client, caplog, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("the host's bug")

    signals.invitation_created.connect(broken)
    try:
        with (
            caplog.at_level(logging.ERROR, "invitations.signals"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = staff_client.post("/invites/new/", {"email": "ada@example.com"})
    finally:
        signals.invitation_created.disconnect(broken)

    assert response.status_code == 302
    assert Invitation.objects.filter(email="ada@example.com").exists()
    assert "the host's bug" in caplog.text
