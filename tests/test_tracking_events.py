"""Which provider events count: not a replay or a late event after an admin's lift, not a
refusal that is about the sender rather than the address."""

from datetime import UTC, datetime, timedelta

import pytest
from anymail.exceptions import AnymailNotSupportedWarning
from django.utils import timezone

from invitations import services
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression
from tests.integration.provider_webhooks import postmark_event, sendgrid_events
from tests.test_tracking import auth, row

pytestmark = pytest.mark.django_db
Status = Invitation.Status


def sent(message_id: str) -> Invitation:
    return Invitation.objects.create(
        email="ada@example.com", status=Status.SENT, sent=timezone.now(), message_id=message_id, attempts=1
    )


def post(client, body_and_type) -> int:
    body, content_type = body_and_type
    return client.post("/anymail/postmark/tracking/", body, content_type=content_type, **auth()).status_code


def bounce(message_id: str, at: datetime | None = None, kind: str = "bounced"):
    return postmark_event(kind, message_id=message_id, recipient="ada@example.com", at=at)


def lift() -> None:
    services.suppressions_lift(ids=list(Suppression.objects.values_list("pk", flat=True)))


def may_be_invited() -> bool:
    return InvitationForm({"email": "ada@example.com"}).is_valid()


def test_a_replayed_bounce_does_not_undo_the_admins_lift(client):
    first = sent("pm-1")
    hard_bounce = bounce("pm-1")
    assert post(client, hard_bounce) == 200
    lift()

    assert post(client, hard_bounce) == 200  # the provider retries its webhook

    assert may_be_invited()
    assert row(first).status == Status.BOUNCED


def test_a_late_bounce_about_an_earlier_invitation_changes_nothing(client):
    sent("pm-1")
    assert post(client, bounce("pm-1", at=datetime.now(UTC) - timedelta(minutes=5))) == 200
    lift()
    again = sent("pm-2")

    assert post(client, bounce("pm-1")) == 200  # about the first mail, stamped after the lift

    assert may_be_invited() is False  # the second one is open, and nothing else
    assert row(again).status == Status.SENT
    assert services.suppression_notes(emails=["ada@example.com"]) == {}


def test_a_new_bounce_of_the_invitation_sent_after_the_lift_suppresses_again(client):
    sent("pm-1")
    assert post(client, bounce("pm-1", at=datetime.now(UTC) - timedelta(minutes=5))) == 200
    lift()
    again = sent("pm-2")

    assert post(client, bounce("pm-2")) == 200

    assert row(again).status == Status.BOUNCED
    assert list(services.suppression_notes(emails=["ada@example.com"])) == ["ada@example.com"]
    assert Suppression.objects.get(email="ada@example.com").invitation == again


@pytest.mark.parametrize("kind", ["blocked", "dmarc"])
def test_a_postmark_refusal_that_leaves_the_address_active_is_recorded_not_suppressed(client, kind):
    invitation = sent("pm-1")

    assert post(client, bounce("pm-1", kind=kind)) == 200

    assert row(invitation).status == Status.BOUNCED
    assert "blocklist" in row(invitation).last_error or "DMARC" in row(invitation).last_error
    assert not Suppression.objects.exists()
    assert may_be_invited()


@pytest.mark.parametrize(("bounce_type", "suppressed"), [("blocked", False), ("bounce", True)])
def test_a_sendgrid_bounce_suppresses_only_when_it_is_about_the_address(client, bounce_type, suppressed):
    invitation = sent("sg-1")
    event = {"event": "bounce", "message_id": "sg-1", "recipient": "ada@example.com", "type": bounce_type}
    event["reason"] = "550 5.7.1 sending IP listed on a blocklist" if bounce_type == "blocked" else None
    body, content_type = sendgrid_events([event])

    with pytest.warns(AnymailNotSupportedWarning):
        response = client.post("/anymail/sendgrid/tracking/", body, content_type=content_type, **auth())

    assert response.status_code == 200
    assert row(invitation).status == Status.BOUNCED
    assert Suppression.objects.exists() is suppressed
    assert may_be_invited() is not suppressed
