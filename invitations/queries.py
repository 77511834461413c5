"""What is asked of invitations: the queries beside the state machine (outbox.py), with the
subqueries its claim uses."""

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connections, models
from django.db.models.functions import Lower
from django.utils import timezone

from invitations.conf import app_settings

# Counts of a status (the admin's pages, /healthz, /metrics) are exact up to this many rows.
EXACT_COUNT = 10_000
OPEN = ["pending", "sending", "sent"]  # the statuses that stand in the way of a new invitation
# The statuses an invitation ends in; a sent one whose link expired has ended too (`ended_before`).
ENDED = ["accepted", "revoked", "failed", "bounced", "complained", "opted_out"]
# A claim (claimed_at) on a row of another status is a reminder's.
UNCLAIMED_BY_REMINDERS = ["pending", "sending"]


class InvitationQueries(models.QuerySet):
    """The questions the board, the admin, the sweep and the screen ask of invitations."""

    def open(self) -> "InvitationQueries":
        """Invitations that stand in the way of inviting their address again."""
        return self.filter(status__in=OPEN)

    def open_addresses(self, emails: Iterable[str]) -> set[str]:
        """Which of `emails` (lowercased) have an open invitation; matched as the unique
        constraint matches them, so the database answers from its index."""
        wanted = {email.lower() for email in emails}
        matches = self.open().annotate(address=Lower("email")).filter(address__in=wanted).order_by()
        return set(matches.values_list("address", flat=True))

    def expired(self, now: datetime | None = None) -> "InvitationQueries":
        """Sent invitations whose link has expired unused."""
        return self.filter(status=self.model.Status.SENT, sent__lte=expiry_cutoff(now))

    def unexpired_sent(self, now: datetime | None = None) -> "InvitationQueries":
        """Sent invitations whose link still works (no NOT IN over the table: one range)."""
        return self.filter(status=self.model.Status.SENT, sent__gt=expiry_cutoff(now))

    def address_starts(self, term: str) -> "InvitationQueries":
        """Invitations whose address starts with `term`, as typed or lowercased (addresses are
        mostly stored in lower case), each a LIKE 'term%' that the email prefix index answers; a
        case-insensitive LIKE (UPPER(email)) could use no index."""
        term = term.strip()
        return self.filter(models.Q(email__startswith=term) | models.Q(email__startswith=term.lower()))

    def sender_ids(self) -> list[int]:
        """The ids of the users who sent invitations, one probe of the (sender, created) index per
        sender (a "loose index scan"): SELECT DISTINCT would read an entry per invitation."""
        table = connections[self.db].ops.quote_name(self.model._meta.db_table)
        column = connections[self.db].ops.quote_name(self.model._meta.get_field("sender").column)
        sql = (
            f"WITH RECURSIVE senders(id) AS (SELECT MIN({column}) FROM {table} UNION ALL "  # noqa: S608
            f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > senders.id) FROM senders "
            "WHERE senders.id IS NOT NULL) SELECT id FROM senders WHERE id IS NOT NULL"
        )
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql)
            return [row[0] for row in cursor.fetchall()]

    def ended_before(self, cutoff: datetime) -> "InvitationQueries":
        """Invitations that ended before `cutoff`: closed then, or sent with a link that had
        expired by then."""
        expired = models.Q(status=self.model.Status.SENT, sent__lte=cutoff - expiry())
        return self.filter(models.Q(status__in=ENDED, ended__lte=cutoff) | expired)

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
        return {
            "pending": self.filter(status__in=[Status.PENDING, Status.SENDING]).count_up_to(),
            "failed": self.filter(status=Status.FAILED).count_up_to(),
            "oldest_pending": self.oldest_pending(),
        }

    def oldest_pending(self) -> datetime | None:
        """When the oldest pending (or sending) invitation was created: the first entry of each
        status in an index."""
        firsts = [
            self.filter(status=status).order_by("created").values_list("created", flat=True).first()
            for status in (self.model.Status.PENDING, self.model.Status.SENDING)
        ]
        return min(filter(None, firsts), default=None)

    def counts_by_status(self) -> dict[str, int]:
        """Invitations in each status (every status, 0 for none), each by count_up_to."""
        return {status: self.filter(status=status).count_up_to() for status in self.model.Status.values}

    def sent_since(self, since: datetime) -> "InvitationQueries":
        """Invitations whose mail went out at or after `since` (whatever happened since)."""
        return self.filter(sent__gte=since)

    def due(self, now: datetime) -> "InvitationQueries":
        """Pending invitations that may be sent now."""
        return self.filter(status=self.model.Status.PENDING, next_attempt_at__lte=now)

    def unsuppressed(self) -> "InvitationQueries":
        """Invitations whose address has not bounced, complained or opted out (or was lifted)."""
        return self.filter(~models.Exists(suppressions_of_address()))

    def remind_due(self, now: datetime) -> "InvitationQueries":
        """Sent, unexpired, unsuppressed invitations not reminded yet, sent REMIND_AFTER_DAYS ago
        or more, whose reminder nobody holds (a retry's `next_attempt_at` has come)."""
        if not app_settings.REMIND_AFTER_DAYS:
            return self.none()
        remind_before = now - timedelta(days=app_settings.REMIND_AFTER_DAYS)
        return (
            self.unexpired_sent(now)
            .filter(sent__lte=remind_before, reminded__isnull=True, claimed_at__isnull=True)
            .filter(next_attempt_at__lte=now)
            .unsuppressed()
        )

    def actionable(self, now: datetime) -> "InvitationQueries":
        """Invitations a wake-up may act on now: due to be sent, or to be reminded."""
        return self.due(now) | self.remind_due(now)

    def forgotten_reminders(self, now: datetime) -> "InvitationQueries":
        """Due reminders whose wake-up was never published or has gone unanswered."""
        cutoff = now - timedelta(seconds=app_settings.REPUBLISH_AFTER)
        return self.remind_due(now).filter(unpublished_since(cutoff))

    def forgotten(self, now: datetime) -> "InvitationQueries":
        """Due invitations whose wake-up was never published or has gone unanswered."""
        cutoff = now - timedelta(seconds=app_settings.REPUBLISH_AFTER)
        return self.due(now).filter(unpublished_since(cutoff))

    def abandoned(self, now: datetime) -> "InvitationQueries":
        """Claims (of a send or a reminder) held past the claim timeout: the worker that took
        them has died."""
        cutoff = now - timedelta(seconds=app_settings.CLAIM_TIMEOUT)
        return self.exclude(status=self.model.Status.PENDING).filter(claimed_at__lte=cutoff)


def unpublished_since(cutoff: datetime) -> models.Q:
    return models.Q(published_at__isnull=True) | models.Q(published_at__lte=cutoff)


def expiry() -> timedelta:
    return timedelta(days=app_settings.EXPIRY_DAYS)


def expiry_cutoff(now: datetime | None) -> datetime:
    return (now or timezone.now()) - expiry()


def accounts_of_address() -> models.QuerySet:
    """The users whose e-mail field is an invitation's address, matched case-insensitively, in a
    subquery (any user model)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    lookup = {f"{user_model.get_email_field_name()}__iexact": models.OuterRef("email")}
    return user_model._default_manager.filter(**lookup)


def suppressions_of_address() -> models.QuerySet:
    """The suppression in force of an invitation's address, in a subquery: matched lowercased,
    as stored."""
    from invitations.models import Suppression

    return Suppression.objects.in_force().filter(email=Lower(models.OuterRef("email")))
