"""Redis Sentinel: the primary dies mid-flow and every part follows the promoted replica."""

import logging
import time

import pytest

from invitations import services
from tests.integration.delivery import addresses, wait_until_delivered
from tests.integration.sentinel import SentinelGroup
from tests.integration.stack import wait_for

logger = logging.getLogger(__name__)


@pytest.fixture
def sentinel_redis(fault_stack, use_layer, tmp_path, settings):
    group = SentinelGroup(tmp_path)
    group.start()
    fault_stack.env["REDIS_URL"] = group.url
    # The test process publishes from short-lived event loops (async_to_sync), and channels-redis
    # leaves each loop's connections to the sentinels open (redis-py#3201): it publishes to the
    # primary directly. The web and workers, with one loop each, go through the sentinels.
    use_layer(hosts=[{"address": group.primary_url, "socket_timeout": 15}])
    settings.INVITATIONS = {**settings.INVITATIONS, "REDIS_URL": group.url}
    yield group
    fault_stack.stop()
    group.stop()


def test_a_sentinel_failover_mid_flow_loses_nothing_and_sending_resumes(
    sentinel_redis, fault_stack, staff_browser, smtp
):
    fault_stack.env["INVITATION_SEND_RATE"] = "40/s"  # 300 take ~8 s: the failover lands mid-flow
    fault_stack.start_worker("worker-1")
    fault_stack.start_worker("worker-2")
    emails = addresses("failover", 300)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 60, timeout=30, message="the first 60 mails")

    sentinel_redis.kill_primary()
    replica = sentinel_redis.ports["replica"]
    typed, answers = addresses("typed", 10), []
    for email in typed:  # staff keep inviting through the failover
        status, page = staff_browser.submit("/invites/new/", {"email": email}, form_page="/invites/new/")
        answers.append((status, page))
        if sentinel_redis.master_port() == replica:
            break
        time.sleep(0.3)
    wait_for(lambda: sentinel_redis.master_port() == replica, timeout=30, message="the promotion")
    promoted_at = time.time()
    assert len(smtp.received) < 300, "the primary died in the middle of the flow"

    sent = typed[: len(answers)]
    for status, page in answers:
        assert status == 200 or (status == 503 and "try again" in page), page[:2000]
    queued = [email for email, (status, _) in zip(sent, answers, strict=True) if status == 200]
    result = wait_until_delivered(smtp, emails + queued, timeout=90, stack=fault_stack)
    assert result.lost == []
    assert result.duplicate_count <= 1
    first_after = min(mail.at for mail in smtp.received if mail.at > promoted_at)
    logger.info(
        "failover: POSTs %s, first mail %.2f s after the promotion",
        [s for s, _ in answers],
        first_after - promoted_at,
    )
    assert first_after - promoted_at < 30, "workers sent again within 30 s of the promotion"
    for process in fault_stack.processes:
        assert process.popen.poll() is None, process.output()[-4000:]
