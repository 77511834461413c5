"""Hooks for the host project, each sent once the transaction that caused it has committed
(at once where no transaction is open), with the Invitation model as `sender`:

    from django.dispatch import receiver
    from invitations.signals import invitation_accepted

    @receiver(invitation_accepted)
    def join_team(sender, invitation, user, request, **kwargs):
        Membership.objects.get_or_create(user=user, team=Team.objects.get(slug="staff"))

A receiver that raises is logged and does not undo or stop what was done: the invitation
stays created, sent or accepted, and the other receivers still run.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

invitation_created = Signal()  # invitation
invitation_sent = Signal()  # invitation: its mail was taken by the server or provider
invitation_accepted = Signal()  # invitation, user, request (None outside a request)
invitation_bounced = Signal()  # invitation, reason: the provider's words


def send_on_commit(signal: Signal, **arguments) -> None:
    """Send `signal` once the current transaction commits."""
    from invitations.models import Invitation

    def send() -> None:
        for receiver, result in signal.send_robust(sender=Invitation, **arguments):
            if isinstance(result, Exception):
                logger.error("receiver %r of an invitation signal failed", receiver, exc_info=result)

    transaction.on_commit(send)
