"""Providers' tracking webhooks, posted over HTTP in each provider's own format."""

import base64

import pytest
from django.utils import timezone

from invitations.models import Invitation, Suppression
from tests.integration.provider_webhooks import postmark_event

pytestmark = pytest.mark.django_db
Status = Invitation.Status
SECRET = "provider:webhook-test-secret"  # tests/environment.py


def auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


@pytest.fixture
def sent():
    return Invitation.objects.create(
        email="ada@example.com", status=Status.SENT, sent=timezone.now(), message_id="pm-1", attempts=1
    )


def post_postmark(client, kind: str, message_id: str = "pm-1", **headers):
    body, content_type = postmark_event(kind, message_id=message_id, recipient="ada@example.com")
    return client.post("/anymail/postmark/tracking/", body, content_type=content_type, **headers)


def row(invitation: Invitation) -> Invitation:
    return Invitation.objects.get(pk=invitation.pk)


def test_delivered_stamps_the_delivery_once(client, sent):
    assert post_postmark(client, "delivered", **auth()).status_code == 200
    first = row(sent).delivered

    assert post_postmark(client, "delivered", **auth()).status_code == 200  # a replay

    assert first is not None
    assert (row(sent).status, row(sent).delivered) == (Status.SENT, first)


def test_a_hard_bounce_marks_the_invitation_and_suppresses_the_address(client, sent):
    assert post_postmark(client, "bounced", **auth()).status_code == 200
    assert post_postmark(client, "bounced", **auth()).status_code == 200  # a replay changes nothing

    assert row(sent).status == Status.BOUNCED
    assert "unable to deliver" in row(sent).last_error
    [suppression] = Suppression.objects.all()
    assert (suppression.email, suppression.reason, suppression.invitation) == (
        "ada@example.com",
        "bounced",
        sent,
    )


def test_a_complaint_marks_the_invitation_and_suppresses_the_address(client, sent):
    assert post_postmark(client, "complained", **auth()).status_code == 200

    assert row(sent).status == Status.COMPLAINED
    assert Suppression.objects.get().reason == "complained"


def test_a_soft_bounce_suppresses_nothing(client, sent):
    assert post_postmark(client, "soft_bounce", **auth()).status_code == 200

    assert row(sent).status == Status.SENT
    assert not Suppression.objects.exists()


def test_an_unknown_message_id_changes_nothing_and_is_acknowledged(client, sent):
    assert post_postmark(client, "bounced", message_id="someone-elses", **auth()).status_code == 200

    assert row(sent).status == Status.SENT
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("headers", [auth("provider:wrong"), {}], ids=["wrong-secret", "no-secret"])
def test_a_webhook_without_the_secret_is_refused_and_changes_nothing(client, sent, headers):
    response = post_postmark(client, "bounced", **headers)

    assert response.status_code in (400, 401, 403)
    assert row(sent).status == Status.SENT
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b'"a string"', b"[]", b"\xff\xfe"])
def test_a_malformed_body_is_a_400_that_changes_nothing(client, sent, body):
    response = client.post("/anymail/postmark/tracking/", body, content_type="application/json", **auth())

    assert response.status_code == 400
    assert row(sent).status == Status.SENT


def test_the_board_shows_what_the_provider_said(client, staff_client, sent):
    post_postmark(client, "delivered", **auth())

    assert "sent, delivered" in staff_client.get("/invites/").content.decode()
