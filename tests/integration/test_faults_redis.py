"""Channel-layer faults: a Redis restart, Redis unreachable, and a channel too small for a burst."""

from invitations import services
from invitations.models import Invitation
from tests.integration.delivery import addresses, statuses, wait_until_delivered
from tests.integration.stack import wait_for

Status = Invitation.Status


def claimant_pids() -> set[int]:
    names = Invitation.objects.values_list("claimed_by", flat=True)
    return {int(name.split(":")[1]) for name in names}


def test_worker_outlives_a_redis_restart_and_nothing_is_lost(private_redis, fault_stack, smtp):
    worker = fault_stack.start_worker()
    emails = addresses("restart", 200)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 20, timeout=30, message="the first 20 mails")

    private_redis.stop()  # it comes back empty: the queued wake-ups are gone
    private_redis.start()
    assert len(smtp.received) < 200, "the restart came in the middle of the batch"

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    assert worker.popen.poll() is None, worker.output()[-4000:]
    assert claimant_pids() == {worker.popen.pid}, "the same process sent before and after"


# private_redis comes first: the web process started by staff_browser must use it too.
def test_staff_invites_succeed_while_redis_is_down_and_are_sent_once_it_is_back(
    private_redis, fault_stack, staff_browser, smtp
):
    worker = fault_stack.start_worker()
    private_redis.stop()
    emails = addresses("outage", 20)

    for email in emails:
        status, page = staff_browser.submit("/invites/new/", {"email": email}, form_page="/invites/new/")
        assert status == 200, page
        assert f"Invitation to {email} queued for sending." in page

    assert statuses() == {Status.PENDING: 20}
    assert smtp.received == []
    private_redis.start()
    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    assert worker.popen.poll() is None, worker.output()[-4000:]


def test_bulk_invite_beyond_the_channel_capacity_raises_nothing_and_sends_all(fault_stack, use_layer, smtp):
    use_layer(channel_capacity={"send-invite": 100})
    emails = addresses("bulk", 1000)

    results = services.invitations_create_many(emails=emails, sender=None)

    assert {result for _, result in results} == {services.BulkResult.QUEUED}
    # No worker reads yet, so the channel took 100 wake-ups and refused the rest.
    assert Invitation.objects.filter(published_at__isnull=True).count() == 900
    fault_stack.start_worker()
    result = wait_until_delivered(smtp, emails, timeout=90, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
