"""The invitation's state machine: every change of `status` is one method here, one
conditional UPDATE that names the states it leaves, so two workers, a webhook and an admin
acting on one row at once can never both win.

                 create                       requeue (resend, retry now)
                    |          +-------------------------------------------+
                    v          v                                           |
    +------------> pending --claim_due--> sending --stamp_sent--> sent ----+--accept--> accepted
    |               |   ^                  |  |  |                  |  |
    |               |   +--release_unused--+  |  +--fail--> failed -+  +--mark_bounced--> bounced,
    |               |   +--release_dead-------+  |                  |                    complained
    |               |   +--schedule_retry--------+                  |
    |               +--claim_due (address suppressed)--> bounced, complained, opted_out
    +--- revoke: pending, sent, failed --> revoked
    +--- opt_out: pending, sending, sent, failed --> opted_out (the invitee's one-click link)

The one reminder claims a sent row without changing its status (the link keeps working and
may be accepted meanwhile): claimed_at set on a row neither pending nor sending is a reminder claim.

    sent (reminder due) --claim_reminders--> claimed --stamp_reminded--> `reminded` stamped
                                               +--release_reminder (a retry, due later)
                                               +--release_dead (its worker died)

Every transition into an end (accepted, failed, revoked, bounced, complained, opted_out) stamps
`ended`, which the retention purge reads; requeue (retry a failed one) clears it.
`published_at` (when a wake-up last went out) and `delivered` are bookkeeping beside the
status: `mark_published`, `unpublish`, `stamp_delivered`.
"""

import secrets
from collections.abc import Sequence
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

from invitations.queries import (
    UNCLAIMED_BY_REMINDERS,
    InvitationQueries,
    accounts_of_address,
    suppressions_of_address,
)


def new_nonce() -> str:
    """What an accept link's key is derived from (keys.py); a new one kills the old link."""
    return secrets.token_hex(16)


class InvitationQuerySet(InvitationQueries):
    """The queries of InvitationQueries, and every transition of the state machine above."""

    # Transitions of a worker's claim.

    def claim_due(self, pks: Sequence[int], *, worker: str, now: datetime) -> list:
        """pending (due) -> sending, for `worker`; return the rows in the order of `pks`.

        A due invitation whose address is suppressed is not claimed but closed (pending ->
        bounced or complained, as the suppression says, with the reason in `last_error`) and
        returned with that status: whoever queued it (an admin's retry, a row older than the
        complaint), it is not mailed.

        Atomic: of workers claiming a row at once, one gets it (PostgreSQL skips rows another
        is locking; SQLite's IMMEDIATE transactions run one at a time). A batch takes one
        SELECT, which also reads the senders, the suppressions and whether the address has an
        account (`has_account`), and one UPDATE.
        """
        pks, sending = list(dict.fromkeys(pks)), self.model.Status.SENDING
        with transaction.atomic(using=self.db):
            due = self.due(now).filter(pk__in=pks).select_related("sender")  # the mail names them
            due = due.annotate(suppressed_as=models.Subquery(suppressions_of_address().values("reason")[:1]))
            due = due.annotate(has_account=models.Exists(accounts_of_address()))  # the mail says so
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

    def _close_suppressed(self, invitations: list) -> None:
        """pending -> bounced, complained or opted_out, for invitations whose address is suppressed."""
        if not invitations:
            return
        now = timezone.now()
        from invitations.models import Suppression

        found = Suppression.objects.filter(email__in={invitation.email.lower() for invitation in invitations})
        notes = {suppression.email: suppression.explanation() for suppression in found}
        for invitation in invitations:
            invitation.status = invitation.suppressed_as
            note = notes.get(invitation.email.lower(), invitation.suppressed_as)  # lifted meanwhile
            invitation.last_error = f"not sent: the address {note}"
            self.filter(pk=invitation.pk, status=self.model.Status.PENDING).update(
                status=invitation.status, last_error=invitation.last_error, ended=now
            )

    def release_unused(self, pks: Sequence[int], *, worker: str) -> int:
        """sending -> pending: claims of `worker` it never started on (it is stopping, or the
        provider said "too many"); the attempt does not count, the sweep publishes them at once."""
        return self.filter(pk__in=pks, status=self.model.Status.SENDING, claimed_by=worker).update(
            status=self.model.Status.PENDING,
            claimed_at=None,
            claimed_by="",
            attempts=models.F("attempts") - 1,
            published_at=None,
        )

    def release_dead(self, *, reason: str) -> int:
        """sending -> pending, for claims in this queryset whose worker died (`abandoned`, or
        one whose heartbeat stopped): the attempt counts, as the mail may have gone. A dead
        reminder claim is dropped (the sweep publishes the reminder again): at most that one
        reminder goes twice, as a send would."""
        sending = self.model.Status.SENDING
        reminders = self.exclude(status__in=UNCLAIMED_BY_REMINDERS).filter(claimed_at__isnull=False)
        released = reminders.update(claimed_at=None, published_at=None, last_error=reason)
        return released + self.filter(status=sending).update(
            status=self.model.Status.PENDING, claimed_at=None, published_at=None, last_error=reason
        )

    def stamp_sent(self, pk: int, *, worker: str, sent: datetime, message_id: str) -> int:
        """sending (claimed by `worker`) -> sent."""
        return self._own_claim(pk, worker).update(
            status=self.model.Status.SENT, sent=sent, message_id=message_id, last_error="", claimed_at=None
        )

    def schedule_retry(self, pk: int, *, worker: str, at: datetime, error: str, counted: bool = True) -> int:
        """sending (claimed by `worker`) -> pending, due `at`; the sweep publishes it then.
        `counted=False`: the provider's quota, not this mail, so the attempt is not counted."""
        attempts = models.F("attempts") if counted else models.F("attempts") - 1
        return self._own_claim(pk, worker).update(
            status=self.model.Status.PENDING,
            next_attempt_at=at,
            published_at=None,
            last_error=error,
            attempts=attempts,
            claimed_at=None,
        )

    def fail(self, pk: int, *, worker: str, error: str) -> int:
        """sending (claimed by `worker`) -> failed, for good, with the server's words."""
        return self._own_claim(pk, worker).update(
            status=self.model.Status.FAILED, last_error=error, claimed_at=None, ended=timezone.now()
        )

    def _own_claim(self, pk: int, worker: str) -> "InvitationQuerySet":
        return self.filter(pk=pk, status=self.model.Status.SENDING, claimed_by=worker)

    # Transitions of a worker's reminder claim (the status stays).

    def claim_reminders(self, pks: Sequence[int], *, worker: str, now: datetime) -> list:
        """Claim the reminders due among `pks` for `worker`, as claim_due claims sends: of
        workers claiming one at once, one gets it; a claimed or reminded one is skipped."""
        with transaction.atomic(using=self.db):
            due = self.remind_due(now).filter(pk__in=pks).select_related("sender")
            due = due.annotate(has_account=models.Exists(accounts_of_address()))
            rows = list(due.select_for_update(skip_locked=True, of=("self",)))
            self.filter(pk__in=[row.pk for row in rows]).update(claimed_at=now, claimed_by=worker)
        for invitation in rows:
            invitation.claimed_at, invitation.claimed_by = now, worker
        return rows

    def stamp_reminded(self, pk: int, *, worker: str, at: datetime, error: str = "") -> int:
        """The reminder held by `worker` went out (or failed for good, with `error`): stamped
        `reminded`, never again."""
        return self._own_reminder(pk, worker).update(reminded=at, claimed_at=None, last_error=error)

    def release_reminder(self, pk: int, *, worker: str, at: datetime, error: str) -> int:
        """The reminder held by `worker` failed for now: due again `at`."""
        return self._own_reminder(pk, worker).update(
            claimed_at=None, next_attempt_at=at, published_at=None, last_error=error
        )

    def _own_reminder(self, pk: int, worker: str) -> "InvitationQuerySet":
        own = self.filter(pk=pk, claimed_by=worker, claimed_at__isnull=False, reminded__isnull=True)
        return own.exclude(status__in=UNCLAIMED_BY_REMINDERS)

    # Transitions by staff, invitees and providers.

    def requeue(self, *, statuses: Sequence[str]) -> int:
        """`statuses` (sent: resend; failed: retry now) -> pending, with a new key (the old link
        stops working) and the attempts reset, unless the address is suppressed. Raises
        IntegrityError if the address has another open invitation."""
        now = timezone.now()
        return (
            self.unsuppressed()
            .filter(status__in=statuses)
            .update(
                status=self.model.Status.PENDING,
                attempts=0,
                last_error="",
                key_digest=None,
                key_nonce=new_nonce(),
                next_attempt_at=now,
                published_at=now,
                ended=None,
                reminded=None,  # a resend starts over: one reminder after it
                claimed_at=None,
            )
        )

    def revoke(self) -> int:
        """pending, sent, failed -> revoked: their links answer 410 from now on."""
        Status = self.model.Status
        return self.filter(status__in=[Status.PENDING, Status.SENT, Status.FAILED]).update(
            status=Status.REVOKED, ended=timezone.now()
        )

    def opt_out(self, *, now: datetime) -> int:
        """pending, sending, sent, failed -> opted_out: the invitee asked not to be invited.
        A mail in flight (sending) finds its claim gone: it is neither stamped sent nor retried."""
        Status = self.model.Status
        return self.filter(status__in=[Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED]).update(
            status=Status.OPTED_OUT, ended=now, claimed_at=None
        )

    def accept(self, pk: int, *, now: datetime) -> int:
        """sent (and not expired) -> accepted."""
        return (
            self.unexpired_sent(now)
            .filter(pk=pk)
            .update(status=self.model.Status.ACCEPTED, accepted=now, ended=now)
        )

    def mark_bounced(self, pk: int, *, status: str, reason: str) -> int:
        """sent, sending -> bounced or complained, with the provider's words (an accepted
        invitation keeps its status)."""
        Status = self.model.Status
        return self.filter(pk=pk, status__in=[Status.SENT, Status.SENDING]).update(
            status=status, last_error=reason[:2000], ended=timezone.now()
        )

    # Bookkeeping beside the status.

    def mark_published(self, pks: Sequence[int], *, at: datetime) -> int:
        return self.filter(pk__in=pks).update(published_at=at)

    def unpublish(self, pks: Sequence[int]) -> int:
        """Pending invitations (or sent ones, for their reminder) whose wake-up did not go out,
        or was taken and not acted on: the sweep's next round publishes them."""
        statuses = [self.model.Status.PENDING, self.model.Status.SENT]
        return self.filter(pk__in=pks, status__in=statuses).update(published_at=None)

    def stamp_delivered(self, pk: int, *, at: datetime) -> int:
        """The provider said it delivered the mail; the first word counts."""
        return self.filter(pk=pk, delivered__isnull=True).update(delivered=at)
