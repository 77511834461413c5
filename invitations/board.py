"""The staff board (/invites/): its filters and pages, read from the indexes a table of millions
needs, and the actions on one row (resend, retry, revoke), each one conditional UPDATE of the
state machine (outbox.py) from the state the staff member saw.

Pages are keyset pages ("Newer" / "Older", 50 rows each), not numbered ones: any page costs one
index range scan of 51 entries, however deep, where OFFSET reads every row before it and a
numbered paginator counts every match; and a row inserted meanwhile never shifts a page.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.http import QueryDict

from invitations import live, services
from invitations.models import EXPIRED, Invitation

Status = Invitation.Status
PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATES = [*Status.values, EXPIRED]  # what the status filter offers
SEARCH_MAX = 254


@dataclass(frozen=True)
class Cursor:
    """A place in the board's order (newest first): a row's creation time and id."""

    created: datetime
    pk: int

    def __str__(self) -> str:
        return f"{(self.created - EPOCH) // timedelta(microseconds=1)}-{self.pk}"

    @classmethod
    def of(cls, invitation: Invitation) -> "Cursor":
        return cls(invitation.created, invitation.pk)

    @classmethod
    def parse(cls, text: str) -> "Cursor | None":
        """None for anything but "<microseconds since 1970>-<id>" (a hand-edited URL)."""
        micros, _, pk = text.partition("-")
        if not (micros.isascii() and micros.isdigit() and pk.isascii() and pk.isdigit()) or len(micros) > 17:
            return None
        return cls(EPOCH + timedelta(microseconds=int(micros)), int(pk))


@dataclass(frozen=True)
class BoardQuery:
    """What the board's URL asks for. A value that makes no sense (an unknown status, a sender
    or cursor that is no number) is ignored, as the admin's filters ignore them: never a 500."""

    status: str = ""
    sender: int | None = None
    search: str = ""
    before: Cursor | None = None
    after: Cursor | None = None

    @classmethod
    def from_params(cls, params: QueryDict) -> "BoardQuery":
        status = params.get("status", "")
        sender = params.get("sender", "")
        return cls(
            status=status if status in STATES else "",
            sender=int(sender) if sender.isascii() and sender.isdigit() and len(sender) < 19 else None,
            search=params.get("q", "").strip()[:SEARCH_MAX],
            before=Cursor.parse(params.get("before", "")),
            after=Cursor.parse(params.get("after", "")),
        )

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.sender or self.search)

    def query_string(self, **cursor: Cursor | None) -> str:
        """The URL's query for these filters and the given cursor (`before=` or `after=`)."""
        params = {"status": self.status, "sender": self.sender or "", "q": self.search, **cursor}
        return urlencode({name: str(value) for name, value in params.items() if value})


@dataclass
class BoardPage:
    rows: list[Invitation]
    newer: Cursor | None = None  # the link to the page before, if any
    older: Cursor | None = None
    first: bool = field(default=True)  # the newest rows: where a new invitation appears live


def board_rows(query: BoardQuery) -> models.QuerySet:
    """The invitations the filters select, each filter one the indexes answer."""
    rows = Invitation.objects.select_related("sender")
    if query.status == EXPIRED:
        rows = rows.expired()
    elif query.status == Status.SENT:
        rows = rows.unexpired_sent()
    elif query.status:
        rows = rows.filter(status=query.status)
    if query.sender:
        rows = rows.filter(sender_id=query.sender)
    if query.search:
        rows = rows.address_starts(query.search)
    return rows


def board_page(query: BoardQuery, *, size: int = PAGE_SIZE) -> BoardPage:
    """One page of the board: the newest rows, or those older than `before`, or newer than
    `after`; one LIMIT size + 1 query, which tells whether there is more."""
    rows = board_rows(query)
    if query.after:
        newer = list(_past(rows, query.after, newer=True).order_by("created", "id")[: size + 1])
        if len(newer) <= size:  # back at the top: the first page, full and live
            return board_page(BoardQuery(query.status, query.sender, query.search), size=size)
        page = newer[:size][::-1]
        return BoardPage(page, newer=Cursor.of(page[0]), older=Cursor.of(page[-1]), first=False)
    if query.before:
        rows = _past(rows, query.before, newer=False)
    page = list(rows.order_by("-created", "-id")[: size + 1])
    older = Cursor.of(page[size - 1]) if len(page) > size else None
    page = page[:size]
    if query.before and page:
        return BoardPage(page, newer=Cursor.of(page[0]), older=older, first=False)
    return BoardPage(page, older=older, first=not query.before)


def _past(rows: models.QuerySet, cursor: Cursor, *, newer: bool) -> models.QuerySet:
    """The rows after `cursor` in one direction. The redundant bound on `created` alone is what
    lets the index scan start at the cursor rather than at the top of the table."""
    if newer:
        rows = rows.filter(created__gte=cursor.created)
        return rows.filter(models.Q(created__gt=cursor.created) | models.Q(pk__gt=cursor.pk))
    rows = rows.filter(created__lte=cursor.created)
    return rows.filter(models.Q(created__lt=cursor.created) | models.Q(pk__lt=cursor.pk))


def board_senders() -> list:
    """The users who sent invitations, for the sender filter (invitees and others never)."""
    user_model = get_user_model()
    users = user_model._default_manager.filter(pk__in=Invitation.objects.sender_ids())
    return sorted(users, key=lambda user: str(user).lower())


class RowAction(StrEnum):
    """What staff may do to one invitation from the board, from the states it applies to."""

    RESEND = "resend"  # sent or expired: a new key, the mail again
    RETRY = "retry"  # failed: try again now
    REVOKE = "revoke"  # not accepted yet: its link answers 410

    @property
    def states(self) -> list[str]:
        return {
            RowAction.RESEND: [Status.SENT, EXPIRED],
            RowAction.RETRY: [Status.FAILED],
            RowAction.REVOKE: [Status.PENDING, Status.SENT, EXPIRED, Status.FAILED],
        }[self]


class Refusal(StrEnum):
    """Why a row action changed nothing."""

    GONE = "gone"  # deleted meanwhile (the retention purge)
    CHANGED = "changed"  # its status is no longer the one the staff member saw
    SUPPRESSED = "suppressed"  # the address bounced, complained or opted out
    TAKEN = "taken"  # another invitation to the address is open


@dataclass
class ActionResult:
    invitation: Invitation | None  # as it is now
    refusal: Refusal | None = None


def invitation_act(*, invitation_id: int, action: RowAction, seen: str) -> ActionResult:
    """Resend, retry or revoke one invitation, only from the state `seen` on the board (so a
    row that changed meanwhile is left as it is and the result says so), and tell the boards."""
    if seen not in action.states:
        return _refused(invitation_id, Refusal.CHANGED)
    stored = Status.SENT if seen == EXPIRED else seen
    if action == RowAction.REVOKE:
        changed = Invitation.objects.filter(pk=invitation_id, status=stored).revoke()
    else:
        changed = services.invitations_requeue(ids=[invitation_id], statuses=[stored])
    if not changed:
        return _refused(invitation_id, _why_not_requeued(invitation_id, stored))
    invitation = Invitation.objects.select_related("sender").get(pk=invitation_id)
    transaction.on_commit(lambda: live.invitation_announce(invitation=invitation))
    return ActionResult(invitation)


def _why_not_requeued(invitation_id: int, stored: str) -> Refusal:
    rows = Invitation.objects.filter(pk=invitation_id, status=stored)
    if not rows.exists():
        return Refusal.CHANGED
    return Refusal.SUPPRESSED if not rows.unsuppressed().exists() else Refusal.TAKEN


def _refused(invitation_id: int, refusal: Refusal) -> ActionResult:
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    return ActionResult(invitation, Refusal.GONE if invitation is None else refusal)
