from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
PASSWORD = "violet-harbour-kettle-93"


def url(key: str) -> str:
    return f"/invites/accept/{key}/"


def sign_up(client, key: str, **data):
    return client.post(url(key), {"username": "ada", "password1": PASSWORD, "password2": PASSWORD, **data})


def assert_unchanged(invitation: Invitation, django_user_model) -> None:
    row = Invitation.objects.get(pk=invitation.pk)
    assert (row.status, row.accepted) == (invitation.status, invitation.accepted)
    assert not django_user_model.objects.filter(email=invitation.email).exists()


def test_link_shows_who_invited_whom_and_the_sign_up_form(client, sent_invitation, django_user_model):
    invitation, key = sent_invitation

    response = client.get(url(key), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [("/invites/accept/set/", 302)]  # the key leaves the URL
    page = response.content.decode()
    assert "grace invited you to join 127.0.0.1 as <strong>ada@example.com</strong>" in page
    assert 'name="username"' in page
    assert 'name="password1"' in page
    assert "no-cache" in response["Cache-Control"]
    assert_unchanged(invitation, django_user_model)


def test_unknown_key_is_a_404(client, sent_invitation):
    assert client.get(url("not-a-key")).status_code == 404
    assert sign_up(client, "not-a-key").status_code == 404


def test_signing_up_creates_the_user_and_logs_them_in(client, sent_invitation, django_user_model):
    invitation, key = sent_invitation

    response = sign_up(client, key)

    assert response.status_code == 302
    assert response["Location"] == "/"  # INVITATIONS["ACCEPT_REDIRECT_URL"]: the site's home
    user = django_user_model.objects.get(username="ada")
    assert user.email == "ada@example.com"
    assert user.check_password(PASSWORD)
    home = client.get("/")
    assert home.status_code == 200  # never a 403 for someone who just joined
    assert "Welcome, ada! Your account is ready and you are logged in." in home.content.decode()
    accepted = Invitation.objects.get(pk=invitation.pk)
    assert accepted.status == Status.ACCEPTED
    assert accepted.accepted is not None


def test_used_link_says_it_was_already_accepted(client, sent_invitation, django_user_model):
    _, key = sent_invitation
    sign_up(client, key)
    client.logout()

    response = client.get(url(key))
    again = sign_up(client, key, username="ada2")

    assert response.status_code == 410
    assert "already been accepted" in response.content.decode()
    assert again.status_code == 410
    assert django_user_model.objects.filter(email="ada@example.com").count() == 1


def test_revoked_link_says_so(client, sent_invitation, django_user_model):
    invitation, key = sent_invitation
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.REVOKED)

    response = sign_up(client, key)

    assert response.status_code == 410
    assert "revoked" in response.content.decode()
    assert not django_user_model.objects.filter(username="ada").exists()


def test_expired_link_says_so(client, sent_invitation, django_user_model, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}
    invitation, key = sent_invitation
    Invitation.objects.filter(pk=invitation.pk).update(sent=timezone.now() - timedelta(days=8))

    for response in (client.get(url(key)), sign_up(client, key)):
        assert response.status_code == 410
        assert "It has expired." in response.content.decode()
    assert_unchanged(invitation, django_user_model)


def test_gone_page_reveals_nothing_about_the_invitation(client, sent_invitation):
    invitation, key = sent_invitation
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.REVOKED)

    page = client.get(url(key)).content.decode()

    assert "ada@example.com" not in page
    assert "grace" not in page


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"password2": "something-else-entirely"}, "The two password fields didn’t match."),
        ({"password1": "password", "password2": "password"}, "This password is too common."),
        ({"password1": "ada@example.com", "password2": "ada@example.com"}, "too similar to the email"),
        ({"username": ""}, "This field is required."),
    ],
    ids=["mismatch", "common", "like-address", "no-username"],
)
def test_bad_sign_up_shows_the_error_and_changes_nothing(
    client, sent_invitation, django_user_model, data, error
):
    invitation, key = sent_invitation

    response = sign_up(client, key, **data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert_unchanged(invitation, django_user_model)
    assert "_auth_user_id" not in client.session


def test_taken_username_shows_the_error_and_changes_nothing(
    client, sent_invitation, staff, django_user_model
):
    invitation, key = sent_invitation

    response = sign_up(client, key, username=staff.username)

    assert "A user with that username already exists." in response.content.decode()
    assert_unchanged(invitation, django_user_model)


def test_the_link_leaves_its_key_in_the_session_and_the_sign_up_goes_on_without_it(
    client, sent_invitation, django_user_model
):
    invitation, key = sent_invitation

    response = client.get(url(key))

    assert response.status_code == 302
    assert response["Location"] == "/invites/accept/set/"
    form_page = client.get(response["Location"])
    assert key not in form_page.content.decode()  # nor in any URL it links to or posts to
    assert_unchanged(invitation, django_user_model)  # a GET never consumes the invitation
    data = {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/invites/accept/set/", data)["Location"] == "/"
    assert Invitation.objects.get(pk=invitation.pk).status == Status.ACCEPTED
    assert client.get("/invites/accept/set/").status_code == 404  # the session forgot the key


def test_the_keyless_page_in_a_browser_that_followed_no_link_says_to_follow_it(client, sent_invitation):
    response = client.get("/invites/accept/set/")

    assert response.status_code == 404
    assert "Open the link in your invitation e-mail" in response.content.decode()


def test_the_invitee_lands_where_the_host_wants(client, sent_invitation, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "ACCEPT_REDIRECT_URL": "login"}  # a URL name
    _, key = sent_invitation

    assert sign_up(client, key)["Location"] == "/accounts/login/"
    assert client.get("/invites/welcome/")["Location"] == "/accounts/login/"  # an old link to the welcome
