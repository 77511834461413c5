"""What arrived versus what was expected: the figures every fault test asserts on."""

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from invitations.models import Invitation
from tests.integration.smtp import RecordingHandler
from tests.integration.stack import Stack, wait_for

logger = logging.getLogger(__name__)
Status = Invitation.Status


@dataclass(frozen=True)
class Tally:
    """Expected addresses that got no mail, extra mails per address, and mail nobody expected."""

    lost: list[str]
    duplicates: dict[str, int]
    unexpected: list[str]

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())


def addresses(label: str, count: int) -> list[str]:
    return [f"{label}{n}@example.com" for n in range(count)]


def tally(smtp: RecordingHandler, expected: Iterable[str]) -> Tally:
    """Compare the mail the SMTP server accepted with the addresses that should get one each."""
    expected = list(expected)
    counts = Counter(smtp.recipients())
    result = Tally(
        lost=[address for address in expected if not counts[address]],
        duplicates={address: n - 1 for address, n in counts.items() if n > 1},
        unexpected=sorted(set(counts) - set(expected)),
    )
    logger.info(
        "expected=%d received=%d lost=%d duplicates=%d unexpected=%d",
        len(expected),
        sum(counts.values()),
        len(result.lost),
        result.duplicate_count,
        len(result.unexpected),
    )
    return result


def statuses() -> dict[str, int]:
    rows = Invitation.objects.values("status").annotate(n=Count("pk")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def wait_for_message_in_hand(smtp: RecordingHandler, *, timeout: float = 15) -> Invitation:
    """An invitation whose mail the SMTP server holds in its stall: a worker has it in hand."""

    def stalled() -> str | None:
        with smtp.lock:
            return smtp.stalled[0] if smtp.stalled else None

    address = wait_for(stalled, timeout=timeout, message="a mail held in the SMTP stall")
    return Invitation.objects.get(email=address)


def wait_until_delivered(
    smtp: RecordingHandler, expected: list[str], *, timeout: float, stack: Stack | None = None
) -> Tally:
    """Poll until every expected address has mail and every row is stamped sent; then tally.

    A row stamped sent is never claimed again, so no duplicate can arrive after this returns.
    """
    wanted = set(expected)

    def delivered() -> bool:
        return wanted <= set(smtp.recipients()) and statuses() == {Status.SENT: len(wanted)}

    try:
        wait_for(delivered, timeout=timeout, message=f"{len(wanted)} invitations delivered")
    except AssertionError as error:
        progress = f"{len(wanted & set(smtp.recipients()))} addresses reached; rows {statuses()}"
        raise AssertionError(f"{error}: {progress}\n{stack.logs() if stack else ''}") from None
    return tally(smtp, expected)
