"""An address that opted out is never mailed again: not by a new invitation, the admin's
resend or retry, or a wake-up already queued; until an admin lifts it."""

from datetime import UTC, datetime

import pytest

from invitations import services
from invitations.delivery import DeliveryOutcome
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def opted_out(sent_invitation):
    invitation, _ = sent_invitation
    services.invitation_opt_out(invitation=invitation)
    Suppression.objects.update(created=WHEN)
    invitation.refresh_from_db()
    return invitation


def test_the_form_and_the_bulk_page_say_when_the_address_asked(opted_out, staff_client):
    form = InvitationForm({"email": "Ada@example.com"})
    response = staff_client.post("/invites/bulk/", {"addresses": "ada@example.com"}, follow=True)

    assert form.errors["email"] == ["Ada@example.com asked not to be invited on 2026-11-30."]
    assert "asked not to be invited on 2026-11-30" in response.content.decode()


@pytest.mark.parametrize("action", ["resend", "retry_now"])
def test_the_admin_cannot_resend_or_retry_to_it(opted_out, admin_client, deliver, mailoutbox, action):
    if action == "retry_now":
        Invitation.objects.filter(pk=opted_out.pk).update(status=Status.FAILED)
    else:
        Invitation.objects.filter(pk=opted_out.pk).update(status=Status.SENT)
    mailed = len(mailoutbox)

    response = admin_client.post(
        "/admin/invitations/invitation/", {"action": action, "_selected_action": [opted_out.pk]}, follow=True
    )

    assert "1 skipped: address suppressed (bounced, complained or opted out)." in response.content.decode()
    assert deliver(opted_out) == DeliveryOutcome.SKIPPED
    assert len(mailoutbox) == mailed


def test_a_wake_up_already_queued_closes_the_invitation_unsent(opted_out, deliver, mailoutbox):
    queued = Invitation.objects.create(email="ADA@example.com")  # from before the opt-out, say
    mailed = len(mailoutbox)

    assert deliver(queued) == DeliveryOutcome.SUPPRESSED

    queued.refresh_from_db()
    assert queued.status == Status.OPTED_OUT
    assert queued.last_error == "not sent: the address asked not to be invited on 2026-11-30"
    assert len(mailoutbox) == mailed


def test_every_open_invitation_of_the_address_ends(staff, deliver):
    pending = Invitation.objects.create(email="bob@example.com")
    accepted = Invitation.objects.create(email="Bob@example.com", status=Status.ACCEPTED)

    services.invitation_opt_out(invitation=accepted)

    assert dict(Invitation.objects.values_list("pk", "status")) == {
        pending.pk: Status.OPTED_OUT,
        accepted.pk: Status.ACCEPTED,
    }
    assert Suppression.objects.get().email == "bob@example.com"


def test_an_address_suppressed_already_keeps_its_reason(opted_out):
    Suppression.objects.update(reason=Suppression.Reason.COMPLAINED)

    services.invitation_opt_out(invitation=opted_out)

    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINED


def test_the_admin_lifts_it_and_the_address_can_be_invited_again(opted_out, admin_client):
    suppression = Suppression.objects.get()

    admin_client.post(
        "/admin/invitations/suppression/", {"action": "lift", "_selected_action": [suppression.pk]}
    )

    assert InvitationForm({"email": "ada@example.com"}).is_valid()
