"""Addresses that hard-bounced or complained are not invited again until an admin lifts them."""

from datetime import UTC, datetime

import pytest

from invitations import delivery, mail
from invitations.delivery import DeliveryOutcome
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def suppressed():
    bounced = Suppression.objects.create(
        email="ada@example.com", reason="bounced", detail="550 5.1.1 no such user", created=WHEN
    )
    complained = Suppression.objects.create(email="bob@example.com", reason="complained", created=WHEN)
    return bounced, complained


def test_the_form_says_when_and_why_the_address_bounced(suppressed):
    form = InvitationForm({"email": "ADA@example.com"})

    assert not form.is_valid()
    assert form.has_error("email", code="suppressed")
    assert form.errors["email"] == ["ADA@example.com bounced on 2026-11-30: 550 5.1.1 no such user."]


def test_the_form_says_the_address_complained(suppressed):
    form = InvitationForm({"email": "bob@example.com"})

    assert form.errors["email"] == ["bob@example.com complained on 2026-11-30."]


def test_the_bulk_page_says_it_for_each_suppressed_address(staff_client, suppressed):
    response = staff_client.post(
        "/invites/bulk/", {"addresses": "ada@example.com bob@example.com c@example.com"}, follow=True
    )

    page = response.content.decode()
    assert "1 of 3 invitation(s) queued for sending." in page
    assert "bounced on 2026-11-30: 550 5.1.1 no such user" in page
    assert "complained on 2026-11-30" in page
    assert list(Invitation.objects.values_list("email", flat=True)) == ["c@example.com"]


def test_the_admin_lifts_a_suppression_and_the_address_can_be_invited_again(admin_client, suppressed):
    bounced, complained = suppressed

    response = admin_client.post(
        "/admin/invitations/suppression/", {"action": "lift", "_selected_action": [bounced.pk]}, follow=True
    )

    assert "1 address(es) may be invited again." in response.content.decode()
    assert list(Suppression.objects.in_force()) == [complained]
    assert InvitationForm({"email": "ada@example.com"}).is_valid()


def test_the_admin_lists_suppressions_and_adds_none_by_hand(admin_client, suppressed):
    page = admin_client.get("/admin/invitations/suppression/").content.decode()

    assert "ada@example.com" in page
    assert "550 5.1.1 no such user" in page
    assert admin_client.get("/admin/invitations/suppression/add/").status_code == 403


def test_a_suppressed_address_is_not_mailed_and_its_row_says_why(deliver, mailoutbox, suppressed):
    # Queued before the complaint came in (or by an admin's retry): the worker checks again.
    invitation = Invitation.objects.create(email="Bob@example.com")

    assert deliver(invitation) == DeliveryOutcome.SUPPRESSED

    assert mailoutbox == []
    closed = Invitation.objects.get(pk=invitation.pk)
    assert (closed.status, closed.attempts, closed.claimed_by) == (Status.COMPLAINED, 0, "")
    assert closed.last_error == "not sent: the address complained on 2026-11-30"


def test_in_a_batch_only_the_suppressed_address_is_held_back(mailoutbox, suppressed):
    ada, carol = (Invitation.objects.create(email=f"{name}@example.com") for name in ("ada", "carol"))

    outcomes = delivery.invitations_deliver(
        invitation_ids=[ada.pk, carol.pk], worker="w1", mailer=mail.ReusableMailer()
    )

    assert outcomes == {ada.pk: DeliveryOutcome.SUPPRESSED, carol.pk: DeliveryOutcome.SENT}
    assert [m.to for m in mailoutbox] == [["carol@example.com"]]
    bounced = Invitation.objects.get(pk=ada.pk)
    assert bounced.status == Status.BOUNCED
    assert bounced.last_error == "not sent: the address bounced on 2026-11-30: 550 5.1.1 no such user"


@pytest.mark.parametrize(
    ("action", "status"), [("retry_now", Status.FAILED), ("resend", Status.SENT)], ids=["retry", "resend"]
)
def test_the_admin_does_not_queue_a_suppressed_address_again(
    admin_client, suppressed, django_capture_on_commit_callbacks, action, status
):
    invitation = Invitation.objects.create(email="bob@example.com", status=status, last_error="SMTP 451")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/invitations/invitation/",
            {"action": action, "_selected_action": [invitation.pk]},
            follow=True,
        )

    page = response.content.decode()
    assert "0 invitation(s) queued" in page
    assert "1 skipped: address suppressed (bounced, complained or opted out)." in page
    assert Invitation.objects.get(pk=invitation.pk).status == status
