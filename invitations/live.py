"""Live status for the staff board: state changes go to a channel-layer group."""

import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import formats, timezone

from invitations.models import Invitation

logger = logging.getLogger(__name__)

STAFF_GROUP = "invitations-staff"
STATUS_MESSAGE_TYPE = "invitation.status"


def invitation_payload(invitation: Invitation) -> dict:
    """What a row of the board shows, as JSON."""
    sent = invitation.sent and formats.date_format(timezone.localtime(invitation.sent), "DATETIME_FORMAT")
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "status": invitation.status,
        "status_label": invitation.status_label(),
        "sent": sent,
        "attempts": invitation.attempts,
        "sender": str(invitation.sender) if invitation.sender else None,
    }


def invitation_announce(*, invitation: Invitation) -> None:
    """Tell connected staff boards the invitation's state. Best effort: never raises."""
    async_to_sync(send_payloads)([invitation_payload(invitation)])


async def send_payloads(payloads: list[dict]) -> None:
    """One group message with the states of several invitations. Never raises."""
    try:
        message = {"type": STATUS_MESSAGE_TYPE, "invitations": payloads}
        await get_channel_layer().group_send(STAFF_GROUP, message)
    except Exception as exc:
        logger.debug("status of %d invitation(s) not announced: %s", len(payloads), exc)


class Announcements:
    """State changes from a worker's consumers, sent to the boards as one message with the
    latest state of each invitation every `interval` seconds: two group_sends per mail, each a
    hop to the event loop and Redis round trips, took a quarter of a busy worker's time."""

    interval = 0.1

    def __init__(self) -> None:
        self._pending: dict[int, dict] = {}
        self._lock = threading.Lock()

    def add(self, *, invitation: Invitation) -> None:
        """Called from any consumer thread in place of `invitation_announce`."""
        payload = invitation_payload(invitation)
        with self._lock:
            self._pending[invitation.pk] = payload

    async def flush(self) -> None:
        with self._lock:
            payloads, self._pending = list(self._pending.values()), {}
        if payloads:
            await send_payloads(payloads)
