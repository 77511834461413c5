"""The fake provider answers anymail's Postmark, Brevo and SendGrid backends and webhooks as the real
ones do (Brevo's own cases: test_fake_provider_brevo.py)."""

import base64
import time

import pytest
import requests
from anymail.exceptions import AnymailNotSupportedWarning, AnymailRecipientsRefused, AnymailRequestsAPIError
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.core.mail import EmailMessage, mailers
from django.test import RequestFactory

from loopback.fake_provider import FakeProvider
from tests.integration.provider_webhooks import postmark_event, sendgrid_events

PROVIDERS = ["postmark", "brevo", "sendgrid"]


@pytest.fixture
def provider():
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(params=PROVIDERS)
def mailer(request, provider, settings):
    """A backend built from MAILERS, as the product builds it, aimed at the fake."""
    if request.param == "postmark":
        options = {"server_token": provider.postmark_token, "api_url": provider.url, "timeout": 0.5}
        settings.MAILERS = {
            "default": {"BACKEND": "anymail.backends.postmark.EmailBackend", "OPTIONS": options}
        }
        return mailers.default
    if request.param == "brevo":  # api_url with "v3/", as anymail's default
        options = {"api_key": provider.brevo_key, "api_url": provider.url + "v3/", "timeout": 0.5}
        settings.MAILERS = {"default": {"BACKEND": "anymail.backends.brevo.EmailBackend", "OPTIONS": options}}
        return mailers.default
    options = {"api_key": provider.sendgrid_key, "api_url": provider.url + "v3/", "timeout": 0.5}
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.sendgrid.EmailBackend", "OPTIONS": options}}
    # Anymail warns on every SendGrid backend it builds; the product may still choose SendGrid.
    with pytest.warns(AnymailNotSupportedWarning):
        return mailers.default


def send(mailer, *to: str) -> EmailMessage:
    message = EmailMessage("Your invitation", "Join us", "from@example.com", list(to))
    mailer.send_messages([message])
    return message


def test_accepted_message_id_is_the_one_anymail_reports(mailer, provider):
    message = send(mailer, "ada@example.com")

    assert provider.recipients() == ["ada@example.com"]
    assert provider.received[0].subject == "Your invitation"
    assert message.anymail_status.message_id == provider.message_id_for("ada@example.com")
    assert provider.message_ids() == [message.anymail_status.message_id]


def test_a_wrong_key_is_a_401_api_error(mailer, provider):
    provider.postmark_token = provider.sendgrid_key = provider.brevo_key = "rotated"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "ada@example.com")

    assert caught.value.status_code == 401
    assert provider.received == []


def test_each_message_gets_its_own_id(mailer, provider):
    first, second = send(mailer, "ada@example.com"), send(mailer, "ada@example.com")

    assert first.anymail_status.message_id != second.anymail_status.message_id
    assert provider.message_id_for("ada@example.com") == second.anymail_status.message_id


@pytest.mark.parametrize("mailer", ["postmark"], indirect=True)
def test_postmark_refuses_an_invalid_address_as_recipients_refused(mailer, provider):
    provider.replies["bad@example.com"] = "invalid"
    message = EmailMessage("Hi", "Body", "from@example.com", ["bad@example.com"])

    with pytest.raises(AnymailRecipientsRefused):
        mailer.send_messages([message])

    assert message.anymail_status.recipients["bad@example.com"].status == "invalid"
    assert provider.received == []


@pytest.mark.parametrize("mailer", ["postmark"], indirect=True)
def test_postmark_inactive_recipients_are_rejected_and_the_others_still_sent(mailer, provider):
    provider.replies["gone@example.com"] = "inactive"

    message = send(mailer, "ada@example.com", "gone@example.com")
    with pytest.raises(AnymailRecipientsRefused):
        send(mailer, "gone@example.com")

    statuses = {address: status.status for address, status in message.anymail_status.recipients.items()}
    assert statuses == {"ada@example.com": "sent", "gone@example.com": "rejected"}
    assert provider.recipients() == ["ada@example.com"]


@pytest.mark.parametrize("mailer", ["sendgrid"], indirect=True)
def test_sendgrid_refuses_an_invalid_address_with_a_400_api_error(mailer, provider):
    provider.replies["bad@example.com"] = "invalid"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "bad@example.com")

    assert caught.value.status_code == 400
    assert caught.value.response.json()["errors"][0]["field"] == "personalizations.0.to.0.email"


def test_throttle_is_a_429_whose_retry_after_the_caller_reads_itself(mailer, provider):
    provider.default_reply, provider.retry_after = "throttle", 7

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "ada@example.com")

    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert provider.received == []


def test_error_is_a_500_api_error(mailer, provider):
    provider.replies["ada@example.com"] = "error"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "ada@example.com")

    assert caught.value.status_code == 500


def test_stall_past_the_timeout_raises_a_read_timeout_and_stop_returns_at_once(mailer, provider):
    provider.default_reply = "stall"

    with pytest.raises(AnymailRequestsAPIError) as caught:
        send(mailer, "ada@example.com")
    started = time.monotonic()
    provider.stop()

    assert isinstance(caught.value, requests.exceptions.ReadTimeout)
    assert caught.value.status_code is None
    assert time.monotonic() - started < 1
    assert provider.received == []


def test_latency_delays_every_call(mailer, provider):
    provider.latency_ms = 200
    started = time.monotonic()

    send(mailer, "ada@example.com")

    assert time.monotonic() - started >= 0.2


def parse_webhook(view_class, body: bytes, content_type: str) -> list:
    """The events anymail's view makes of a webhook post, after its basic-auth check. (Not sent
    through the tracking signal: the product's receivers are not under test here.)"""
    auth = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    request = RequestFactory().post("/hook/", body, content_type=content_type, headers=auth)
    view = view_class()
    view.run_validators(request)
    return view.parse_events(request)


@pytest.mark.parametrize(
    ("kind", "event_type", "reject_reason"),
    [
        ("delivered", "delivered", None),
        ("bounced", "bounced", "bounced"),
        ("soft_bounce", "bounced", "bounced"),  # anymail's mapping: Postmark may send HardBounce later
        ("transient", "deferred", None),
        ("complained", "complained", "spam"),
    ],
)
def test_postmark_events_parse_back_to_the_sent_message_id(settings, kind, event_type, reject_reason):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    body, content_type = postmark_event(kind, message_id="m-1", recipient="ada@example.com")

    [event] = parse_webhook(PostmarkTrackingWebhookView, body, content_type)

    assert (event.event_type, event.reject_reason) == (event_type, reject_reason)
    assert (event.message_id, event.recipient) == ("m-1", "ada@example.com")
    assert event.timestamp is not None


@pytest.mark.parametrize("mailer", ["sendgrid"], indirect=True)
def test_sendgrid_events_parse_back_to_the_id_reported_at_send(mailer, provider, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "u:p"}
    message_id = send(mailer, "ada@example.com").anymail_status.message_id
    kinds = ["delivered", "deferred", "bounce", "dropped", "spamreport"]
    events = [{"event": kind, "message_id": message_id, "recipient": "ada@example.com"} for kind in kinds]
    body, content_type = sendgrid_events(events)

    with pytest.warns(AnymailNotSupportedWarning):
        tracked = parse_webhook(SendGridTrackingWebhookView, body, content_type)

    assert [e.event_type for e in tracked] == ["delivered", "deferred", "bounced", "rejected", "complained"]
    assert {e.message_id for e in tracked} == {message_id}
    assert [e.reject_reason for e in tracked][3] == "bounced"
    assert all(e.metadata == {} for e in tracked)
