"""The Invitation row is the outbox: the channel message only wakes a worker up. Its state
machine, every change of `status`, is in outbox.py."""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invitations import conf
from invitations.conf import app_settings
from invitations.outbox import InvitationQuerySet, new_nonce
from invitations.queries import OPEN

EXPIRED = "expired"  # a state of the board and the admin's filter, not a stored status


def key_digest(key: str) -> str:
    """What the database keeps of an accept link's key. Keys carry 256 random bits, so a
    plain SHA-256 is enough: a leaked dump cannot be turned back into working links."""
    return hashlib.sha256(key.encode()).hexdigest()


class Invitation(models.Model):
    """An invitation to sign up, and the delivery state of its e-mail."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        ACCEPTED = "accepted", _("accepted")
        REVOKED = "revoked", _("revoked")
        BOUNCED = "bounced", _("bounced")  # the provider said the address does not exist
        COMPLAINED = "complained", _("complained")  # the invitee reported it as spam
        OPTED_OUT = "opted_out", _("opted out")  # the invitee asked not to be invited (List-Unsubscribe)

        @classmethod
        def open(cls) -> list[str]:
            return list(OPEN)

    email = models.EmailField(_("e-mail address"), max_length=254)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sender"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations_sent",
        db_index=False,  # invitation_sender_idx starts with it
    )
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.PENDING)
    # What the key in the link is derived from, with SECRET_KEY (invitations/keys.py); a resend
    # draws a new one, which kills the old link.
    key_nonce = models.CharField(_("key nonce"), max_length=32, default=new_nonce, editable=False)
    # SHA-256 of the random key of a link mailed before keys were derived (NULL, not "": many
    # rows must not collide on the unique index); new mails leave it empty.
    key_digest = models.CharField(_("key digest"), max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    sent = models.DateTimeField(_("sent"), null=True, blank=True, editable=False)
    # The provider's id of the mail (for SMTP, the Message-ID header sent), for its webhooks.
    message_id = models.CharField(_("message ID"), max_length=255, blank=True, db_index=True, editable=False)
    delivered = models.DateTimeField(_("delivered"), null=True, blank=True, editable=False)
    accepted = models.DateTimeField(_("accepted"), null=True, blank=True, editable=False)
    # When it ended (accepted, revoked, failed, bounced, complained, opted out), for the
    # retention purge; an expired one ends EXPIRY_DAYS after `sent`.
    ended = models.DateTimeField(_("ended"), null=True, blank=True, editable=False)
    # Delivery bookkeeping.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now, editable=False)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True, editable=False)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True, editable=False)
    # Django auth groups the invitee joins on accepting (the sender may grant them: forms.py).
    groups = models.ManyToManyField(
        "auth.Group", verbose_name=_("groups"), blank=True, related_name="invitations"
    )
    # The invitee's language (a code of settings.LANGUAGES): the mails and the invitee's pages
    # use it; "" (rows from before it): settings.LANGUAGE_CODE.
    language = models.CharField(_("language"), max_length=16, blank=True, default="", db_default="")
    # When the one reminder went out (redrive.py); a resend clears it.
    reminded = models.DateTimeField(_("reminded"), null=True, blank=True, editable=False)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="invitation_due_idx"),
            models.Index(fields=["status", "claimed_at"], name="invitation_claim_idx"),
            # The rate limit counts a sender's invitations of the last hour on every POST.
            models.Index(fields=["sender", "created"], name="invitation_sender_idx"),
            # The retention purge looks for rows that ended long ago; open ones have no `ended`.
            models.Index(
                fields=["ended"], name="invitation_ended_idx", condition=models.Q(ended__isnull=False)
            ),
            # Each sweep looks for sent invitations not reminded yet (outbox.remind_due).
            models.Index(
                fields=["sent"],
                name="invitation_remind_idx",
                condition=models.Q(status="sent", reminded__isnull=True),
            ),
            # The board and the admin list the newest first (Meta.ordering), 50 or 100 at a time.
            models.Index(fields=["-created", "-id"], name="invitation_recent_idx"),
            # The admin's status filters (newest first), the counts by status of /healthz and
            # /metrics, and the oldest pending invitation: each reads only its status's entries.
            models.Index(fields=["status", "-created", "-id"], name="invitation_status_recent_idx"),
            # The board's sender and status filters together, newest first: the planner takes the
            # two as independent and would read the whole recent index for a pair that matches
            # nothing (163 ms at 200,000 rows; 0.1 ms with this index).
            models.Index(fields=["sender", "status", "-created", "-id"], name="invitation_sender_status_idx"),
            # Expired or still open (a range on `sent`), and /metrics' recent send latency.
            models.Index(fields=["sent"], name="invitation_sent_idx"),
            # The sweep looks for pending invitations whose wake-up was never published or is old.
            models.Index(
                fields=["published_at"],
                condition=models.Q(status="pending"),
                name="invitation_unpublished_idx",
            ),
            # The admin's search: a prefix of the address. The pattern operator class lets
            # PostgreSQL answer LIKE 'prefix%' from the index in any collation (other databases
            # ignore it).
            models.Index(
                fields=["email"], opclasses=["varchar_pattern_ops"], name="invitation_email_prefix_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(status__in=["pending", "sending", "sent"]),
                name="unique_open_invitation_per_email",
                violation_error_message=_("This address already has an open invitation."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_status_display()})"

    @property
    def state(self) -> str:
        """The status as the staff board tells it apart: "expired" for a sent invitation whose
        link expired unused, else the stored status."""
        return EXPIRED if self.sent is not None and self.is_expired() else self.status

    def status_label(self) -> str:
        """The state as the staff board shows it: "sent, delivered" once the provider said so,
        "expired" once the link has."""
        if self.state == EXPIRED:
            return gettext("expired")
        label = self.get_status_display()
        if self.delivered and self.status == self.Status.SENT:
            return gettext("%(status)s, delivered") % {"status": label}
        return label

    @property
    def reason(self) -> str:
        """Why it ended without an acceptance, for the board: the server's or the provider's
        words on a failed, bounced or complained one; "" for the others."""
        if self.status == self.Status.OPTED_OUT:
            return self.last_error or gettext("The invitee asked not to be invited.")
        if self.status in (self.Status.FAILED, self.Status.BOUNCED, self.Status.COMPLAINED):
            return self.last_error
        return ""

    @property
    def sender_name(self) -> str:
        """How mails and pages name the sender (INVITATIONS["USER_DISPLAY_NAME"])."""
        return conf.display_name_of(self.sender) if self.sender else gettext("The team")

    @property
    def expires(self) -> datetime | None:
        if self.sent is None:
            return None
        return self.sent + timedelta(days=app_settings.EXPIRY_DAYS)

    @property
    def language_code(self) -> str:
        """The language its mails and the invitee's pages are written in."""
        return self.language or settings.LANGUAGE_CODE

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.status == self.Status.SENT and self.expires <= (now or timezone.now())


class SuppressionQuerySet(models.QuerySet):
    def in_force(self) -> "SuppressionQuerySet":
        """Suppressions an admin has not lifted."""
        return self.filter(lifted__isnull=True)


class Suppression(models.Model):
    """An address not to invite again: it hard-bounced, or its owner complained or opted out. The admin's
    "lift" stamps `lifted` and allows it again; the row stays, so that a provider's replayed
    or late event from before the lift changes nothing (tracking.py)."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("complained")
        OPTED_OUT = "opted_out", _("opted out")  # the one-click link of a mail (List-Unsubscribe)

    email = models.EmailField(
        _("e-mail address"), max_length=254, unique=True
    )  # as normalize_email() writes it, lowercased
    reason = models.CharField(_("reason"), max_length=16, choices=Reason)
    detail = models.TextField(_("detail"), blank=True)  # the provider's words
    created = models.DateTimeField(_("created"), default=timezone.now)
    invitation = models.ForeignKey(
        Invitation, verbose_name=_("invitation"), null=True, blank=True, on_delete=models.SET_NULL
    )
    lifted = models.DateTimeField(_("lifted"), null=True, blank=True)  # when an admin allowed it again

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"

    def explanation(self) -> str:
        """What the staff pages say of it: "bounced on 2026-12-02: 550 no such user"."""
        date = f"{self.created:%Y-%m-%d}"
        if self.reason == self.Reason.COMPLAINED:
            return gettext("complained on %(date)s") % {"date": date}
        if self.reason == self.Reason.OPTED_OUT:
            return gettext("asked not to be invited on %(date)s") % {"date": date}
        bounced = gettext("bounced on %(date)s") % {"date": date}
        return bounced + (f": {self.detail}" if self.detail else "")
