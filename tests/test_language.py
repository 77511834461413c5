"""The invitee's language: chosen on the form (default the sender's), used by the worker for the
mail and by the invitee's pages until they choose another."""

import pytest

from invitations.models import Invitation

pytestmark = pytest.mark.django_db


def test_the_invitation_keeps_the_language_chosen(staff_client):
    response = staff_client.post("/invites/new/", {"email": "ada@example.com", "language": "de"})

    assert response.status_code == 302
    assert Invitation.objects.get().language == "de"


def test_by_default_the_senders_active_language(staff_client):
    page = staff_client.get("/invites/").content.decode()
    assert '<option value="en" selected>English</option>' in page

    staff_client.post("/invites/new/", {"email": "ada@example.com"})

    assert Invitation.objects.get().language == "en"


@pytest.mark.parametrize("path", ["/invites/new/", "/invites/bulk/"])
def test_an_unknown_language_is_a_form_error_and_creates_nothing(staff_client, path):
    field = "email" if path.endswith("new/") else "addresses"

    response = staff_client.post(path, {field: "ada@example.com", "language": "xx"})

    assert response.status_code == 400
    assert response.context["form" if field == "email" else "bulk_form"].has_error(
        "language", "invalid_choice"
    )
    assert not Invitation.objects.exists()


def test_bulk_invitations_take_the_language(staff_client):
    staff_client.post("/invites/bulk/", {"addresses": "ada@example.com bob@example.com", "language": "fr"})

    assert set(Invitation.objects.values_list("language", flat=True)) == {"fr"}
