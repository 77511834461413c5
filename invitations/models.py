"""The Invitation row is the outbox: the channel message only wakes a worker up."""

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from invitations import conf
from invitations.conf import app_settings


def new_nonce() -> str:
    return secrets.token_hex(16)


def key_digest(key: str) -> str:
    """What the database keeps of an accept link's key. Keys carry 256 random bits, so a
    plain SHA-256 is enough: a leaked dump cannot be turned back into working links."""
    return hashlib.sha256(key.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def open(self) -> "InvitationQuerySet":
        """Invitations that stand in the way of inviting their address again."""
        return self.filter(status__in=Invitation.Status.open())

    def open_addresses(self, emails: Iterable[str]) -> set[str]:
        """Which of `emails` (lowercased) have an open invitation; matched as the unique
        constraint matches them, so the database answers from its index."""
        wanted = {email.lower() for email in emails}
        matches = self.open().annotate(address=Lower("email")).filter(address__in=wanted)
        return set(matches.values_list("address", flat=True))

    def expired(self, now: datetime | None = None) -> "InvitationQuerySet":
        """Sent invitations whose link has expired unused."""
        cutoff = (now or timezone.now()) - timedelta(days=app_settings.EXPIRY_DAYS)
        return self.filter(status=Invitation.Status.SENT, sent__lte=cutoff)

    def due(self, now: datetime) -> "InvitationQuerySet":
        """Pending invitations that may be sent now."""
        return self.filter(status=Invitation.Status.PENDING, next_attempt_at__lte=now)

    def unsuppressed(self) -> "InvitationQuerySet":
        """Invitations whose address has not bounced or complained."""
        return self.filter(~models.Exists(_suppressions_of_address()))

    def claim_due(self, pks: Sequence[int], *, worker: str, now: datetime) -> list["Invitation"]:
        """Mark the due invitations among `pks` as being sent by `worker`; return them in that order.

        A due invitation whose address is suppressed is not claimed but closed (pending ->
        bounced or complained, as the suppression says, with the reason in `last_error`) and
        returned with that status: whoever queued it (an admin's retry, a row older than the
        complaint), it is not mailed.

        Atomic: of workers claiming a row at once, one gets it (PostgreSQL skips rows another
        is locking; SQLite's IMMEDIATE transactions run one at a time). A batch takes one
        SELECT, which also reads the senders and the suppressions, and one UPDATE.
        """
        pks, sending = list(dict.fromkeys(pks)), Invitation.Status.SENDING
        with transaction.atomic(using=self.db):
            due = self.due(now).filter(pk__in=pks).select_related("sender")  # the mail names them
            due = due.annotate(suppressed_as=models.Subquery(_suppressions_of_address().values("reason")[:1]))
            rows = list(due.select_for_update(skip_locked=True, of=("self",)))
            claimed = [invitation for invitation in rows if not invitation.suppressed_as]
            self._close_suppressed([invitation for invitation in rows if invitation.suppressed_as])
            self.filter(pk__in=[invitation.pk for invitation in claimed]).update(
                status=sending,
                claimed_at=now,
                claimed_by=worker,
                attempts=models.F("attempts") + 1,
            )
        for invitation in claimed:  # as the UPDATE left them
            invitation.status, invitation.claimed_at, invitation.claimed_by = sending, now, worker
            invitation.attempts += 1
        order = {pk: index for index, pk in enumerate(pks)}
        return sorted(rows, key=lambda invitation: order[invitation.pk])

    def _close_suppressed(self, invitations: list["Invitation"]) -> None:
        """pending -> bounced or complained, for invitations whose address is suppressed."""
        if not invitations:
            return
        found = Suppression.objects.filter(email__in={invitation.email.lower() for invitation in invitations})
        notes = {suppression.email: suppression.explanation() for suppression in found}
        for invitation in invitations:
            invitation.status = invitation.suppressed_as
            note = notes.get(invitation.email.lower(), invitation.suppressed_as)  # lifted meanwhile
            invitation.last_error = f"not sent: the address {note}"
            self.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
                status=invitation.status, last_error=invitation.last_error
            )

    def release(self, pks: Sequence[int], *, worker: str) -> int:
        """Hand claims of `worker` that it never used back, for the sweep to publish at once."""
        return self.filter(pk__in=pks, status=Invitation.Status.SENDING, claimed_by=worker).update(
            status=Invitation.Status.PENDING,
            claimed_at=None,
            claimed_by="",
            attempts=models.F("attempts") - 1,
            published_at=None,
        )

    def forgotten(self, now: datetime) -> "InvitationQuerySet":
        """Due invitations whose wake-up was never published or has gone unanswered."""
        cutoff = now - timedelta(seconds=app_settings.REPUBLISH_AFTER)
        return self.due(now).filter(models.Q(published_at__isnull=True) | models.Q(published_at__lte=cutoff))

    def abandoned(self, now: datetime) -> "InvitationQuerySet":
        """Claims held past the claim timeout: the worker that took them has died."""
        cutoff = now - timedelta(seconds=app_settings.CLAIM_TIMEOUT)
        return self.filter(status=Invitation.Status.SENDING, claimed_at__lte=cutoff)


class Invitation(models.Model):
    """An invitation to sign up, and the delivery state of its e-mail."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        ACCEPTED = "accepted", "accepted"
        REVOKED = "revoked", "revoked"
        BOUNCED = "bounced", "bounced"  # the provider said the address does not exist
        COMPLAINED = "complained", "complained"  # the invitee reported it as spam

        @classmethod
        def open(cls) -> list[str]:
            return [cls.PENDING, cls.SENDING, cls.SENT]

    email = models.EmailField(max_length=254)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations_sent",
        db_index=False,  # invitation_sender_idx starts with it
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    # What the key in the link is derived from, with SECRET_KEY (invitations/keys.py); a resend
    # draws a new one, which kills the old link.
    key_nonce = models.CharField(max_length=32, default=new_nonce, editable=False)
    # SHA-256 of the random key of a link mailed before keys were derived (NULL, not "": many
    # rows must not collide on the unique index); new mails leave it empty.
    key_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    sent = models.DateTimeField(null=True, blank=True, editable=False)
    # The provider's id of the mail (for SMTP, the Message-ID header sent), for its webhooks.
    message_id = models.CharField(max_length=255, blank=True, db_index=True, editable=False)
    delivered = models.DateTimeField(null=True, blank=True, editable=False)
    accepted = models.DateTimeField(null=True, blank=True, editable=False)
    # Delivery bookkeeping.
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    next_attempt_at = models.DateTimeField(default=timezone.now, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    claimed_by = models.CharField(max_length=100, blank=True, editable=False)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="invitation_due_idx"),
            models.Index(fields=["status", "claimed_at"], name="invitation_claim_idx"),
            # The rate limit counts a sender's invitations of the last hour on every POST.
            models.Index(fields=["sender", "created"], name="invitation_sender_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(status__in=["pending", "sending", "sent"]),
                name="unique_open_invitation_per_email",
                violation_error_message="This address already has an open invitation.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_status_display()})"

    def status_label(self) -> str:
        """The status as the staff board shows it: "sent, delivered" once the provider said so."""
        label = self.get_status_display()
        return f"{label}, delivered" if self.delivered and self.status == self.Status.SENT else label

    @property
    def sender_name(self) -> str:
        """How mails and pages name the sender (INVITATIONS["USER_DISPLAY_NAME"])."""
        return conf.display_name_of(self.sender) if self.sender else "The team"

    @property
    def expires(self) -> datetime | None:
        if self.sent is None:
            return None
        return self.sent + timedelta(days=app_settings.EXPIRY_DAYS)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.status == self.Status.SENT and self.expires <= (now or timezone.now())


class SuppressionQuerySet(models.QuerySet):
    def in_force(self) -> "SuppressionQuerySet":
        """Suppressions an admin has not lifted."""
        return self.filter(lifted__isnull=True)


def _suppressions_of_address() -> models.QuerySet:
    """The suppression in force of an invitation's address, in a subquery: matched lowercased, as stored."""
    return Suppression.objects.in_force().filter(email=Lower(models.OuterRef("email")))


class Suppression(models.Model):
    """An address not to invite again: it hard-bounced or its owner complained. The admin's
    "lift" stamps `lifted` and allows it again; the row stays, so that a provider's replayed
    or late event from before the lift changes nothing (tracking.py)."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "bounced"
        COMPLAINED = "complained", "complained"

    email = models.EmailField(max_length=254, unique=True)  # as normalize_email() writes it, lowercased
    reason = models.CharField(max_length=16, choices=Reason)
    detail = models.TextField(blank=True)  # the provider's words
    created = models.DateTimeField(default=timezone.now)
    invitation = models.ForeignKey(Invitation, null=True, blank=True, on_delete=models.SET_NULL)
    lifted = models.DateTimeField(null=True, blank=True)  # when an admin allowed it again

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"

    def explanation(self) -> str:
        """What the staff pages say of it: "bounced on 2026-12-02: 550 no such user"."""
        if self.reason == self.Reason.COMPLAINED:
            return f"complained on {self.created:%Y-%m-%d}"
        return f"bounced on {self.created:%Y-%m-%d}" + (f": {self.detail}" if self.detail else "")
