"""The Invitation row is the outbox: the channel message only wakes a worker up."""

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, models, router
from django.db.models.functions import Lower
from django.utils import timezone


def key_digest(key: str) -> str:
    """What the database keeps of an accept link's key. Keys carry 256 random bits, so a
    plain SHA-256 is enough: a leaked dump cannot be turned back into working links."""
    return hashlib.sha256(key.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def open_and_recent(
        self, email: str | None, *, sender_pk: int | None, since: datetime
    ) -> tuple[bool, int]:
        """Whether `email` has an open invitation, and how many invitations the user `sender_pk`
        has created since `since`: the two checks of every staff POST, in one statement.

        Written out, they cost a sixth of what the ORM takes to build its two queries, which
        was more than the database took to run them. The address is matched with the unique
        constraint's expression and condition, the condition written in as literals, so that
        the database answers from that index: SQLite matches a partial index only against
        literals, and neither does a prepared statement's generic plan on PostgreSQL.
        """
        connection = connections[self.db]
        address = email.lower() if email is not None else None
        with connection.cursor() as cursor:
            cursor.execute(
                open_and_recent_sql(connection),
                [address, sender_pk, connection.ops.adapt_datetimefield_value(since)],
            )
            is_open, recent = cursor.fetchone()
        return bool(is_open), recent

    def expired(self, now: datetime | None = None) -> "InvitationQuerySet":
        """Sent invitations whose link has expired unused."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.INVITATION_EXPIRY_DAYS)
        return self.filter(status=Invitation.Status.SENT, sent__lte=cutoff)

    def due(self, now: datetime) -> "InvitationQuerySet":
        """Pending invitations that may be sent now."""
        return self.filter(status=Invitation.Status.PENDING, next_attempt_at__lte=now)

    def claim_due(self, pks: Sequence[int], *, worker: str, now: datetime) -> list["Invitation"]:
        """Mark the due invitations among `pks` as being sent by `worker`; return them in that order.

        Atomic: of workers claiming the same row at once, one gets it. On PostgreSQL and
        SQLite it is one UPDATE … RETURNING for the whole batch, a claim and a read in one
        round trip (the ORM has no UPDATE … RETURNING: it takes an UPDATE, then a SELECT).
        """
        pks = list(dict.fromkeys(pks))
        if not pks:
            return []
        Status, connection = Invitation.Status, self._write_connection()
        if connection.features.can_return_rows_from_update:
            q, when = connection.ops.quote_name, connection.ops.adapt_datetimefield_value(now)
            # Names quoted by the backend, every value a parameter.
            sql = (
                f"UPDATE {q(Invitation._meta.db_table)}"  # noqa: S608
                f" SET {q('status')} = %s, {q('claimed_at')} = %s, {q('claimed_by')} = %s,"
                f" {q('attempts')} = {q('attempts')} + 1"
                f" WHERE {q('id')} IN ({', '.join(['%s'] * len(pks))})"
                f" AND {q('status')} = %s AND {q('next_attempt_at')} <= %s"  # due(now)
                " RETURNING *"
            )
            params = [Status.SENDING, when, worker, *pks, Status.PENDING, when]
            claimed = list(self.raw(sql, params, using=connection.alias))
        else:
            self.due(now).filter(pk__in=pks).update(
                status=Status.SENDING, claimed_at=now, claimed_by=worker, attempts=models.F("attempts") + 1
            )
            claimed = list(self.filter(pk__in=pks, status=Status.SENDING, claimed_by=worker, claimed_at=now))
        order = {pk: index for index, pk in enumerate(pks)}
        return sorted(claimed, key=lambda invitation: order[invitation.pk])

    def stamp_sent(self, pk: int, *, worker: str, sent: datetime, key_digest: str) -> bool:
        """Record that the mail of `pk` went out, if `worker` still holds its claim.

        Every mail runs it once: written out, it costs a third of what the ORM takes to
        build the same UPDATE, which was more than PostgreSQL took to run it.
        """
        Status, connection = Invitation.Status, self._write_connection()
        q = connection.ops.quote_name
        sql = (
            f"UPDATE {q(Invitation._meta.db_table)}"  # noqa: S608
            f" SET {q('status')} = %s, {q('sent')} = %s, {q('key_digest')} = %s,"
            f" {q('last_error')} = '', {q('claimed_at')} = NULL"
            f" WHERE {q('id')} = %s AND {q('status')} = %s AND {q('claimed_by')} = %s"
        )
        params = [Status.SENT, connection.ops.adapt_datetimefield_value(sent), key_digest]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, pk, Status.SENDING, worker])
            return cursor.rowcount == 1

    def insert(self, invitation: "Invitation") -> None:
        """INSERT the new `invitation` as `save()` would, and give it its pk.

        Every staff POST inserts one: written out, the INSERT costs about a third of what the
        ORM takes to build it. The values are the fields' own (defaults included), prepared
        for the database by each field. No pre_save or post_save signal is sent: nothing
        listens to them for invitations.
        """
        connection = self._write_connection()
        if not connection.features.can_return_columns_from_insert:
            invitation.save(force_insert=True, using=connection.alias)
            return
        meta, q = Invitation._meta, connection.ops.quote_name
        fields = [field for field in meta.concrete_fields if field is not meta.pk]
        values = [field.get_db_prep_save(field.pre_save(invitation, True), connection) for field in fields]
        sql = (
            f"INSERT INTO {q(meta.db_table)} ({', '.join(q(field.column) for field in fields)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {q(meta.pk.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            (invitation.pk,) = cursor.fetchone()
        invitation._state.adding, invitation._state.db = False, connection.alias

    def release(self, pks: Sequence[int], *, worker: str) -> int:
        """Hand claims of `worker` that it never used back, for the sweep to publish at once."""
        return self.filter(pk__in=pks, status=Invitation.Status.SENDING, claimed_by=worker).update(
            status=Invitation.Status.PENDING,
            claimed_at=None,
            claimed_by="",
            attempts=models.F("attempts") - 1,
            published_at=None,
        )

    def _write_connection(self):
        return connections[self._db or router.db_for_write(self.model)]

    def forgotten(self, now: datetime) -> "InvitationQuerySet":
        """Due invitations whose wake-up was never published or has gone unanswered."""
        cutoff = now - timedelta(seconds=settings.INVITATION_REPUBLISH_AFTER)
        return self.due(now).filter(models.Q(published_at__isnull=True) | models.Q(published_at__lte=cutoff))

    def abandoned(self, now: datetime) -> "InvitationQuerySet":
        """Claims held past the claim timeout: the worker that took them has died."""
        cutoff = now - timedelta(seconds=settings.INVITATION_CLAIM_TIMEOUT)
        return self.filter(status=Invitation.Status.SENDING, claimed_at__lte=cutoff)


def open_and_recent_sql(connection) -> str:
    """The statement of `InvitationQuerySet.open_and_recent`; its parameters are the lowercased
    address, the sender's pk and the start of the counted period."""
    q = connection.ops.quote_name
    table = q(Invitation._meta.db_table)
    statuses = ", ".join(f"'{status}'" for status in Invitation.Status.open())  # our constants
    return (
        f"SELECT EXISTS (SELECT 1 FROM {table} WHERE LOWER({q('email')}) = %s"  # noqa: S608
        f" AND {q('status')} IN ({statuses})),"
        f" (SELECT COUNT(*) FROM {table} WHERE {q('sender_id')} = %s AND {q('created')} >= %s)"
    )


class Invitation(models.Model):
    """An invitation to sign up, and the delivery state of its e-mail."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        ACCEPTED = "accepted", "accepted"
        REVOKED = "revoked", "revoked"

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
    # SHA-256 of the key in the link; the key itself is never stored.
    # NULL, not "", until sent: many unsent rows must not collide on the unique index.
    key_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    sent = models.DateTimeField(null=True, blank=True, editable=False)
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

    @property
    def expires(self) -> datetime | None:
        if self.sent is None:
            return None
        return self.sent + timedelta(days=settings.INVITATION_EXPIRY_DAYS)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.status == self.Status.SENT and self.expires <= (now or timezone.now())
