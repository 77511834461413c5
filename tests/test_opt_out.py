"""One-click opt-out (RFC 8058): the mail's List-Unsubscribe link, as a mail client POSTs it
(no cookie, no CSRF token) and as a person opens it (a GET that only asks)."""

import re

import pytest
from django.test import Client

from invitations import keys
from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Status = Invitation.Status
ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def mail_client():
    """A mail client: no cookies, no CSRF token, and CSRF checked as in production."""
    return Client(enforce_csrf_checks=True)


def opt_out_path(message) -> str:
    return re.fullmatch(r"<https?://[^/]+(/\S+)>", message.extra_headers["List-Unsubscribe"]).group(1)


def one_click(mail_client, path: str):
    return mail_client.post(path, ONE_CLICK, content_type="application/x-www-form-urlencoded")


def test_a_one_click_post_opts_the_address_out(sent_invitation, mailoutbox, mail_client):
    invitation, _ = sent_invitation

    response = one_click(mail_client, opt_out_path(mailoutbox[-1]))

    assert response.status_code == 200
    assert "will get no more invitations" in response.content.decode()
    assert not response.cookies  # nothing of the mail client is kept
    invitation.refresh_from_db()
    assert invitation.status == Status.OPTED_OUT
    assert invitation.ended is not None
    [suppression] = Suppression.objects.in_force()
    assert (suppression.email, suppression.reason) == ("ada@example.com", Suppression.Reason.OPTED_OUT)


def test_a_second_post_changes_nothing(sent_invitation, mailoutbox, mail_client):
    path = opt_out_path(mailoutbox[-1])
    one_click(mail_client, path)
    first = Suppression.objects.get()

    response = one_click(mail_client, path)

    assert response.status_code == 200
    assert list(Suppression.objects.values_list("pk", "created")) == [(first.pk, first.created)]


def test_a_get_asks_to_confirm_and_changes_nothing(sent_invitation, mailoutbox, mail_client):
    invitation, _ = sent_invitation

    response = mail_client.get(opt_out_path(mailoutbox[-1]))

    page = response.content.decode()
    assert response.status_code == 200
    assert '<form method="post">' in page
    assert "Opt out</button>" in page
    invitation.refresh_from_db()
    assert invitation.status == Status.SENT
    assert not Suppression.objects.exists()


def test_the_accept_link_stops_working_once_opted_out(sent_invitation, mailoutbox, mail_client, client):
    _, key = sent_invitation
    one_click(mail_client, opt_out_path(mailoutbox[-1]))

    response = client.get(f"/invites/accept/{key}/")

    assert response.status_code == 410
    assert "You asked not to be invited." in response.content.decode()


@pytest.mark.parametrize("token", ["nope", "1-" + "0" * 64, "zzzzzzzzzzzzz-" + "0" * 64])
def test_a_wrong_token_answers_404(sent_invitation, mail_client, token):
    assert one_click(mail_client, f"/invites/opt-out/{token}/").status_code == 404
    assert mail_client.get(f"/invites/opt-out/{token}/").status_code == 404
    assert not Suppression.objects.exists()


def test_the_token_is_not_an_accept_key_nor_the_other_way_round(sent_invitation, mailoutbox, client):
    invitation, key = sent_invitation
    token = keys.opt_out_token(invitation)

    assert client.get(f"/invites/accept/{token}/").status_code == 404
    assert client.get(f"/invites/opt-out/{key}/").status_code == 404


def test_the_token_survives_a_resend(sent_invitation, mailoutbox, admin_client, deliver, mail_client):
    invitation, _ = sent_invitation
    first = opt_out_path(mailoutbox[-1])
    admin_client.post(
        "/admin/invitations/invitation/", {"action": "resend", "_selected_action": [invitation.pk]}
    )
    assert deliver(invitation) == DeliveryOutcome.SENT

    assert opt_out_path(mailoutbox[-1]) == first
    assert one_click(mail_client, first).status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == Status.OPTED_OUT


def test_a_token_made_before_the_secret_key_was_rotated_still_works(
    sent_invitation, mailoutbox, mail_client, settings
):
    path = opt_out_path(mailoutbox[-1])
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    assert one_click(mail_client, path).status_code == 200
    assert Suppression.objects.in_force().exists()
