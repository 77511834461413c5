"""The fake provider answers anymail's Brevo backend and webhook as Brevo does."""

import time

import pytest
from anymail.exceptions import AnymailRequestsAPIError
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from django.core.mail import mailers

from loopback.fake_provider import FakeProvider
from tests.integration.provider_webhooks import brevo_event
from tests.test_fake_provider import parse_webhook, send

KEY = "xkeysib-test"


@pytest.fixture
def provider():
    with FakeProvider(brevo_key=KEY) as fake:
        yield fake


def brevo_mailer(settings, api_url: str):
    options = {"api_key": KEY, "api_url": api_url, "timeout": 0.5}
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.brevo.EmailBackend", "OPTIONS": options}}
    return mailers.default


@pytest.fixture
def mailer(provider, settings):
    """anymail's Brevo backend aimed at the fake: api_url is the base with "v3/", as anymail's default."""
    return brevo_mailer(settings, provider.url + "v3/")


def test_accepted_message_id_is_the_one_anymail_reports(mailer, provider):
    message = send(mailer, "ada@example.com")

    [received] = provider.received
    assert (received.provider, received.recipients) == ("brevo", ["ada@example.com"])
    assert received.subject == "Your invitation"
    assert message.anymail_status.message_id == provider.message_id_for("ada@example.com")
    assert message.anymail_status.message_id.endswith("@smtp-relay.mailin.fr>")
    assert message.anymail_status.status == {"queued"}


def test_an_api_url_without_v3_misses_the_endpoint(provider, settings):
    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(brevo_mailer(settings, provider.url), "ada@example.com")

    assert caught.value.status_code == 404


def test_a_wrong_key_is_a_401_with_brevos_error(mailer, provider):
    provider.brevo_key = "rotated"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "ada@example.com")

    assert caught.value.status_code == 401
    assert caught.value.response.json() == {"code": "unauthorized", "message": "Key not found"}
    assert provider.received == []


def test_an_invalid_address_is_a_400_api_error_not_recipients_refused(mailer, provider):
    provider.replies["bad@example.com"] = "invalid"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "bad@example.com")

    assert caught.value.status_code == 400
    assert caught.value.response.json() == {
        "code": "invalid_parameter",
        "message": "email is not valid in to",
    }
    assert provider.received == []


def test_an_inactive_address_is_accepted_and_left_to_a_blocked_event(mailer, provider):
    provider.replies["gone@example.com"] = "inactive"

    message = send(mailer, "gone@example.com")

    assert message.anymail_status.status == {"queued"}
    assert provider.recipients() == ["gone@example.com"]


@pytest.mark.parametrize(
    ("kind", "event_type", "reject_reason"),
    [
        ("request", "queued", None),
        ("delivered", "delivered", None),
        ("hard_bounce", "bounced", "bounced"),
        ("soft_bounce", "bounced", "bounced"),  # anymail's mapping; the product reads "event" to tell
        ("deferred", "deferred", None),
        ("blocked", "rejected", "blocked"),
        ("invalid_email", "bounced", "invalid"),
        ("spam", "complained", "spam"),
        ("complaint", "complained", "spam"),
        ("error", "failed", None),
    ],
)
def test_brevo_events_parse_back_to_the_sent_message_id(settings, kind, event_type, reject_reason):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    message_id = "<202501011200.123456789012@smtp-relay.mailin.fr>"
    body, content_type = brevo_event(kind, message_id=message_id, recipient="ada@example.com")

    [event] = parse_webhook(BrevoTrackingWebhookView, body, content_type)

    assert (event.event_type, event.reject_reason) == (event_type, reject_reason)
    assert (event.message_id, event.recipient) == (message_id, "ada@example.com")
    assert abs(event.timestamp.timestamp() - time.time()) < 60
    assert (event.metadata, event.tags) == ({}, [])


def test_a_bounce_carries_its_reason_as_the_mta_response(settings, mailer):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    message_id = send(mailer, "ada@example.com").anymail_status.message_id
    body, content_type = brevo_event(
        "hard_bounce", message_id=message_id, recipient="ada@example.com", reason="550 5.1.1 User unknown"
    )

    [event] = parse_webhook(BrevoTrackingWebhookView, body, content_type)

    assert (event.message_id, event.mta_response) == (message_id, "550 5.1.1 User unknown")
