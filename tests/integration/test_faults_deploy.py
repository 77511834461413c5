"""A rolling deploy, as a platform runs one: the release phase migrates, new processes start
while the old ones still run, then the old ones get SIGTERM in the middle of their work."""

import logging
import signal
import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from invitations import services
from invitations.models import Invitation
from tests.integration.delivery import addresses, wait_until_delivered
from tests.integration.stack import manage, wait_for

logger = logging.getLogger(__name__)
LAST_BUT_ONE_AXES_MIGRATION = "0009_add_session_hash"  # django-axes 8.3.1 (requirements.txt)


@pytest.fixture
def release_with_a_migration(fault_stack):
    """The database as the old release left it: one migration short of the new one's (a table
    it creates, as the expand step of a schema change does). The workers never touch it, and no
    migration depends on it (sessions would not do: invitations' 0008 depends on them)."""
    manage(fault_stack.env, "migrate", "axes", LAST_BUT_ONE_AXES_MIGRATION, "--noinput")
    yield lambda: manage(fault_stack.env, "migrate", "--noinput")
    manage(fault_stack.env, "migrate", "--noinput")  # whatever happened, as the suite had it


def test_a_rolling_deploy_of_two_workers_mid_flow_loses_nothing_and_sends_nothing_twice(
    fault_stack, smtp, release_with_a_migration
):
    fault_stack.env["INVITATION_SEND_RATE"] = "20/s"  # 500 take 25 s: the deploy lands mid-flow
    old = fault_stack.start_workers("old-1", "old-2")
    emails = addresses("deploy", 500)
    services.invitations_create_many(emails=emails, sender=None)
    wait_for(lambda: len(smtp.received) >= 60, timeout=30, message="the first 60 mails")

    release = release_with_a_migration()  # on the live database, while the old workers send
    assert "Applying axes.0010_accessattemptexpiration... OK" in release, release
    new = fault_stack.start_workers("new-1", "new-2")
    sent_before_sigterm = len(smtp.received)
    for worker in old:
        worker.signal(signal.SIGTERM)
    for worker in old:
        assert worker.wait(timeout=30) == 0, worker.output()[-4000:]
    assert sent_before_sigterm < 450, "the old workers were stopped in the middle of the flow"

    result = wait_until_delivered(smtp, emails, timeout=60, stack=fault_stack)
    assert result.lost == []
    assert result.duplicates == {}
    assert result.unexpected == []
    claimants = Invitation.objects.values_list("claimed_by", flat=True)
    pids = Counter(int(name.split(":")[1]) for name in claimants)  # host:pid:consumer
    logger.info(
        "%d sent before SIGTERM; sent by old %s, by new %s",
        sent_before_sigterm,
        [pids[worker.pid] for worker in old],
        [pids[worker.pid] for worker in new],
    )
    assert {worker.pid for worker in new} <= set(pids), "the new workers sent the rest"


ADDRESS = "inflight@example.com"


def test_the_web_answers_a_post_in_flight_when_sigterm_comes_then_exits(fault_stack, staff_browser, smtp):
    web = next(process for process in fault_stack.processes if process.name == "web")
    fault_stack.start_worker()
    token = staff_browser.csrf_token("/invites/new/")
    answers = []

    def invite() -> None:
        try:
            # Not following the redirect: the page it leads to is for the next web process.
            answers.append(staff_browser.post("/invites/new/", {"email": ADDRESS}, token=token, follow=False))
        except OSError as error:  # a connection dropped without an answer
            answers.append((None, repr(error)))

    with transaction.atomic():
        hold_the_invitations_table()  # the POST's INSERT waits for this transaction to end
        post = threading.Thread(target=invite)
        post.start()
        time.sleep(1)  # the server hands a request to the application as soon as it has its headers
        web.signal(signal.SIGTERM)
        time.sleep(1)
        assert answers == [], "the web process waits for the request in flight"
        assert web.popen.poll() is None

    post.join(timeout=30)
    [(status, location)] = answers
    assert (status, location) == (302, "/invites/"), location[:2000]
    assert Invitation.objects.filter(email=ADDRESS).exists()
    # uvicorn, once shut down gracefully, re-raises the SIGTERM it caught: the status of a
    # process that the signal ended, which platforms expect; anything else is a failure.
    assert web.wait(timeout=10) in (0, -signal.SIGTERM), web.output()[-4000:]
    assert "Application shutdown complete." in web.output()
    result = wait_until_delivered(smtp, [ADDRESS], timeout=30, stack=fault_stack)
    assert result.lost == []


def hold_the_invitations_table() -> None:
    """Lock out writers (readers still pass) until the test's transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE invitations_invitation IN SHARE MODE")
    # On SQLite the transaction began IMMEDIATE (transaction_mode in settings): it already holds
    # the database's one write lock.
