"""An invitation to an address that already has an account: its owner logs in and accepts (the
groups are added); nobody gets a second account; someone else changes nothing."""

import re

import pytest
from django.contrib.auth.models import Group

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
PASSWORD = "violet-harbour-kettle-93"
ACCEPT_PAGE = "/invites/accept/set/"


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", "Ada@Example.com", PASSWORD)


@pytest.fixture
def invited(ada, staff, deliver, mailoutbox):
    """Ada, who has an account, invited into "editors"; the mail and the link's key."""
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)
    invitation.groups.add(Group.objects.create(name="editors"))
    deliver(invitation)
    [message] = mailoutbox
    return invitation, message, re.search(r"/invites/accept/([^/\s]+)/", message.body).group(1)


def assert_unchanged(invitation, django_user_model) -> None:
    assert Invitation.objects.get(pk=invitation.pk).status == Status.SENT
    assert django_user_model.objects.count() == 2  # grace and ada
    assert not django_user_model.objects.filter(groups__name="editors").exists()


def test_the_mail_says_they_already_have_an_account(invited):
    _, message, _ = invited

    assert (
        "You already have an account with this address: log in and accept the invitation here:"
        in message.body
    )
    [(html, _)] = message.alternatives
    assert ">Log in and accept</a>" in html


def test_the_link_asks_them_to_log_in_and_come_back(client, invited, django_user_model):
    invitation, _, key = invited

    response = client.get(f"/invites/accept/{key}/", follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "grace invited you to join 127.0.0.1 (editors). You already have an account as" in page
    assert '<a href="/accounts/login/?next=/invites/accept/set/">Log in to accept</a>' in page
    assert 'name="password1"' not in page
    assert_unchanged(invitation, django_user_model)


def test_a_sign_up_post_for_an_address_with_an_account_creates_no_second_one(
    client, invited, django_user_model
):
    invitation, _, key = invited

    data = {"username": "ada2", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(f"/invites/accept/{key}/", data)

    assert "Log in to accept" in response.content.decode()
    assert_unchanged(invitation, django_user_model)


def test_logged_in_as_that_user_one_post_accepts_and_adds_the_groups(client, invited, ada, django_user_model):
    invitation, _, key = invited
    client.get(f"/invites/accept/{key}/")
    login = client.post(f"/accounts/login/?next={ACCEPT_PAGE}", {"username": "ada", "password": PASSWORD})
    assert (login.status_code, login["Location"]) == (302, ACCEPT_PAGE)

    page = client.get(ACCEPT_PAGE)  # a GET changes nothing
    assert '<button type="submit">Accept</button>' in page.content.decode()
    assert_unchanged(invitation, django_user_model)
    response = client.post(ACCEPT_PAGE, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert "You accepted the invitation to join 127.0.0.1." in response.content.decode()
    row = Invitation.objects.get(pk=invitation.pk)
    assert (row.status, row.accepted is not None) == (Status.ACCEPTED, True)
    assert [group.name for group in ada.groups.all()] == ["editors"]
    assert django_user_model.objects.count() == 2
    assert client.post(ACCEPT_PAGE).status_code == 404  # the link is forgotten: it was used


def test_logged_in_as_someone_else_nothing_changes(client, invited, staff, django_user_model):
    invitation, _, key = invited
    client.get(f"/invites/accept/{key}/")
    client.force_login(staff)

    page = client.get(ACCEPT_PAGE)
    response = client.post(ACCEPT_PAGE)

    assert (page.status_code, response.status_code) == (403, 403)
    text = response.content.decode()
    assert "This invitation is for another account" in text
    assert "You are logged in as grace, but this invitation is for the account of" in text
    assert 'action="/accounts/logout/"' in text
    assert_unchanged(invitation, django_user_model)
