"""The database restarts mid-flow: staff get a 503 that says to try again, workers outlive it
and send everything once it is back."""

import json
import time
from collections import Counter

import pytest

from tests.integration.conftest import STAFF_PASSWORD
from tests.integration.delivery import addresses, tally
from tests.integration.postgres import PostgresCluster
from tests.integration.stack import Browser, manage, wait_for

# Its database is a cluster of its own, whichever database the suite runs on: the Makefile
# runs it in the PostgreSQL pass only.
pytestmark = pytest.mark.own_postgres


@pytest.fixture
def private_postgres(fault_stack, tmp_path):
    cluster = PostgresCluster()
    try:
        cluster.create()
        fault_stack.env["DATABASE_URL"] = cluster.url
        # As in production: with DEBUG on, Django shows its debug page instead of handler500.
        production = {"DEBUG": "0", "SECRET_KEY": "test-" + "k" * 50, "SECURE_SSL_REDIRECT": "0"}
        fault_stack.env.update(production, STATIC_ROOT=str(tmp_path / "static"))
        manage(fault_stack.env, "collectstatic", "--noinput", "-v0")
        manage(fault_stack.env, "migrate", "--noinput")
        manage(fault_stack.env, "shell", "-c", CREATE_STAFF)
        yield cluster
    finally:
        fault_stack.stop()
        cluster.destroy()


CREATE_STAFF = f"""
from django.contrib.auth.models import Permission, User
user = User.objects.create_user("grace", password="{STAFF_PASSWORD}", is_staff=True)
user.user_permissions.add(Permission.objects.get(codename="add_invitation"))
"""


def timed(call, *args, **kwargs) -> tuple[float, object]:
    began = time.monotonic()
    result = call(*args, **kwargs)
    return time.monotonic() - began, result


def statuses(cluster: PostgresCluster) -> Counter:
    return Counter(dict(cluster.query("SELECT status, count(*) FROM invitations_invitation GROUP BY status")))


def test_a_database_restart_mid_flow_is_a_503_for_staff_and_loses_nothing(
    private_postgres, fault_stack, smtp, tmp_path
):
    fault_stack.env["INVITATION_SEND_RATE"] = "20/s"  # 300 take 15 s: the restart lands mid-flow
    # Longer than the outage (~13 s), as production's (60 s) is longer than a restart: until it
    # expires, a mail that went out while the database was away may still be stamped.
    fault_stack.env["INVITATION_CLAIM_TIMEOUT"] = "20"
    emails = addresses("restart", 300)
    csv = tmp_path / "invitees.csv"
    csv.write_text("email\n" + "\n".join(emails) + "\n")
    manage(fault_stack.env, "import_invitations", str(csv))
    workers = [fault_stack.start_worker("worker-1"), fault_stack.start_worker("worker-2")]
    fault_stack.start_web()
    browser = Browser(fault_stack.base_url)
    browser.login("grace", STAFF_PASSWORD)
    wait_for(lambda: len(smtp.received) >= 30, timeout=30, message="the first 30 mails")

    token = browser.csrf_token("/invites/new/")  # the form as the staff user had it open

    # A mail held in the server's DATA while the database stops: accepted once it has stopped,
    # its stamp has to wait for the database to come back.
    smtp.stall_seconds = 1.0  # below EMAIL_TIMEOUT (2 s): a slow server, not a dead one
    wait_for(lambda: smtp.stalled, timeout=10, message="a mail in the server's hands")
    in_flight = list(smtp.stalled)
    private_postgres.stop()
    smtp.stall_seconds = 0.0
    assert len(smtp.received) < 300, "the restart came in the middle of the flow"
    outage = addresses("outage", 3)
    during = [timed(browser.post, "/invites/new/", {"email": email}, token=token) for email in outage]
    health_seconds, (health_status, health) = timed(browser.get, "/healthz")
    private_postgres.start()

    for seconds, (status, page) in during:
        assert status == 503, page[:2000]
        assert "try again" in page
        assert seconds < 6, "the pool's wait (3 s) for a connection, not more"
    assert health_status == 503
    assert json.loads(health)["database"] == "unavailable"
    assert health_seconds < 6
    back = time.monotonic()
    wait_for(
        lambda: json.loads(browser.get("/healthz")[1])["database"] == "ok",
        timeout=30,
        message="the web process to find the database again by itself",
    )
    assert time.monotonic() - back < 5, "found at once, not after the pool's doubling waits"
    after = addresses("after", 3)
    for email in after:  # the web process is back by itself: nothing restarted it
        status, page = browser.submit("/invites/new/", {"email": email}, form_page="/invites/new/")
        assert status == 200, page[:2000]
    expected = emails + after

    def delivered() -> bool:
        everyone_has_mail = set(expected) <= set(smtp.recipients())
        return everyone_has_mail and statuses(private_postgres) == {"sent": len(expected)}

    try:
        wait_for(delivered, timeout=90, message="every invitation sent after the restart")
    except AssertionError as error:
        raise AssertionError(f"{error}: {statuses(private_postgres)}\n{fault_stack.logs()}") from None
    result = tally(smtp, expected)
    assert result.lost == []
    assert set(in_flight) <= set(smtp.recipients())
    assert any("stamping again" in worker.output() for worker in workers)  # it waited for the database
    assert result.duplicate_count == 0  # and was stamped once it was back, not sent again
    assert result.unexpected == []  # no POST answered 503 was saved after all
    for worker in workers:
        assert worker.popen.poll() is None, worker.output()[-4000:]
