"""The bulk page's side of inviting many: pasted text split into addresses the way a person
means it, why an address is invalid, and the results kept in the session across the
post/redirect/get, each queued row shown with its status as it is when the page is read."""

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib.sessions.backends import signed_cookies
from django.utils.translation import gettext

from invitations import services
from invitations.models import Invitation
from invitations.services import BulkResult

SESSION_KEY = "invitations_bulk_results"
# Rows kept in the session for the page (a session may live in a cookie); the counts cover all.
KEPT_ROWS = 500
# Commas, semicolons and line ends always separate; spaces too, unless they sit next to an @.
HARD_SEPARATORS = re.compile(r"[,;\r\n]+")
# What the textarea gets back: the addresses a person can correct, or submit again later.
REJECTED = {BulkResult.INVALID, BulkResult.RATE_LIMITED}


def split_addresses(text: str) -> Iterator[str]:
    """The addresses of pasted text. `larry.wall@ example.com` (a space beside the @) is one
    address, refused as invalid with its reason and left in the box to correct, not two
    invalid halves: fixing it silently could invite a mailbox nobody typed."""
    for chunk in HARD_SEPARATORS.split(text):
        pieces: list[str] = []
        for piece in chunk.split():
            if pieces and (pieces[-1].endswith("@") or piece.startswith("@")):
                pieces[-1] += " " + piece
            else:
                pieces.append(piece)
        yield from pieces


def invalid_reason(email: str) -> str:
    """Why the screen finds `email` invalid, in words a person can act on."""
    local, at, domain = email.rpartition("@")
    if any(character.isspace() for character in email):
        return gettext("It contains a space.")
    if not at:
        return gettext("It has no @.")
    if not local:
        return gettext("Nothing before the @.")
    if not domain:
        return gettext("No domain after the @.")
    if "@" in local and not local.startswith('"'):
        return gettext("It has more than one @.")
    if domain.startswith("["):
        return gettext("An IP address instead of a domain name.")
    if local.startswith('"'):
        return gettext("A name in quotes before the @.")
    if "." not in domain:
        return gettext("The domain has no dot (as in example.com).")
    if len(email) > Invitation._meta.get_field("email").max_length:
        return gettext("Longer than 254 characters.")
    if not services.DOT_ATOM.fullmatch(local):
        return gettext("Characters before the @ that an address cannot have.")
    return gettext("“%(domain)s” is not a valid domain.") % {"domain": domain}


def results_kept(*, typed: list[str], results: list[tuple[str, BulkResult]]) -> dict:
    """What a bulk POST did, as the page shows it: each address as typed (an IDN domain as
    written, not punycode), what happened, and why not."""
    notes = services.suppression_notes(emails=[email for email, _ in results])
    rows = []
    for as_typed, (email, result) in zip(typed, results, strict=True):
        if result == BulkResult.INVALID:
            note = invalid_reason(email)
        else:
            note = notes.get(email.lower(), "") if result == BulkResult.SUPPRESSED else ""
        rows.append([as_typed.strip(), email, result.value, note])
    return {
        "rows": rows[:KEPT_ROWS],
        "tallies": dict(Counter(result.value for _, result in results)),
        "rejected": [row[0] for row in rows if row[2] in REJECTED],
    }


def session_holds_results(session) -> bool:
    """Whether the session can carry the results across the redirect: one kept in a cookie
    (4 KB at most, the login included) cannot, and a larger cookie is dropped by the browser,
    logging the user out."""
    return not isinstance(session, signed_cookies.SessionStore)


def results_remember(session, kept: dict) -> None:
    session[SESSION_KEY] = kept


@dataclass
class BulkRow:
    address: str  # as typed
    code: str  # a BulkResult, or the current state of the invitation it queued
    label: str
    note: str = ""


@dataclass
class BulkResults:
    rows: list[BulkRow]
    tallies: list[dict]
    rejected: list[str] = field(default_factory=list)
    hidden: int = 0  # rows past KEPT_ROWS


def results_recall(session) -> BulkResults | None:
    """The last bulk POST's results (`results_remember`), or None."""
    kept = session.get(SESSION_KEY)
    return results_shown(kept) if kept else None


def results_shown(kept: dict) -> BulkResults:
    """The results as the page shows them, each queued row with its invitation's status now
    (the worker may have sent it since): read in one query by address."""
    current = _current_invitations([email for _, email, code, _ in kept["rows"] if code == BulkResult.QUEUED])
    rows = []
    for address, email, code, note in kept["rows"]:
        invitation = current.get(email.lower()) if code == BulkResult.QUEUED else None
        if invitation is not None:
            rows.append(BulkRow(address, invitation.state, invitation.status_label(), note))
        else:
            rows.append(BulkRow(address, code, BulkResult(code).label, note))
    tallies = [
        {"code": code, "label": BulkResult(code).label, "count": count}
        for code, count in kept["tallies"].items()
    ]
    total = sum(kept["tallies"].values())
    return BulkResults(rows, tallies, kept["rejected"], hidden=total - len(rows))


def _current_invitations(emails: list[str]) -> dict[str, Invitation]:
    """The newest invitation of each address (as stored: normalised), by lowercased address."""
    newest: dict[str, Invitation] = {}
    for invitation in Invitation.objects.filter(email__in=emails).order_by("created", "id"):
        newest[invitation.email.lower()] = invitation
    return newest


def rejected_text(results: BulkResults | None) -> str:
    return "\n".join(results.rejected) if results else ""
