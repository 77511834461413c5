"""The invitee is told what they are invited to join: INVITATIONS["SITE_NAME"] in the subject,
both bodies, the From display name and the accept page."""

import re

import pytest

from invitations.models import Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(settings):
    site = {"SITE_URL": "https://app.example.com", "SITE_NAME": "Acme"}
    settings.INVITATIONS = {**settings.INVITATIONS, **site}
    settings.DEFAULT_FROM_EMAIL = "invitations@app.example.com"


@pytest.fixture
def ada_invited_by_grace(staff, deliver, mailoutbox):
    staff.first_name, staff.last_name = "Grace", "Hopper"
    staff.save()
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)
    deliver(invitation)
    [message] = mailoutbox
    return message


def test_the_mail_says_who_invited_them_to_join_what(acme, ada_invited_by_grace):
    message = ada_invited_by_grace

    assert message.subject == "Grace Hopper invited you to join Acme"
    assert message.from_email == "Acme <invitations@app.example.com>"
    assert "Grace Hopper invited you to join Acme." in message.body
    assert "Don't want invitations from Acme? Opt out:" in message.body
    [(html, _)] = message.alternatives
    assert "<p>Grace Hopper invited you to join Acme.</p>" in html


def test_without_a_site_name_the_host_of_the_site_url_names_it(settings, ada_invited_by_grace):
    message = ada_invited_by_grace

    assert message.subject == "Grace Hopper invited you to join 127.0.0.1"
    assert message.from_email.startswith('"127.0.0.1" <')


def test_the_accept_page_names_the_site(acme, client, ada_invited_by_grace):
    key = re.search(r"/invites/accept/([^/\s]+)/", ada_invited_by_grace.body).group(1)

    page = client.get(f"/invites/accept/{key}/", follow=True).content.decode()

    assert "<title>Join Acme" in page
    assert "Grace Hopper invited you to join Acme as <strong>ada@example.com</strong>" in page
