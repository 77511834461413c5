"""The database restarts mid-flow: staff get a 503 that says to try again, workers outlive it
and send everything once it is back."""

import json
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


def statuses(cluster: PostgresCluster) -> Counter:
    return Counter(dict(cluster.query("SELECT status, count(*) FROM invitations_invitation GROUP BY status")))


def test_a_database_restart_mid_flow_is_a_503_for_staff_and_loses_nothing(
    private_postgres, fault_stack, smtp, tmp_path
):
    fault_stack.env["INVITATION_SEND_RATE"] = "20/s"  # 300 take 15 s: the restart lands mid-flow
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

    private_postgres.stop()
    assert len(smtp.received) < 300, "the restart came in the middle of the flow"
    outage = addresses("outage", 3)
    during = [browser.post("/invites/new/", {"email": email}, token=token) for email in outage]
    health_status, health = browser.get("/healthz")
    private_postgres.start()

    for status, page in during:
        assert status == 503, page[:2000]
        assert "try again" in page
    assert health_status == 503
    assert json.loads(health)["database"] == "unavailable"
    wait_for(
        lambda: json.loads(browser.get("/healthz")[1])["database"] == "ok",
        timeout=30,
        message="the web process to find the database again by itself",
    )
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
    assert result.duplicate_count == 0  # each mail in flight was stamped once the database was back
    assert result.unexpected == []  # no POST answered 503 was saved after all
    for worker in workers:
        assert worker.popen.poll() is None, worker.output()[-4000:]
