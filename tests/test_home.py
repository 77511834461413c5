"""The site's landing page (myproject/views.py), where logins and accepted invitations land, and
the page after logging out: nobody who may log in ends on a 403 or on the admin's goodbye."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group

from loopback.processes import ROOT

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def member(django_user_model):
    user = django_user_model.objects.create_user("linus", "linus@example.com", PASSWORD)
    user.groups.add(Group.objects.create(name="editors"))
    return user


def log_in(client, username: str):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/")


def test_a_member_logging_in_lands_on_a_home_page_with_their_account_and_groups(client, member):
    login = log_in(client, "linus")
    assert (login.status_code, login["Location"]) == (302, "/")

    page = client.get("/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "You are logged in as <strong>linus</strong> (linus@example.com)." in text
    assert "<li>editors</li>" in text
    assert 'action="/accounts/logout/"' in text


def test_staff_who_may_invite_land_on_the_board(client, staff):
    response = client.get(log_in(client, "grace")["Location"], follow=True)

    assert response.redirect_chain == [("/invites/", 302)]
    assert response.status_code == 200


def test_logging_out_lands_on_the_sites_own_page_with_a_way_back_in(client, member):
    client.force_login(member)

    response = client.post("/accounts/logout/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "You are logged out" in text
    assert '<a class="button" href="/accounts/login/">Log in again</a>' in text
    assert "quality time" not in text
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


def test_logging_out_of_the_admin_lands_on_the_same_page(admin_client):
    response = admin_client.post("/admin/logout/")

    assert response.status_code == 200
    assert "You are logged out" in response.content.decode()


def site_url_with(**environment: str) -> str:
    """INVITATIONS["SITE_URL"] as myproject's settings read it from this environment."""
    env = {key: value for key, value in os.environ.items() if key not in ("SITE_URL", "PORT")}
    code = "from myproject import settings; print(settings.INVITATIONS['SITE_URL'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DEBUG": "1", **environment},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_the_links_in_mails_follow_the_web_process_port_unless_site_url_is_set():
    assert site_url_with() == "http://127.0.0.1:8000"
    assert site_url_with(PORT="8765") == "http://127.0.0.1:8765"
    assert site_url_with(PORT="8765", SITE_URL="https://app.example.com") == "https://app.example.com"
