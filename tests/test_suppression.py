"""Addresses that hard-bounced or complained are not invited again until an admin lifts them."""

from datetime import UTC, datetime

import pytest

from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
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
        "/invites/bulk/", {"addresses": "ada@example.com bob@example.com c@example.com"}
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
