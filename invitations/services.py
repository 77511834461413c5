"""Invitation logic: create (one or many), accept, and the admin's resend, retry and revoke."""

import contextlib
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404
from django.utils import timezone

from invitations import live, queue
from invitations.models import Invitation, key_digest

if TYPE_CHECKING:
    from invitations.forms import AcceptForm

Status = Invitation.Status


class BulkResult(StrEnum):
    QUEUED = "queued"
    ALREADY_INVITED = "already invited"
    INVALID = "invalid"
    RATE_LIMITED = "over the rate limit"


def normalize_email(email: str) -> str:
    """Strip whitespace and lowercase the domain, as Django does for users."""
    return BaseUserManager.normalize_email(email.strip())


class InvitationChecks(NamedTuple):
    already_invited: bool  # the address has an open invitation
    quota: int | None  # invitations the sender may still create this hour (None: no limit)


def invitation_checks(*, email: str | None, sender: AbstractBaseUser | None) -> InvitationChecks:
    """What stands in the way of inviting `email` (None: no address to check) now."""
    limited = sender is not None and bool(sender.pk)
    is_open, used = Invitation.objects.open_and_recent(
        email, sender_pk=sender.pk if limited else None, since=timezone.now() - timedelta(hours=1)
    )
    return InvitationChecks(is_open, max(settings.INVITATION_RATE_LIMIT - used, 0) if limited else None)


def rate_quota(*, sender: AbstractBaseUser | None) -> int | None:
    """How many more invitations the sender may create this hour (None: no limit)."""
    return invitation_checks(email=None, sender=sender).quota


def invitation_create(*, email: str, sender: AbstractBaseUser | None) -> Invitation:
    """Save a pending invitation and wake a worker once the transaction commits."""
    # In a caller's transaction, a savepoint keeps a duplicate (IntegrityError) from breaking
    # it; on its own, the INSERT commits by itself, without the round trips of BEGIN and COMMIT.
    nested = transaction.get_connection().in_atomic_block
    with transaction.atomic() if nested else contextlib.nullcontext():
        invitation = Invitation(email=email, sender=sender, published_at=timezone.now())
        Invitation.objects.insert(invitation)
    transaction.on_commit(
        lambda: queue.invitations_publish_soon(invitation_ids=[invitation.pk], announcing=[invitation])
    )
    return invitation


def invitations_create_many(
    *, emails: list[str], sender: AbstractBaseUser | None
) -> list[tuple[str, BulkResult]]:
    """Invite many addresses at once; return each address with what happened to it.

    Rows are inserted in bulk and their wake-ups published together after commit;
    whatever the channel cannot take is published later by the sweep.
    """
    wanted = [normalize_email(email) for email in emails]
    taken = set(
        Invitation.objects.annotate(address=Lower("email"))
        .filter(address__in={email.lower() for email in wanted}, status__in=Status.open())
        .values_list("address", flat=True)
    )
    quota = rate_quota(sender=sender)
    results, queued = [], []
    for email in wanted:
        if not _is_valid_email(email):
            results.append((email, BulkResult.INVALID))
        elif email.lower() in taken:
            results.append((email, BulkResult.ALREADY_INVITED))
        elif quota is not None and len(queued) >= quota:
            results.append((email, BulkResult.RATE_LIMITED))
        else:
            taken.add(email.lower())
            queued.append(email)
            results.append((email, BulkResult.QUEUED))
    now = timezone.now()
    rows = [Invitation(email=email, sender=sender, created=now, published_at=now) for email in queued]
    with transaction.atomic():
        ids = [row.pk for row in Invitation.objects.bulk_create(rows, batch_size=500)]
        transaction.on_commit(lambda: queue.invitations_publish(invitation_ids=ids))
    return results


def _is_valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= Invitation._meta.get_field("email").max_length


def invitation_for_key(*, key: str) -> Invitation:
    """The invitation a link's key belongs to, or 404: nothing about others is revealed."""
    return get_object_or_404(Invitation.objects.select_related("sender"), key_digest=key_digest(key))


def acceptance_refusal(invitation: Invitation) -> str | None:
    """Why this invitation can no longer be accepted ("accepted", "revoked", "expired"), or None."""
    if invitation.status in (Status.ACCEPTED, Status.REVOKED):
        return invitation.status
    if invitation.status != Status.SENT or invitation.is_expired():
        return "expired"
    return None


def invitation_accept(*, invitation: Invitation, form: "AcceptForm") -> AbstractBaseUser | None:
    """Create the invitee's user and mark the invitation accepted.

    Exactly one of several concurrent calls wins; the others get None and change nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        won = (
            Invitation.objects.filter(pk=invitation.pk, status=Status.SENT)
            .exclude(pk__in=Invitation.objects.expired(now))
            .update(status=Status.ACCEPTED, accepted=now)
        )
        if not won:
            return None
        user = form.save()
    invitation.status, invitation.accepted = Status.ACCEPTED, now
    live.invitation_announce(invitation=invitation)
    return user


def invitations_requeue(*, ids: list[int], statuses: list[str]) -> int:
    """Queue the given invitations for a fresh send (new key, attempts reset) if their
    status is one of `statuses`; return how many were queued.

    A row whose address meanwhile has another open invitation is left alone.
    """
    queued = []
    for invitation_id in ids:
        try:
            with transaction.atomic():
                changed = Invitation.objects.filter(pk=invitation_id, status__in=statuses).update(
                    status=Status.PENDING,
                    attempts=0,
                    last_error="",
                    key_digest=None,
                    next_attempt_at=timezone.now(),
                    published_at=timezone.now(),
                )
        except IntegrityError:
            continue
        if changed:
            queued.append(invitation_id)
    transaction.on_commit(lambda: queue.invitations_publish(invitation_ids=queued))
    return len(queued)


def invitations_revoke(*, ids: list[int]) -> int:
    """Revoke invitations not yet accepted; their links answer 410 from now on."""
    revocable = [Status.PENDING, Status.SENT, Status.FAILED]
    return Invitation.objects.filter(pk__in=ids, status__in=revocable).update(status=Status.REVOKED)
