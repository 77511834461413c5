"""After the send, the provider's word counts: its tracking webhooks (through anymail's views
at /anymail/<esp>/tracking/) mark invitations delivered, bounced or complained about."""

import logging
from datetime import datetime
from functools import wraps

from anymail.signals import AnymailTrackingEvent, tracking
from django.core import checks
from django.db import transaction
from django.db.models.functions import Lower
from django.dispatch import receiver
from django.http import HttpResponseBadRequest
from django.utils import timezone

from invitations import live
from invitations.models import Invitation, Suppression
from invitations.signals import invitation_bounced, send_on_commit

logger = logging.getLogger(__name__)
Status = Invitation.Status
# anymail's normalised event types: "bounced" is a hard bounce, "deferred" a soft one.
SUPPRESSING = {
    "bounced": Suppression.Reason.BOUNCED,
    "rejected": Suppression.Reason.BOUNCED,
    "complained": Suppression.Reason.COMPLAINED,
}


@receiver(tracking)
def invitation_tracked(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    reason = event.description or event.mta_response or event.reject_reason or ""
    event_type = "deferred" if _soft_bounce(event) else event.event_type
    invitation_record_event(
        message_id=_message_id(event.message_id),
        event_type=event_type,
        reason=_text(reason),
        at=event.timestamp,
        about_the_address=_about_the_address(event, esp_name),
    )


def _text(value) -> str:
    """A provider's string as the database can keep it: PostgreSQL refuses NUL in text."""
    return str(value or "").replace("\x00", "")


def _message_id(value) -> str:
    """No id of ours holds a NUL: such an id is nobody's (and PostgreSQL could not look it up)."""
    value = str(value or "")
    return "" if "\x00" in value else value


def _soft_bounce(event: AnymailTrackingEvent) -> bool:
    """anymail calls Postmark's and Brevo's soft bounces "bounced"; their own type tells."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    return event.event_type == "bounced" and "soft" in str(raw.get("Type") or raw.get("event") or "").lower()


def _about_the_address(event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Whether a refusal says the address cannot take mail, rather than that this sender or
    message was turned away (a blocklisted sending IP, a DMARC policy): only the first kind
    suppresses the address for good."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if event.event_type == "complained":
        return True
    if esp_name.lower() == "postmark":  # Postmark deactivates the address only when it is gone
        return raw.get("Inactive") is True
    if esp_name.lower() == "sendgrid":
        if event.event_type == "rejected":  # dropped: suppressed only for a bounced or invalid address
            return event.reject_reason in ("bounced", "invalid")
        return str(raw.get("type") or "bounce").lower() != "blocked"
    return True


def invitation_record_event(
    *,
    message_id: str,
    event_type: str,
    reason: str = "",
    at: datetime | None = None,
    about_the_address: bool = True,
) -> bool:
    """Apply a provider's event to the invitation whose mail it is about; False when none is.

    Idempotent: a replayed event changes nothing more. A hard bounce, a rejection or a
    complaint about the address also suppresses it; one about the sender (`about_the_address`
    False) is recorded on the row only; a soft bounce ("deferred") is only logged. An event
    about an invitation that is no longer the address's latest, or from before an admin lifted
    the address, changes nothing.
    """
    invitation = Invitation.objects.filter(message_id=message_id).first() if message_id else None
    if invitation is None:
        logger.info("tracking event %s for unknown message id %s ignored", event_type, _loggable(message_id))
        return False
    at = at or timezone.now()
    if event_type == "delivered":
        Invitation.objects.stamp_delivered(invitation.pk, at=at)
    elif event_type in SUPPRESSING:
        _suppress(invitation, SUPPRESSING[event_type], reason=reason, at=at, address=about_the_address)
    else:
        logger.info("invitation id=%s tracking event %s: %s", invitation.pk, event_type, _loggable(reason))
        return True
    invitation.refresh_from_db()
    live.invitation_announce(invitation=invitation)
    return True


def _suppress(invitation: Invitation, why: str, *, reason: str, at: datetime, address: bool) -> None:
    status = Status.COMPLAINED if why == Suppression.Reason.COMPLAINED else Status.BOUNCED
    email = invitation.email.lower()
    with transaction.atomic():
        suppression = Suppression.objects.select_for_update().filter(email=email).first()
        if _superseded(invitation, at=at, suppression=suppression):
            logger.info(
                "invitation id=%s %s: superseded by a lift or a newer invitation", invitation.pk, status
            )
            return
        # An accepted invitation keeps its status; the address is suppressed all the same.
        marked = Invitation.objects.mark_bounced(invitation.pk, status=status, reason=reason)
        if marked and status == Status.BOUNCED:  # once: a replay finds the row marked already
            send_on_commit(invitation_bounced, invitation=invitation, reason=reason)
        if not address:
            logger.warning(
                "invitation id=%s %s, not about the address (not suppressed): %s",
                invitation.pk, status, _loggable(reason),
            )  # fmt: skip
            return
        if suppression is not None and suppression.lifted is None:
            return  # suppressed already: a replay, or a second event about the same mail
        fields = {
            "reason": why,
            "detail": reason[:2000],
            "created": at,
            "invitation": invitation,
            "lifted": None,
        }
        Suppression.objects.update_or_create(email=email, defaults=fields)
    logger.warning(
        "invitation id=%s %s: %s; the address is suppressed", invitation.pk, status, _loggable(reason)
    )


def _superseded(invitation: Invitation, *, at: datetime, suppression: Suppression | None) -> bool:
    """An event about a mail that no longer counts: the address was invited again since, or an
    admin lifted it after the event (a provider retrying its webhook replays old events)."""
    lifted = suppression.lifted if suppression is not None else None
    if lifted is not None and invitation.created <= lifted and at <= lifted:
        return True
    newer = Invitation.objects.annotate(address=Lower("email")).filter(
        address=invitation.email.lower(), created__gt=invitation.created
    )
    return newer.exists()


def _loggable(text: str) -> str:
    """A provider's words for one log line: line breaks and other controls escaped, so that a
    bounce reason cannot forge a line of its own (the row keeps them as they came)."""
    return text.encode("unicode_escape").decode("ascii")


def bad_request_on_malformed_body(view):
    """anymail's tracking views raise on a body they cannot parse: answer 400, change nothing."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            # RecursionError: JSON nested deeper than the parser goes (100,000 brackets).
            logger.warning("malformed tracking webhook body refused: %s", _loggable(repr(error)))
            return HttpResponseBadRequest("malformed webhook body")

    return wrapped


@checks.register()
def tracking_webhooks_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """invitations.W101/W102: see tracking_urls.webhooks_check."""
    from invitations.tracking_urls import webhooks_check  # imports every provider's view

    return webhooks_check()
