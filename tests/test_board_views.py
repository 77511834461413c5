"""The board's pages and actions over HTTP: permissions, CSRF, post/redirect/get, bad input."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status


@pytest.fixture
def manager(staff):
    """The staff user, who may also change invitations (the admin's actions need it too)."""
    staff.user_permissions.add(Permission.objects.get(codename="change_invitation"))
    return staff


@pytest.fixture
def sent(staff):
    return Invitation.objects.create(
        email="ada@example.com", sender=staff, status=Status.SENT, sent=timezone.now()
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


@pytest.mark.parametrize(
    "query",
    [
        "status=nonsense",
        "sender=abc",
        "sender=99999999999999999999",
        "before=x-y",
        "after=1-",
        "q=" + "a" * 999,
    ],
)
def test_bad_query_parameters_are_ignored_not_a_500(staff_client, sent, query):
    response = staff_client.get(f"/invites/?{query}")

    assert response.status_code == 200
    assert ("ada@example.com" in response.content.decode()) == (not query.startswith("q="))


def test_the_board_shows_expired_and_the_reason_of_a_failure(staff_client, staff):
    Invitation.objects.create(
        email="old@example.com", status=Status.SENT, sent=timezone.now() - timedelta(days=30)
    )
    Invitation.objects.create(email="bad@example.com", status=Status.FAILED, last_error="550 no such user")

    page = staff_client.get("/invites/").content.decode()

    assert '<span class="status status-expired">expired</span>' in page
    assert '<small class="reason">550 no such user</small>' in page
    assert "<time datetime=" in page


def test_without_the_change_permission_no_actions_are_offered_or_allowed(staff_client, sent):
    page = staff_client.get("/invites/").content.decode()

    assert 'class="actions"' not in page
    assert staff_client.post(f"/invites/{sent.pk}/resend/", {"seen": "sent"}).status_code == 403
    assert staff_client.get(f"/invites/{sent.pk}/revoke/").status_code == 403
    assert staff_client.post(f"/invites/{sent.pk}/revoke/", {"seen": "sent"}).status_code == 403
    sent.refresh_from_db()
    assert sent.status == Status.SENT


def test_with_it_the_buttons_are_there(staff_client, manager, sent):
    page = staff_client.get("/invites/").content.decode()

    assert f'action="/invites/{sent.pk}/resend/"' in page
    assert f'href="/invites/{sent.pk}/revoke/"' in page


def test_resend_redirects_to_the_same_board_page_and_says_so(staff_client, manager, sent):
    response = staff_client.post(
        f"/invites/{sent.pk}/resend/?status=sent&q=ada&evil=//x.example", {"seen": "sent"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/invites/?status=sent&q=ada"
    assert messages_of(response) == ["The invitation to ada@example.com goes out again, with a new link."]
    sent.refresh_from_db()
    assert sent.status == Status.PENDING


def test_revoke_asks_first_then_revokes(staff_client, manager, sent):
    page = staff_client.get(f"/invites/{sent.pk}/revoke/?status=sent").content.decode()

    assert "Revoke the invitation?" in page
    assert 'href="/invites/?status=sent"' in page  # "No, go back"
    sent.refresh_from_db()
    assert sent.status == Status.SENT

    response = staff_client.post(f"/invites/{sent.pk}/revoke/?status=sent", {"seen": "sent"})

    assert response["Location"] == "/invites/?status=sent"
    sent.refresh_from_db()
    assert sent.status == Status.REVOKED


def test_revoking_a_row_accepted_meanwhile_changes_nothing_and_says_why(staff_client, manager, sent):
    Invitation.objects.filter(pk=sent.pk).update(status=Status.ACCEPTED)

    response = staff_client.post(f"/invites/{sent.pk}/revoke/", {"seen": "sent"})

    assert response.status_code == 302
    assert messages_of(response) == ["Nothing changed: the invitation to ada@example.com is accepted now."]
    sent.refresh_from_db()
    assert sent.status == Status.ACCEPTED


def test_the_revoke_page_of_an_accepted_invitation_offers_no_button(staff_client, manager, sent):
    Invitation.objects.filter(pk=sent.pk).update(status=Status.ACCEPTED)

    page = staff_client.get(f"/invites/{sent.pk}/revoke/").content.decode()

    assert "cannot be revoked" in page
    assert "Yes, revoke it" not in page


def test_actions_on_an_unknown_invitation_are_404_and_get_is_not_allowed(staff_client, manager, sent):
    assert staff_client.get("/invites/999/revoke/").status_code == 404
    assert staff_client.post("/invites/999/retry/", {"seen": "failed"}).status_code == 404
    assert staff_client.get(f"/invites/{sent.pk}/resend/").status_code == 405


def test_an_action_without_the_csrf_token_is_refused(manager, sent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    assert client.post(f"/invites/{sent.pk}/revoke/", {"seen": "sent"}).status_code == 403
    sent.refresh_from_db()
    assert sent.status == Status.SENT


def test_a_refused_invite_on_the_board_stays_on_the_board_with_the_error_at_the_field(staff_client):
    response = staff_client.post("/invites/?status=failed", {"email": "not-an-address"})

    assert response.status_code == 400
    assert response.wsgi_request.path == "/invites/"
    page = response.content.decode()
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="id_email_error"' in page
    assert '<ul class="errorlist" id="id_email_error"><li>Enter a valid email address.</li></ul>' in page
    assert not Invitation.objects.exists()


def test_an_invite_on_the_board_redirects_to_the_board(staff_client):
    response = staff_client.post("/invites/", {"email": "ada@example.com"})

    assert (response.status_code, response["Location"]) == (302, "/invites/")
    assert Invitation.objects.get().email == "ada@example.com"


def test_a_refused_invite_on_the_new_page_stays_there(staff_client):
    response = staff_client.post("/invites/new/", {"email": "not-an-address"})

    assert response.status_code == 400
    assert [template.name for template in response.templates][0] == "invitations/new.html"


def test_the_live_state_is_said_in_the_sites_language(staff_client, settings):
    settings.LANGUAGE_CODE = "fr"

    page = staff_client.get("/invites/").content.decode()

    assert 'data-live="en direct" data-reconnecting="reconnexion…"' in page
