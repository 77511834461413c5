"""What a failed send means, for SMTP servers and for providers' HTTP APIs (anymail)."""

import smtplib

import pytest
import requests
from anymail.exceptions import AnymailRecipientsRefused, AnymailRequestsAPIError

from invitations.failures import SendFailure, classify


def api_error(status: int, headers: dict | None = None) -> AnymailRequestsAPIError:
    response = requests.Response()
    response.status_code, response.headers["Content-Type"] = status, "application/json"
    response.headers.update(headers or {})
    response._content = b'{"Message": "provider says no"}'
    return AnymailRequestsAPIError(response=response)


@pytest.mark.parametrize(
    ("exc", "permanent", "error"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"no such user")}), True, "SMTP 550 no such user"),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"mailbox busy")}), False, "SMTP 450 mailbox busy"),
        (smtplib.SMTPResponseException(421, b"closing channel"), False, "SMTP 421 closing channel"),
        (smtplib.SMTPResponseException(554, "rejected"), True, "SMTP 554 rejected"),
        (smtplib.SMTPServerDisconnected("lost"), False, "SMTPServerDisconnected: lost"),
        (TimeoutError("timed out"), False, "TimeoutError: timed out"),
        (ValueError("bad address"), True, "invalid address: bad address"),
    ],
)
def test_smtp_failures_are_permanent_or_transient_as_their_code_says(exc, permanent, error):
    assert classify(exc) == SendFailure(permanent=permanent, error=error)


@pytest.mark.parametrize(
    "reply",
    [
        (454, b"Throttling failure: Maximum sending rate exceeded."),  # Amazon SES
        (454, b"Throttling failure: Daily message quota exceeded."),
        (421, b"4.7.0 Our system has detected an unusual rate of unsolicited mail"),  # Gmail
        (451, b"4.7.1 Too many messages, slow down"),
        (421, b"4.3.0 Rate limit exceeded, try again later"),
        (451, b"4.7.1 Ratelimit reached for this sender"),
        (421, b"4.7.0 Sending rate-limited"),
    ],
)
def test_smtp_too_many_is_a_throttle_that_costs_no_attempt(reply):
    failure = classify(smtplib.SMTPDataError(*reply))

    assert (failure.permanent, failure.throttled) == (False, True)


@pytest.mark.parametrize(
    "reply",
    [
        (421, b"closing channel"),
        (451, b"4.7.1 Greylisted, please try again later"),  # postgrey and friends
        (450, b"4.2.0 Recipient address rejected: Greylisted, see http://postgrey.example/"),
        (421, b"4.7.0 Try again later, closing connection."),  # no word of a rate
        (451, b"4.3.0 Temporary failure, please use a separate relay"),  # "sepa-rate"
        (451, b"4.7.1 Service unavailable - accurate DNS needed, try again later"),  # "accu-rate"
        (451, b"4.3.0 Unlimited storage coming soon"),  # "un-limit-ed"
        (550, b"5.7.1 Sending rate exceeded"),  # permanent: not a pause, a failure
    ],
)
def test_an_smtp_refusal_that_says_nothing_of_rates_is_a_retry_of_that_recipient(reply):
    failure = classify(smtplib.SMTPResponseException(*reply))

    assert failure.throttled is False
    assert failure.permanent is (reply[0] >= 500)


@pytest.mark.parametrize(
    ("status", "permanent"), [(422, True), (400, True), (500, False), (503, False), (401, False)]
)
def test_http_refusals_of_the_message_fail_and_server_errors_are_retried(status, permanent):
    failure = classify(api_error(status))

    assert (failure.permanent, failure.throttled) == (permanent, False)
    assert failure.error.startswith(f"HTTP {status} from the provider")
    assert "provider says no" in failure.error  # the provider's words are kept


def test_http_429_is_a_throttle_for_the_retry_after_it_names():
    assert classify(api_error(429, {"Retry-After": "7"})) == SendFailure(
        permanent=False, error=classify(api_error(429)).error, throttled=True, retry_after=7.0
    )
    assert classify(api_error(429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})).retry_after is None


def test_a_refused_recipient_fails_with_the_reason_kept():
    failure = classify(AnymailRecipientsRefused("Invalid 'To' address"))

    assert failure.permanent
    assert "Invalid 'To' address" in failure.error


def test_a_provider_timeout_is_retried():
    timeout = type("AnymailRequestsAPIError", (AnymailRequestsAPIError, requests.Timeout), {})("timed out")

    assert classify(timeout).permanent is False


def test_brevos_own_rate_limit_header_says_how_long_to_wait():
    assert classify(api_error(429, {"x-sib-ratelimit-reset": "12"})).retry_after == 12.0


@pytest.mark.parametrize(
    "reply",
    [
        (451, b"4.5.3 Too many recipients"),
        (451, b"4.2.2 Mailbox over its limit"),
    ],
)
def test_an_enhanced_code_about_the_recipient_or_message_is_never_the_providers_pace(reply):
    assert classify(smtplib.SMTPResponseException(*reply)).throttled is False


@pytest.mark.parametrize(
    ("value", "wait"),
    [("999999999", 600.0), ("9" * 400, 600.0), ("120", 120.0), ("1.5", 1.5)],
)
def test_a_retry_after_is_capped_at_the_longest_retry_delay(value, wait):
    assert classify(api_error(429, {"Retry-After": value})).retry_after == wait


@pytest.mark.parametrize("value", ["soon", "-5", "1e9", "nan", "inf", "", "٣"])
def test_a_retry_after_that_is_no_number_of_seconds_counts_as_none(value):
    assert classify(api_error(429, {"Retry-After": value})).retry_after is None
