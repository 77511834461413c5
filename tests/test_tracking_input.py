"""Webhook bodies that try to break things: NUL bytes, deep nesting, forged log lines."""

import json
import logging

import pytest
from django.utils import timezone

from invitations.models import Invitation
from tests.integration.provider_webhooks import postmark_event
from tests.test_tracking import auth, row

pytestmark = pytest.mark.django_db
Status = Invitation.Status


@pytest.fixture
def sent():
    return Invitation.objects.create(
        email="ada@example.com", status=Status.SENT, sent=timezone.now(), message_id="pm-1", attempts=1
    )


def post(client, body: bytes):
    return client.post("/anymail/postmark/tracking/", body, content_type="application/json", **auth())


def test_a_nul_byte_in_the_reason_is_dropped_and_the_rest_kept(client, sent):
    body, _ = postmark_event(
        "bounced", message_id="pm-1", recipient="ada@example.com", description="550\x00 gone"
    )

    assert post(client, body).status_code == 200

    assert row(sent).status == Status.BOUNCED
    assert "550 gone" in row(sent).last_error
    assert "\x00" not in row(sent).last_error


def test_a_nul_byte_in_the_message_id_is_an_unknown_message(client, sent):
    body, _ = postmark_event("bounced", message_id="pm-1\x00", recipient="ada@example.com")

    assert post(client, body).status_code == 200
    assert row(sent).status == Status.SENT


def test_a_body_nested_too_deep_to_parse_is_a_400(client, sent):
    depth = 100_000

    response = post(client, b"[" * depth + b"]" * depth)

    assert response.status_code == 400
    assert row(sent).status == Status.SENT


def test_line_breaks_in_a_reason_cannot_forge_a_log_line_and_stay_on_the_row(client, sent, caplog):
    forged = "550 gone\n2026-12-06 10:00:00,000 WARNING invitations.tracking all clear"
    body, _ = postmark_event("bounced", message_id="pm-1", recipient="ada@example.com", description=forged)

    with caplog.at_level(logging.INFO, logger="invitations.tracking"):
        assert post(client, body).status_code == 200

    lines = [record.getMessage() for record in caplog.records]
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert any("550 gone\\n2026-12-06" in line for line in lines)
    assert forged in row(sent).last_error
    assert json.loads(body)["Description"] == forged
