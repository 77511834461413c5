"""Only the webhooks that can work are served, and `manage.py check` says what the others miss."""

import importlib
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import clear_url_caches

from tests.test_tracking import auth

pytestmark = pytest.mark.django_db
MAILGUN = {"default": {"BACKEND": "anymail.backends.mailgun.EmailBackend", "OPTIONS": {"api_key": "k"}}}
POSTMARK = {
    "default": {"BACKEND": "anymail.backends.postmark.EmailBackend", "OPTIONS": {"server_token": "t"}}
}


@pytest.fixture
def fresh_urls():
    """The webhook URLs are worked out when the URLconf is loaded: this test's requests load it
    afresh, with the settings the test sets; the next test's load it afresh again."""

    def reload() -> None:
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()

    reload()
    yield
    reload()


def check_output() -> str:
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize("esp", ["mailgun", "amazon_ses"])
def test_a_webhook_that_cannot_work_is_not_served_rather_than_a_500(fresh_urls, esp):
    client = Client(raise_request_exception=False)

    response = client.post(f"/anymail/{esp}/tracking/", b"{}", content_type="application/json", **auth())

    assert response.status_code == 404


def test_mailgun_is_served_once_its_signing_key_is_set(settings, fresh_urls):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key"}
    client = Client(raise_request_exception=False)

    response = client.post("/anymail/mailgun/tracking/", b"{}", content_type="application/json", **auth())

    assert response.status_code == 400  # there, and refusing a body without Mailgun's signature


def test_check_warns_that_the_webhook_of_the_provider_in_use_cannot_work(settings):
    settings.MAILERS = MAILGUN

    output = check_output()

    assert "invitations.W101" in output
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in output


def test_check_warns_that_no_webhook_is_served_without_a_secret(settings):
    settings.MAILERS = POSTMARK
    settings.ANYMAIL = {"WEBHOOK_SECRET": None}

    assert "invitations.W102" in check_output()


def test_check_is_quiet_when_the_provider_in_use_is_served(settings):
    settings.MAILERS = POSTMARK

    assert "invitations.W10" not in check_output()
