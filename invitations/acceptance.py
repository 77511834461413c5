"""Following the link: finding the invitation by its key, and accepting it exactly once."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone

from invitations import keys, live
from invitations.models import Invitation
from invitations.signals import invitation_accepted, send_on_commit

Status = Invitation.Status


class UsernameTaken(Exception):
    """Another sign-up took the username between the form's check and the save."""


def invitation_for_key(*, key: str) -> Invitation:
    """The invitation a link's key belongs to, or 404: nothing about others is revealed."""
    invitation = keys.invitation_for_key(key)
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def acceptance_refusal(invitation: Invitation) -> str | None:
    """Why this invitation can no longer be accepted ("accepted", "revoked", "expired"), or None."""
    if invitation.status in (Status.ACCEPTED, Status.REVOKED):
        return invitation.status
    if invitation.status != Status.SENT or invitation.is_expired():
        return "expired"
    return None


def invitation_accept(
    *, invitation: Invitation, user: AbstractBaseUser, request: HttpRequest | None = None
) -> bool:
    """Save the invitee's new `user` and mark the invitation accepted, both or neither.

    Of concurrent calls for one invitation one wins, the others get False. Raises UsernameTaken,
    changing nothing, when a concurrent sign-up saved the same username first."""
    now = timezone.now()
    try:
        with transaction.atomic():
            won = (
                Invitation.objects.filter(pk=invitation.pk, status=Status.SENT)
                .exclude(pk__in=Invitation.objects.expired(now))
                .update(status=Status.ACCEPTED, accepted=now)
            )
            if not won:
                return False
            user.save()
    except IntegrityError:
        if type(user)._default_manager.filter(**{user.USERNAME_FIELD: user.get_username()}).exists():
            raise UsernameTaken(user.get_username()) from None
        raise
    invitation.status, invitation.accepted = Status.ACCEPTED, now
    live.invitation_announce(invitation=invitation)
    send_on_commit(invitation_accepted, invitation=invitation, user=user, request=request)
    return True
