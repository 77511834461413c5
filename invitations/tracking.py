"""After the send, the provider's word counts: its tracking webhooks (through anymail's views
at /anymail/<esp>/tracking/) mark invitations delivered, bounced or complained about."""

import logging
from datetime import datetime
from functools import wraps

from anymail.signals import AnymailTrackingEvent, tracking
from django.db import transaction
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
        message_id=event.message_id or "", event_type=event_type, reason=reason, at=event.timestamp
    )


def _soft_bounce(event: AnymailTrackingEvent) -> bool:
    """anymail calls Postmark's and Brevo's soft bounces "bounced"; their own type tells."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    return event.event_type == "bounced" and "soft" in str(raw.get("Type") or raw.get("event") or "").lower()


def invitation_record_event(
    *, message_id: str, event_type: str, reason: str = "", at: datetime | None = None
) -> bool:
    """Apply a provider's event to the invitation whose mail it is about; False when none is.

    Idempotent: a replayed event changes nothing more. A hard bounce, a rejection or a
    complaint also suppresses the address; a soft bounce ("deferred") is only logged.
    """
    invitation = Invitation.objects.filter(message_id=message_id).first() if message_id else None
    if invitation is None:
        logger.info("tracking event %s for unknown message id %r ignored", event_type, message_id)
        return False
    at = at or timezone.now()
    if event_type == "delivered":
        Invitation.objects.filter(pk=invitation.pk, delivered__isnull=True).update(delivered=at)
    elif event_type in SUPPRESSING:
        _suppress(invitation, SUPPRESSING[event_type], reason=reason, at=at)
    else:
        logger.info("invitation id=%s tracking event %s: %s", invitation.pk, event_type, reason)
        return True
    invitation.refresh_from_db()
    live.invitation_announce(invitation=invitation)
    return True


def _suppress(invitation: Invitation, why: str, *, reason: str, at: datetime) -> None:
    status = Status.COMPLAINED if why == Suppression.Reason.COMPLAINED else Status.BOUNCED
    with transaction.atomic():
        # An accepted invitation keeps its status; the address is suppressed all the same.
        Invitation.objects.filter(pk=invitation.pk, status__in=[Status.SENT, Status.SENDING]).update(
            status=status, last_error=reason[:2000]
        )
        Suppression.objects.get_or_create(
            email=invitation.email.lower(),
            defaults={"reason": why, "detail": reason[:2000], "created": at, "invitation": invitation},
        )
    logger.warning("invitation id=%s %s: %s; the address is suppressed", invitation.pk, status, reason)
    if status == Status.BOUNCED:
        send_on_commit(invitation_bounced, invitation=invitation, reason=reason)


def bad_request_on_malformed_body(view):
    """anymail's tracking views raise on a body they cannot parse: answer 400, change nothing."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("malformed tracking webhook body refused: %r", error)
            return HttpResponseBadRequest("malformed webhook body")

    return wrapped
