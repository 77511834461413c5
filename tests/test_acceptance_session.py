"""What a followed link leaves in the session: nothing that makes a link, for a short while."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-kettle-93"


def follow(client, key: str):
    return client.get(f"/invites/accept/{key}/")


def test_the_session_a_link_leaves_holds_nothing_that_makes_the_link(client, sent_invitation):
    _, key = sent_invitation

    assert follow(client, key)["Location"] == "/invites/accept/set/"

    [row] = Session.objects.all()
    stored = f"{row.session_data} {row.get_decoded()}"
    secret_part = key.rpartition("-")[2]
    assert key not in stored
    assert secret_part not in stored
    assert "grace invited" in client.get("/invites/accept/set/").content.decode()  # found again


def test_every_cookieless_visit_leaves_a_session_that_ends_within_the_hour(client, sent_invitation, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "ACCEPT_SESSION_AGE": 3600}
    _, key = sent_invitation

    for _ in range(3):  # a mail scanner: no cookie, a new session each time
        client.cookies.clear()
        follow(client, key)

    latest = timezone.now() + timedelta(seconds=3600 + 5)
    assert Session.objects.count() == 3
    assert all(row.expire_date <= latest for row in Session.objects.all())


def test_a_link_followed_longer_ago_than_the_session_age_is_forgotten(
    client, sent_invitation, settings, monkeypatch
):
    settings.INVITATIONS = {**settings.INVITATIONS, "ACCEPT_SESSION_AGE": 600}
    _, key = sent_invitation
    follow(client, key)

    later = time.time() + 601
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    response = client.get("/invites/accept/set/")

    assert response.status_code == 404
    assert "Open the link in your invitation e-mail" in response.content.decode()


def test_an_invitee_who_signs_up_keeps_a_session_of_the_usual_age(client, sent_invitation, settings):
    invitation, key = sent_invitation
    follow(client, key)

    data = {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/invites/accept/set/", data)["Location"] == "/"

    assert Invitation.objects.get(pk=invitation.pk).status == Invitation.Status.ACCEPTED
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    assert client.get("/").status_code == 200
