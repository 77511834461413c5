"""The project's URLs (myproject/urls.py): what anyone may reach without logging in."""

import pytest

pytestmark = pytest.mark.django_db

RESET_PATHS = ["/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"]


@pytest.mark.parametrize("path", RESET_PATHS)
def test_there_is_no_password_reset_page(client, path):
    assert client.get(path).status_code == 404


def test_an_anonymous_reset_request_sends_no_mail(client, staff, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": staff.email})

    assert response.status_code == 404
    assert mailoutbox == []


def test_staff_still_log_in_and_out(client, staff):
    response = client.post("/accounts/login/", {"username": "grace", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/invites/").status_code == 200

    client.post("/accounts/logout/")
    assert client.get("/invites/").status_code == 302
