"""Tracking-webhook bodies as Postmark, SendGrid and Brevo post them, for anymail's tracking views."""

import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# kind: (Type, TypeCode, Inactive, Description), after Postmark's bounce-type table.
POSTMARK_EVENTS = {
    "bounced": ("HardBounce", 1, True, "The server was unable to deliver your message (ex: unknown user)."),
    "soft_bounce": ("SoftBounce", 4096, False, "Unable to temporarily deliver message (i.e. mailbox full)."),
    "transient": ("Transient", 2, False, "The server could not temporarily deliver your message."),
    "complained": ("SpamComplaint", 100001, True, "The subscriber explicitly marked this email as spam."),
    # Refusals about the sender, not the address: Postmark leaves the address active.
    "blocked": ("Blocked", 100006, False, "The ISP blocked this message (the sending IP is on a blocklist)."),
    "dmarc": ("DMARCPolicy", 100009, False, "The message was rejected by the recipient's DMARC policy."),
}


def postmark_event(
    kind: str,
    *,
    message_id: str,
    recipient: str,
    description: str | None = None,
    details: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, str]:
    """A Postmark tracking webhook body: `delivered` or one of POSTMARK_EVENTS, happened `at`
    (default: now)."""
    now = (at or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    common = {"MessageStream": "outbound", "ServerID": 23, "MessageID": message_id, "Metadata": {}}
    if kind == "delivered":
        event = {"RecordType": "Delivery", "Recipient": recipient, "DeliveredAt": now}
        event["Details"] = details or "smtp;250 2.0.0 OK"
    else:
        type_, code, inactive, text = POSTMARK_EVENTS[kind]
        record_type = "SpamComplaint" if type_ == "SpamComplaint" else "Bounce"
        event = {"RecordType": record_type, "ID": secrets.randbelow(10**12), "Type": type_, "TypeCode": code}
        event |= {"Description": description or text, "Details": details or "smtp;550 5.1.1 User unknown"}
        event |= {"Email": recipient, "From": "from@example.com", "BouncedAt": now, "Inactive": inactive}
    return json.dumps(common | event).encode(), "application/json"


# SendGrid event: the fields it adds to each, and the default for `reason` (sent as `response` or `reason`).
SENDGRID_EVENTS = {
    "delivered": ("response", "250 OK", {}),
    "deferred": ("response", "451 4.7.1 Try again later", {"attempt": "1"}),
    "bounce": ("reason", "550 5.1.1 The email account does not exist", {"status": "5.1.1", "type": "bounce"}),
    "dropped": ("reason", "Bounced Address", {"status": "5.0.0"}),
    "spamreport": (None, None, {}),
}


def sendgrid_events(events: list[dict]) -> tuple[bytes, str]:
    """A SendGrid Event Webhook body; each event's `message_id` goes in the `anymail_id` custom arg."""
    records = []
    for event in events:
        field, default, extra = SENDGRID_EVENTS[event["event"]]
        sg_message_id = event.get("sg_message_id") or f"{secrets.token_urlsafe(16)}.filterdrecv-1-0"
        record = {"email": event["recipient"], "timestamp": int(time.time()), "event": event["event"]}
        record |= {"smtp-id": f"<{uuid.uuid4().hex}@ismtpd0001p1>", "sg_event_id": secrets.token_urlsafe(16)}
        record |= {"sg_message_id": sg_message_id, "anymail_id": event["message_id"], **extra}
        if "type" in event:  # a bounce's classification: "bounce", or "blocked" (the sending IP or content)
            record["type"] = event["type"]
        if field:
            record[field] = event.get("reason") or default
        records.append(record)
    return json.dumps(records).encode(), "application/json"


# Brevo transactional event: the default `reason` (the receiving MTA's reply, or Brevo's own words).
BREVO_EVENTS = {
    "request": None,
    "delivered": None,
    "hard_bounce": "RecipientError: 550 5.1.1 Requested action not taken: mailbox unavailable.",
    "soft_bounce": "undefined Unable to find MX of domain example.com",
    "deferred": "451 4.7.1 Try again later",
    "blocked": "blocked : due to blacklist user",
    "invalid_email": "invalid email",
    "spam": None,
    "complaint": None,
    "error": "Internal error",
}
BREVO_ACCOUNT_TZ = ZoneInfo("Europe/Paris")  # Brevo's `date` is CET/CEST; ts_event and ts_epoch are UTC


def brevo_event(
    kind: str, *, message_id: str, recipient: str, reason: str | None = None
) -> tuple[bytes, str]:
    """A Brevo transactional webhook body (one event a post) of a kind in BREVO_EVENTS; `message_id`
    is the `messageId` the send was answered with, angle brackets and all."""
    now = datetime.now(UTC)
    event = {"event": kind, "email": recipient, "id": 1234567, "message-id": message_id}
    event |= {"date": now.astimezone(BREVO_ACCOUNT_TZ).strftime("%Y-%m-%d %H:%M:%S")}
    # anymail reads only ts_epoch (milliseconds) for the event's timestamp.
    event |= {
        "ts": int(now.timestamp()),
        "ts_event": int(now.timestamp()),
        "ts_epoch": int(now.timestamp() * 1000),
    }
    event |= {"subject": "Your invitation", "sending_ip": "185.41.28.109", "contact_id": 0}
    if reason or BREVO_EVENTS[kind]:
        event["reason"] = reason or BREVO_EVENTS[kind]
    return json.dumps(event).encode(), "application/json"
