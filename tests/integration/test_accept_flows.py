"""Accepting over HTTP with real processes: a new account, and an address that has one (log in,
come back, one POST), with the groups the staff invited into."""

import re

import pytest
from django.contrib.auth.models import Group

from invitations.models import Invitation
from tests.integration.stack import Browser, wait_for

PASSWORD = "violet-harbour-kettle-93"
ACCEPT_PAGE = "/invites/accept/set/"


@pytest.fixture
def editors(staff_browser, django_user_model):
    group = Group.objects.create(name="editors")
    django_user_model.objects.get(username="grace").groups.add(group)
    return group


def invite(stack, staff_browser, smtp, editors, email: str) -> str:
    """Staff invite `email` into editors; the worker mails it; return the link."""
    stack.start_worker()
    status, _ = staff_browser.submit(
        "/invites/new/", {"email": email, "groups": editors.pk}, form_page="/invites/"
    )
    assert status == 200
    wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")
    return smtp.received[0], re.search(r"(http://\S+/invites/accept/[\w-]+/)", smtp.received[0].text).group(1)


def test_a_new_account_signs_up_and_joins_the_groups(stack, staff_browser, smtp, editors, django_user_model):
    _, link = invite(stack, staff_browser, smtp, editors, "ada@example.com")
    invitee = Browser(stack.base_url)

    status, page = invitee.get(link)
    assert status == 200
    assert 'name="password1"' in page
    data = {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    status, page = invitee.submit(ACCEPT_PAGE, data)

    assert status == 200
    assert "Welcome, ada!" in page
    ada = django_user_model.objects.get(username="ada")
    assert [group.name for group in ada.groups.all()] == ["editors"]
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED


def test_an_existing_account_logs_in_and_accepts_with_one_post(
    stack, staff_browser, smtp, editors, django_user_model
):
    ada = django_user_model.objects.create_user("ada", "Ada@Example.com", PASSWORD)
    mail, link = invite(stack, staff_browser, smtp, editors, "ada@example.com")
    assert (
        "You already have an account with this address: log in and accept the invitation here:" in mail.text
    )
    invitee = Browser(stack.base_url)

    status, page = invitee.get(link)
    assert status == 200
    assert "Log in to accept" in page
    assert 'name="password1"' not in page
    login = re.search(r'<a href="([^"]+)">Log in to accept</a>', page).group(1)
    assert login == "/accounts/login/?next=/invites/accept/set/"
    token = invitee.csrf_token(login)
    status, location = invitee.post(
        login, {"username": "ada", "password": PASSWORD}, token=token, follow=False
    )
    assert (status, location) == (302, ACCEPT_PAGE)
    status, page = invitee.get(ACCEPT_PAGE)
    assert '<button type="submit">Accept</button>' in page
    assert Invitation.objects.get().status == Invitation.Status.SENT  # a GET changes nothing

    status, page = invitee.submit(ACCEPT_PAGE, {})

    assert status == 200
    assert "You accepted the invitation to join 127.0.0.1." in page
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED
    assert [group.name for group in ada.groups.all()] == ["editors"]
    assert django_user_model.objects.count() == 2  # grace and ada: no second account
