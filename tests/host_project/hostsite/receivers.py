"""The host's receivers: each signal as one JSON line in SIGNALS_LOG, for the test to read."""

import json
import os

from django.dispatch import receiver

from invitations import signals


def record(name: str, invitation, **details) -> None:
    with open(os.environ["SIGNALS_LOG"], "a") as log:
        log.write(json.dumps({"signal": name, "email": invitation.email, **details}) + "\n")


@receiver(signals.invitation_created)
def created(sender, invitation, **kwargs):
    record("created", invitation)


@receiver(signals.invitation_sent)
def sent(sender, invitation, **kwargs):
    record("sent", invitation)


@receiver(signals.invitation_accepted)
def accepted(sender, invitation, user, request, **kwargs):
    record("accepted", invitation, user=user.get_username(), path=request.path)


@receiver(signals.invitation_bounced)
def bounced(sender, invitation, reason, **kwargs):
    record("bounced", invitation, reason=reason)
