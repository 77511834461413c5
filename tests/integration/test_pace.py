"""The fleet's send rate across real workers, and the priority lane past a bulk backlog."""

import time

from invitations import services
from invitations.models import Invitation
from invitations.throttle import BURST
from tests.integration.delivery import addresses, wait_until_delivered
from tests.integration.stack import wait_for

Status = Invitation.Status


def busiest(times: list[float], *, seconds: float) -> int:
    """The most mails that arrived within any window of `seconds`."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def test_three_workers_keep_together_to_the_send_rate_and_use_it(fault_stack, smtp):
    fault_stack.env["INVITATION_SEND_RATE"] = "20/s"
    fault_stack.start_workers("worker-0", "worker-1", "worker-2")  # 3 x concurrency 6
    emails = addresses("paced", 160)
    services.invitations_create_many(emails=emails, sender=None)

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)

    assert (result.lost, result.duplicates) == ([], {})
    times = sorted(mail.at for mail in smtp.received)
    # Over three seconds, not one: mails reach the server some milliseconds after their turn,
    # and a busy machine bunches them across a second's edge (26 and 29 in one second were
    # seen while the other suite ran beside it); three workers each at the rate would send
    # 180. The bench measures the exact busiest second.
    assert busiest([t for t in times if t >= times[0] + 1], seconds=3) <= 3 * 20 + BURST + 3
    assert (len(times) - 1) / (max(times) - min(times)) >= 0.9 * 20  # the rate is used, not just kept


def test_a_single_invite_overtakes_a_bulk_backlog(fault_stack, smtp):
    fault_stack.env["INVITATION_SEND_RATE"] = "20/s"
    fault_stack.start_worker()
    services.invitations_create_many(emails=addresses("bulk", 400), sender=None)  # 20 s of sending
    wait_for(lambda: len(smtp.received) >= 20, timeout=30, message="the backlog to be draining")

    typed = time.time()
    services.invitation_create(email="typed@example.com", sender=None)  # as staff's form does
    wait_for(lambda: "typed@example.com" in smtp.recipients(), timeout=10, message="the typed invitation")

    assert time.time() - typed < 3  # not the ~18 s left of the backlog
    assert Invitation.objects.filter(status=Status.PENDING).count() > 200  # the backlog still drains
