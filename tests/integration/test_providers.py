"""A provider's HTTP API (anymail's real Postmark backend against a fake Postmark on loopback),
the real web and worker processes, and the provider's tracking webhooks posted back over HTTP."""

import base64
import urllib.error
import urllib.request

import pytest

from invitations import services, throttle
from invitations.models import Invitation, Suppression
from loopback.fake_provider import FakeProvider
from tests.integration.provider_webhooks import brevo_event, postmark_event
from tests.integration.stack import wait_for

Status = Invitation.Status
SECRET = "provider:webhook-secret-of-the-test"


# How each provider is configured, where its webhook posts, and its names for our three events.
PROVIDERS = {
    "postmark": ("postmark://t0ken@", "", postmark_event, {"delivered": "delivered", "bounced": "bounced"}),
    "brevo": (
        "brevo://xkeysib-test@",
        "v3/",
        brevo_event,
        {"delivered": "delivered", "bounced": "hard_bounce"},
    ),
}


@pytest.fixture(params=["postmark"])
def provider(request, fault_stack):
    """A fake provider (Postmark unless a test asks for others) that the stack's processes send through."""
    email_url, api_path, _, _ = PROVIDERS[request.param]
    with FakeProvider() as fake:
        fake.name = request.param
        fault_stack.env.update(
            EMAIL_URL=email_url, ANYMAIL_API_URL=fake.url + api_path, ANYMAIL_WEBHOOK_SECRET=SECRET
        )
        yield fake


def post_webhook(stack, provider, event: str, invitation: Invitation, secret: str = SECRET) -> int:
    _, _, build, names = PROVIDERS[provider.name]
    body, content_type = build(
        names.get(event, event), message_id=invitation.message_id, recipient=invitation.email
    )
    basic = base64.b64encode(secret.encode()).decode()
    request = urllib.request.Request(
        f"{stack.base_url}/anymail/{provider.name}/tracking/",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Basic {basic}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our loopback web
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def sent(email: str) -> Invitation:
    return wait_for(
        lambda: Invitation.objects.filter(email=email, status=Status.SENT).first(), timeout=20, message=email
    )


def test_mail_goes_out_through_the_providers_api_and_its_webhooks_come_back(
    fault_stack, provider, staff_browser
):
    fault_stack.start_worker()
    for email in ("ada@example.com", "bob@example.com"):
        assert staff_browser.submit("/invites/new/", {"email": email})[0] == 200

    ada, bob = sent("ada@example.com"), sent("bob@example.com")
    assert ada.message_id == provider.message_id_for("ada@example.com")  # the provider's own id
    assert post_webhook(fault_stack, provider, "delivered", ada) == 200
    assert post_webhook(fault_stack, provider, "bounced", bob) == 200
    assert post_webhook(fault_stack, provider, "bounced", bob) == 200  # a replay
    assert post_webhook(fault_stack, provider, "bounced", ada, secret="provider:wrong") in (400, 401, 403)

    ada.refresh_from_db()
    bob.refresh_from_db()
    assert (ada.status, ada.delivered is not None) == (Status.SENT, True)
    assert bob.status == Status.BOUNCED
    assert list(Suppression.objects.values_list("email", "reason")) == [("bob@example.com", "bounced")]
    status, page = staff_browser.submit("/invites/new/", {"email": "bob@example.com"})
    assert status == 400
    assert "bob@example.com bounced on " in page


def test_the_providers_refusals_errors_and_stalls_are_failed_or_retried_as_they_deserve(
    fault_stack, provider
):
    provider.replies.update({"nobody@example.com": "invalid", "busy@example.com": "error"})
    provider.replies["slow@example.com"] = "stall"
    fault_stack.env["EMAIL_TIMEOUT"] = "1"
    fault_stack.start_worker()
    services.invitations_create_many(
        emails=["nobody@example.com", "busy@example.com", "slow@example.com", "fine@example.com"], sender=None
    )

    sent("fine@example.com")
    nobody = wait_for(
        lambda: Invitation.objects.filter(email="nobody@example.com", status=Status.FAILED).first(),
        timeout=20,
        message="the refused address to fail",
    )
    assert "Invalid 'To' address" in nobody.last_error
    assert nobody.attempts == 1
    wait_for(
        lambda: (
            Invitation.objects.filter(
                email__in=["busy@example.com", "slow@example.com"], attempts__gte=2
            ).count()
            == 2
        ),
        timeout=30,
        message="a second attempt after a 500 and after a stall",
    )
    busy, slow = (Invitation.objects.get(email=f"{name}@example.com") for name in ("busy", "slow"))
    assert "HTTP 500" in busy.last_error
    assert "Timeout" in slow.last_error or "timed out" in slow.last_error

    provider.replies.clear()
    sent("busy@example.com")
    sent("slow@example.com")
    assert sorted(provider.recipients()) == ["busy@example.com", "fine@example.com", "slow@example.com"]


def test_too_many_pauses_every_worker_for_the_retry_after_and_costs_no_attempt(fault_stack, provider):
    provider.default_reply, provider.retry_after = "throttle", 3
    fault_stack.env["INVITATION_RETRY_CAP"] = "5"  # the pause is the Retry-After, this long at most
    for name in ("worker-1", "worker-2"):
        fault_stack.start_worker(name)
    services.invitations_create_many(emails=[f"p{n}@example.com" for n in range(12)], sender=None)

    wait_for(lambda: provider.calls, timeout=20, message="the first call to the provider")
    provider.default_reply = "ok"
    wait_for(lambda: len(provider.recipients()) == 12, timeout=30, message="all twelve after the pause")

    told = min(answered for _, answered, status in provider.calls if status == 429)
    # Told "too many", the fleet waited out the provider's 3 s instead of each worker trying.
    assert [began for began, _, _ in provider.calls if told + 0.5 < began < told + 2.5] == []
    assert set(Invitation.objects.values_list("attempts", flat=True)) == {1}


def test_a_retry_after_of_years_pauses_the_fleet_for_the_retry_cap_only(fault_stack, provider, redis_client):
    provider.default_reply, provider.retry_after = "throttle", 999_999_999  # 31.7 years
    fault_stack.env["INVITATION_RETRY_CAP"] = "2"
    fault_stack.start_worker()
    services.invitations_create_many(emails=["p0@example.com", "p1@example.com"], sender=None)

    pause_key = throttle.pause_key(fault_stack.env["CHANNEL_PREFIX"])
    pause = wait_for(lambda: redis_client.pttl(pause_key) > 0 and redis_client.pttl(pause_key), timeout=20)
    assert pause <= 2000  # milliseconds: RETRY_CAP, not 999,999,999 s
    provider.default_reply = "ok"
    wait_for(lambda: len(provider.recipients()) == 2, timeout=15, message="both sent after the capped pause")
    assert set(Invitation.objects.values_list("attempts", flat=True)) == {1}
