"""Invitation logic: screen and create (one or many), the admin's resend, retry, revoke and lift,
and the invitee's opt-out."""

import contextlib
import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.encoding import punycode
from django.utils.translation import gettext_lazy as _

from invitations import bulk_insert, live, queue
from invitations.conf import app_settings
from invitations.models import Invitation, Suppression
from invitations.signals import invitation_created, send_on_commit

logger = logging.getLogger(__name__)
Status = Invitation.Status


class BulkResult(StrEnum):
    """What inviting an address does, or why it may not."""

    QUEUED = "queued"
    ALREADY_INVITED = "already invited"
    DUPLICATE = "duplicate"  # earlier in the same list: invited (or refused) once, there
    INVALID = "invalid"
    SUPPRESSED = "suppressed"  # it hard-bounced, complained or opted out: see suppression_notes()
    RATE_LIMITED = "over the rate limit"

    @property
    def label(self) -> str:
        """What the bulk page shows, in the active language."""
        return str(RESULT_LABELS[self])


RESULT_LABELS = {
    BulkResult.QUEUED: _("queued"),
    BulkResult.ALREADY_INVITED: _("already invited"),
    BulkResult.DUPLICATE: _("duplicate in this list"),
    BulkResult.INVALID: _("invalid"),
    BulkResult.SUPPRESSED: _("suppressed"),
    BulkResult.RATE_LIMITED: _("over the rate limit"),
}


class InvitationRefused(ValidationError):
    """The screen said no; `code` is the BulkResult that says why."""


# RFC 5322's dot-atom: a local part that needs no quotes (Django's EmailValidator, unquoted).
DOT_ATOM = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*", re.IGNORECASE)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def normalize_email(email: str) -> str:
    """One mailbox, one address: whitespace stripped, quotes that are not needed dropped
    (`"first"@` and `"\\first"@` are `first@`), the domain lowercased and written in its ASCII
    (IDNA) form, so `user@bücher.example` and `user@xn--bcher-kva.example` are one."""
    local, _, domain = email.strip().rpartition("@")
    with contextlib.suppress(UnicodeError):  # not a valid IDN: left for the validator to refuse
        domain = punycode(domain.lower())
    return f"{unquoted_local_part(local)}@{domain.lower()}" if local else email.strip()


def unquoted_local_part(local: str) -> str:
    """`"first"` and `"\\first"` as `first`; a local part that needs its quotes stays as it is
    (and the screen refuses it)."""
    match = QUOTED.fullmatch(local)
    if match is None:
        return local
    plain = re.sub(r"\\(.)", r"\1", match.group(1))
    return plain if DOT_ATOM.fullmatch(plain) else local


class InvitableEmailValidator(EmailValidator):
    """Django's validator without the spellings that let one mailbox be written many ways or
    point at a host rather than a domain: no quoted local part (normalize_email drops quotes
    that are not needed), no address literal (`x@[127.0.0.1]`), no dotless domain
    (`x@localhost`)."""

    user_regex = re.compile(rf"^{DOT_ATOM.pattern}\Z", re.IGNORECASE)
    domain_allowlist = []

    def validate_domain_part(self, domain_part: str) -> bool:
        return bool(self.domain_regex.match(domain_part))


validate_invitable_email = InvitableEmailValidator()


def rate_quota(*, sender: AbstractBaseUser | None) -> int | None:
    """How many more invitations the sender may create this hour (None: no limit)."""
    if sender is None or not sender.pk:
        return None
    since = timezone.now() - timedelta(hours=1)
    used = Invitation.objects.filter(sender=sender, created__gte=since).count()
    return max(app_settings.RATE_LIMIT - used, 0)


def invitations_screen(*, emails: list[str], sender: AbstractBaseUser | None) -> list[tuple[str, BulkResult]]:
    """Each address, normalised, with what inviting it now would do: the one place that decides,
    for the form, the bulk page, the admin and the import command. Each is queued once at most."""
    wanted = [normalize_email(email) for email in emails]
    taken = Invitation.objects.open_addresses(wanted)
    suppressed = set(suppression_notes(emails=wanted))
    quota = rate_quota(sender=sender)
    results, queued, seen = [], 0, set()
    for email in wanted:
        if email.lower() in seen:
            result = BulkResult.DUPLICATE
        elif not _is_valid_email(email):
            result = BulkResult.INVALID
        elif email.lower() in taken:
            result = BulkResult.ALREADY_INVITED
        elif email.lower() in suppressed:
            result = BulkResult.SUPPRESSED
        elif quota is not None and queued >= quota:
            result = BulkResult.RATE_LIMITED
        else:
            queued += 1
            result = BulkResult.QUEUED
        seen.add(email.lower())
        results.append((email, result))
    return results


def suppression_notes(*, emails: list[str]) -> dict[str, str]:
    """The suppressed ones among `emails` (lowercased), each with what the pages say of it."""
    found = Suppression.objects.in_force().filter(email__in={email.lower() for email in emails})
    return {suppression.email: suppression.explanation() for suppression in found}


def _is_valid_email(email: str) -> bool:
    try:
        validate_invitable_email(email)
    except ValidationError:
        return False
    return len(email) <= Invitation._meta.get_field("email").max_length


def groups_grantable_by(sender: AbstractBaseUser | None) -> models.QuerySet:
    """The groups `sender` may put in an invitation: any for a superuser, else their own."""
    if sender is None or not sender.pk:
        return Group.objects.none()
    if getattr(sender, "is_superuser", False):
        return Group.objects.all()
    if not hasattr(sender, "groups"):  # a user model without PermissionsMixin
        return Group.objects.none()
    return Group.objects.filter(pk__in=sender.groups.values("pk"))


def invitation_create(
    *, email: str, sender: AbstractBaseUser | None, groups: Iterable[Group] = (), language: str = ""
) -> Invitation:
    """Save a pending invitation (with the `groups` the invitee joins on accepting) and wake a
    worker once the transaction commits. Raises
    InvitationRefused when the screen refuses the address, IntegrityError when a concurrent
    request of another sender invited it a moment ago (the caller's transaction stays usable).
    Screened again here, under the sender's lock, whatever a form said a moment before."""
    with transaction.atomic():
        _lock_sender(sender)
        [(email, result)] = invitations_screen(emails=[email], sender=sender)
        if result != BulkResult.QUEUED:
            raise InvitationRefused(f"{email}: {result}", code=result)
        invitation = Invitation.objects.create(
            email=email, sender=sender, published_at=timezone.now(), language=language
        )
        invitation.groups.set(groups)
    transaction.on_commit(
        lambda: queue.invitations_publish_soon(
            invitation_ids=[invitation.pk], announcing=[invitation], ahead=True
        )
    )
    send_on_commit(invitation_created, invitation=invitation)
    return invitation


def invitations_create_many(
    *, emails: list[str], sender: AbstractBaseUser | None, groups: Iterable[Group] = (), language: str = ""
) -> list[tuple[str, BulkResult]]:
    """Invite many addresses at once (each with the same `groups`), inserted in bulk and
    published together after commit; return each address with what happened to it. Those
    past the channel's room (all, if Redis cannot say) are inserted unpublished, for the sweep:
    a full channel would refuse them, and marking them afterwards cost an UPDATE per batch."""
    room = queue.channel_room_or_none()  # asked before the sender's lock is taken
    with transaction.atomic():
        _lock_sender(sender)
        results = invitations_screen(emails=emails, sender=sender)
        queued = [email for email, result in results if result == BulkResult.QUEUED]
        now, published = timezone.now(), min(room or 0, len(queued))  # None: all of them for the sweep
        template = Invitation(sender=sender, created=now, next_attempt_at=now, language=language)
        at = [now] * published + [None] * (len(queued) - published)
        ids = bulk_insert.insert_pending(queued, template=template, published=at)
        through, groups = Invitation.groups.through, list(groups)
        memberships = [through(invitation_id=pk, group_id=group.pk) for pk in ids for group in groups]
        through.objects.bulk_create(memberships, batch_size=1000)
        if published:
            transaction.on_commit(lambda: queue.invitations_publish(invitation_ids=ids[:published]))
        if invitation_created.has_listeners(Invitation):  # else a million instances for nobody
            created = Invitation.objects.in_bulk(ids)
            for pk in ids:
                send_on_commit(invitation_created, invitation=created[pk])
    return results


def _lock_sender(sender: AbstractBaseUser | None) -> None:
    """Hold the sender's user row until the transaction ends, so that one sender's screen and
    insert run one request at a time: eight bulk POSTs at once each counted the same hour's
    quota and inserted 800 rows against a limit of 100. PostgreSQL locks the row; SQLite's
    IMMEDIATE transactions (myproject's settings) already let one writer in at a time."""
    if sender is not None and sender.pk:
        users = sender._meta.model._default_manager.select_for_update().filter(pk=sender.pk)
        list(users.values_list("pk", flat=True))


def invitations_requeue(*, ids: list[int], statuses: list[str]) -> int:
    """Queue those of the invitations whose status is in `statuses` for a fresh send (new key,
    attempts reset), unless their address has another open one or is suppressed; return how many."""
    queued = []
    for invitation_id in ids:
        try:
            with transaction.atomic():
                changed = Invitation.objects.filter(pk=invitation_id).requeue(statuses=statuses)
        except IntegrityError:  # another invitation to the address is open
            continue
        if changed:
            queued.append(invitation_id)
    transaction.on_commit(lambda: queue.invitations_publish(invitation_ids=queued, ahead=True))
    return len(queued)


def invitation_groups_set(*, invitation: Invitation, groups: Iterable[Group]) -> None:
    """Change the groups an open invitation grants; an accepted or ended one keeps its own."""
    with transaction.atomic():
        if Invitation.objects.select_for_update().filter(pk=invitation.pk, status__in=Status.open()).exists():
            invitation.groups.set(groups)


def invitations_revoke(*, ids: list[int]) -> int:
    """Revoke invitations not yet accepted; their links answer 410 from now on."""
    return Invitation.objects.filter(pk__in=ids).revoke()


def suppressions_lift(*, ids: list[int]) -> int:
    """Allow the addresses to be invited again; return how many were lifted. The rows stay,
    stamped, so that a provider's replay of the old bounce does not suppress them again."""
    return Suppression.objects.in_force().filter(pk__in=ids).update(lifted=timezone.now())


def invitation_opt_out(*, invitation: Invitation) -> Suppression:
    """The invitee's one-click opt-out from a mail of `invitation`: every invitation to the
    address that is not over ends as opted out, and the address is suppressed ("opted out")
    until an admin lifts it. Idempotent: a second call changes nothing; an address suppressed
    already keeps its reason and date."""
    email, now = invitation.email.lower(), timezone.now()
    with transaction.atomic():
        suppression = Suppression.objects.select_for_update().filter(email=email).first()
        of_address = Invitation.objects.annotate(address=Lower("email")).filter(address=email)
        pks = list(of_address.values_list("pk", flat=True))
        Invitation.objects.filter(pk__in=pks).opt_out(now=now)
        if suppression is None or suppression.lifted is not None:
            fields = {"reason": Suppression.Reason.OPTED_OUT, "detail": "", "created": now, "lifted": None}
            suppression, _ = Suppression.objects.update_or_create(
                email=email, defaults={**fields, "invitation": invitation}
            )
    changed = list(Invitation.objects.filter(pk__in=pks, status=Status.OPTED_OUT, ended=now))
    logger.info("invitation id=%s opted out: %d invitation(s) ended", invitation.pk, len(changed))
    for ended in changed:
        live.invitation_announce(invitation=ended)
    return suppression
