"""The invitee's language: chosen on the form (default the sender's), used by the worker for the
mail and by the invitee's pages until they choose another."""

import re

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


@pytest.fixture
def german_invitation(staff, deliver, mailoutbox, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_NAME": "Acme"}
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff, language="de")
    deliver(invitation)
    [message] = mailoutbox
    return invitation, message, re.search(r"/invites/accept/([^/\s]+)/", message.body).group(1)


def test_the_worker_writes_the_mail_in_the_invitees_language(german_invitation):
    _, message, _ = german_invitation

    assert message.subject == "grace hat Sie eingeladen, Acme beizutreten"
    assert "grace hat Sie eingeladen, Acme beizutreten." in message.body
    assert "Einladung hier annehmen:" in message.body
    [(html, _)] = message.alternatives
    assert '<html lang="de">' in html
    assert ">Einladung annehmen</a>" in html


def test_the_invitees_pages_are_in_their_language_until_they_choose_another(
    client, german_invitation, settings
):
    _, _, key = german_invitation

    page = client.get(f"/invites/accept/{key}/", follow=True).content.decode()
    assert '<html lang="de">' in page
    assert "Konto erstellen" in page

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get("/invites/accept/set/").content.decode()
    assert '<html lang="fr">' in page
