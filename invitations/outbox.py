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
    |               +--claim_due (address suppressed)--> bounced, complained
    +--- revoke: pending, sent, failed --> revoked

`published_at` (when a wake-up last went out) and `delivered` are bookkeeping beside the
status: `mark_published`, `unpublish`, `stamp_delivered`.
"""

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import connections, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from invitations.conf import app_settings

OPEN = ["pending", "sending", "sent"]  # the statuses that stand in the way of a new invitation
# Counts of a status (the admin's pages, /healthz, /metrics) are exact up to this many rows.
EXACT_COUNT = 10_000


def new_nonce() -> str:
    """What an accept link's key is derived from (keys.py); a new one kills the old link."""
    return secrets.token_hex(16)


class InvitationQuerySet(models.QuerySet):
    # Queries.

    def open(self) -> "InvitationQuerySet":
        """Invitations that stand in the way of inviting their address again."""
        return self.filter(status__in=OPEN)

    def open_addresses(self, emails: Iterable[str]) -> set[str]:
        """Which of `emails` (lowercased) have an open invitation; matched as the unique
        constraint matches them, so the database answers from its index."""
        wanted = {email.lower() for email in emails}
        matches = self.open().annotate(address=Lower("email")).filter(address__in=wanted).order_by()
        return set(matches.values_list("address", flat=True))

    def expired(self, now: datetime | None = None) -> "InvitationQuerySet":
        """Sent invitations whose link has expired unused."""
        return self.filter(status=self.model.Status.SENT, sent__lte=_expiry_cutoff(now))

    def unexpired_sent(self, now: datetime | None = None) -> "InvitationQuerySet":
        """Sent invitations whose link still works (no NOT IN over the table: one range)."""
        return self.filter(status=self.model.Status.SENT, sent__gt=_expiry_cutoff(now))

    def count_up_to(self, exact: int | None = None) -> int:
        """How many rows: exact up to `exact` (EXACT_COUNT), past it PostgreSQL's planner
        estimate, so that the database reads at most `exact` index entries however many match.
        Other databases count exactly."""
        rows, exact = self.order_by(), EXACT_COUNT if exact is None else exact
        if connections[self.db].vendor != "postgresql":
            return rows.count()
        counted = rows[: exact + 1].count()
        if counted <= exact:
            return counted
        plan = json.loads(rows.explain(format="json"))
        return max(counted, int(plan[0]["Plan"]["Plan Rows"]))

    def queue_figures(self) -> dict:
        """How many are pending (or sending) and failed (count_up_to), and when the oldest
        pending one was created: each from its status's entries of an index, never every row."""
        Status = self.model.Status
        firsts = [
            self.filter(status=status).order_by("created").values_list("created", flat=True).first()
            for status in (Status.PENDING, Status.SENDING)
        ]
        return {
            "pending": self.filter(status__in=[Status.PENDING, Status.SENDING]).count_up_to(),
            "failed": self.filter(status=Status.FAILED).count_up_to(),
            "oldest_pending": min(filter(None, firsts), default=None),
        }

    def counts_by_status(self) -> dict[str, int]:
        """Invitations in each status (every status, 0 for none), each by count_up_to."""
        return {status: self.filter(status=status).count_up_to() for status in self.model.Status.values}

    def sent_since(self, since: datetime) -> "InvitationQuerySet":
        """Invitations whose mail went out at or after `since` (whatever happened since)."""
        return self.filter(sent__gte=since)

    def due(self, now: datetime) -> "InvitationQuerySet":
        """Pending invitations that may be sent now."""
        return self.filter(status=self.model.Status.PENDING, next_attempt_at__lte=now)

    def unsuppressed(self) -> "InvitationQuerySet":
        """Invitations whose address has not bounced or complained."""
        return self.filter(~models.Exists(_suppressions_of_address()))

    def forgotten(self, now: datetime) -> "InvitationQuerySet":
        """Due invitations whose wake-up was never published or has gone unanswered."""
        cutoff = now - timedelta(seconds=app_settings.REPUBLISH_AFTER)
        return self.due(now).filter(models.Q(published_at__isnull=True) | models.Q(published_at__lte=cutoff))

    def abandoned(self, now: datetime) -> "InvitationQuerySet":
        """Claims held past the claim timeout: the worker that took them has died."""
        cutoff = now - timedelta(seconds=app_settings.CLAIM_TIMEOUT)
        return self.filter(status=self.model.Status.SENDING, claimed_at__lte=cutoff)

    # Transitions of a worker's claim.

    def claim_due(self, pks: Sequence[int], *, worker: str, now: datetime) -> list:
        """pending (due) -> sending, for `worker`; return the rows in the order of `pks`.

        A due invitation whose address is suppressed is not claimed but closed (pending ->
        bounced or complained, as the suppression says, with the reason in `last_error`) and
        returned with that status: whoever queued it (an admin's retry, a row older than the
        complaint), it is not mailed.

        Atomic: of workers claiming a row at once, one gets it (PostgreSQL skips rows another
        is locking; SQLite's IMMEDIATE transactions run one at a time). A batch takes one
        SELECT, which also reads the senders and the suppressions, and one UPDATE.
        """
        pks, sending = list(dict.fromkeys(pks)), self.model.Status.SENDING
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

    def _close_suppressed(self, invitations: list) -> None:
        """pending -> bounced or complained, for invitations whose address is suppressed."""
        if not invitations:
            return
        from invitations.models import Suppression

        found = Suppression.objects.filter(email__in={invitation.email.lower() for invitation in invitations})
        notes = {suppression.email: suppression.explanation() for suppression in found}
        for invitation in invitations:
            invitation.status = invitation.suppressed_as
            note = notes.get(invitation.email.lower(), invitation.suppressed_as)  # lifted meanwhile
            invitation.last_error = f"not sent: the address {note}"
            self.filter(pk=invitation.pk, status=self.model.Status.PENDING).update(
                status=invitation.status, last_error=invitation.last_error
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
        one whose heartbeat stopped): the attempt counts, as the mail may have gone."""
        return self.filter(status=self.model.Status.SENDING).update(
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
            status=self.model.Status.FAILED, last_error=error, claimed_at=None
        )

    def _own_claim(self, pk: int, worker: str) -> "InvitationQuerySet":
        return self.filter(pk=pk, status=self.model.Status.SENDING, claimed_by=worker)

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
            )
        )

    def revoke(self) -> int:
        """pending, sent, failed -> revoked: their links answer 410 from now on."""
        Status = self.model.Status
        return self.filter(status__in=[Status.PENDING, Status.SENT, Status.FAILED]).update(
            status=Status.REVOKED
        )

    def accept(self, pk: int, *, now: datetime) -> int:
        """sent (and not expired) -> accepted."""
        return self.unexpired_sent(now).filter(pk=pk).update(status=self.model.Status.ACCEPTED, accepted=now)

    def mark_bounced(self, pk: int, *, status: str, reason: str) -> int:
        """sent, sending -> bounced or complained, with the provider's words (an accepted
        invitation keeps its status)."""
        Status = self.model.Status
        return self.filter(pk=pk, status__in=[Status.SENT, Status.SENDING]).update(
            status=status, last_error=reason[:2000]
        )

    # Bookkeeping beside the status.

    def mark_published(self, pks: Sequence[int], *, at: datetime) -> int:
        return self.filter(pk__in=pks).update(published_at=at)

    def unpublish(self, pks: Sequence[int]) -> int:
        """Pending invitations whose wake-up did not go out, or was taken and not acted on:
        the sweep's next round publishes them."""
        return self.filter(pk__in=pks, status=self.model.Status.PENDING).update(published_at=None)

    def stamp_delivered(self, pk: int, *, at: datetime) -> int:
        """The provider said it delivered the mail; the first word counts."""
        return self.filter(pk=pk, delivered__isnull=True).update(delivered=at)


def _expiry_cutoff(now: datetime | None) -> datetime:
    return (now or timezone.now()) - timedelta(days=app_settings.EXPIRY_DAYS)


def _suppressions_of_address() -> models.QuerySet:
    """The suppression in force of an invitation's address, in a subquery: matched lowercased,
    as stored."""
    from invitations.models import Suppression

    return Suppression.objects.in_force().filter(email=Lower(models.OuterRef("email")))
