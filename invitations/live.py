"""Live status for the staff board: state changes go to a channel-layer group."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import formats, timezone

from invitations.models import Invitation

logger = logging.getLogger(__name__)

STAFF_GROUP = "invitations-staff"
STATUS_MESSAGE_TYPE = "invitation.status"


def invitation_payload(invitation: Invitation) -> dict:
    """What a row of the board shows, as JSON."""
    sent = (
        formats.date_format(timezone.localtime(invitation.sent), "DATETIME_FORMAT")
        if invitation.sent
        else None
    )
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "status": invitation.status,
        "status_label": invitation.get_status_display(),
        "sent": sent,
        "attempts": invitation.attempts,
        "sender": str(invitation.sender) if invitation.sender else None,
    }


def invitation_announce(*, invitation: Invitation) -> None:
    """Tell connected staff boards the invitation's state. Best effort: never raises."""
    try:
        message = {"type": STATUS_MESSAGE_TYPE, "invitation": invitation_payload(invitation)}
        async_to_sync(get_channel_layer().group_send)(STAFF_GROUP, message)
    except Exception as exc:
        logger.debug("status of invitation id=%s not announced: %s", invitation.pk, exc)
