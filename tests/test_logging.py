"""LOG_FORMAT=json: every line one JSON object; a delivery attempt's line carries its fields."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation

ROOT = Path(__file__).resolve().parent.parent


def manage_py(*args: str, log_format: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "LOG_FORMAT": log_format, "DEBUG": "1"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def test_with_log_format_json_every_line_is_one_json_object():
    script = "import logging; logging.getLogger('invitations.worker').warning('worker %s stopping', 'w1')"

    done = manage_py("shell", "-c", script, log_format="json")

    [line] = done.stderr.splitlines()
    record = json.loads(line)
    assert record == {
        "time": record["time"],
        "level": "WARNING",
        "logger": "invitations.worker",
        "message": "worker w1 stopping",
    }
    assert record["time"].endswith("+00:00")


def test_plain_stays_the_default():
    script = "import logging; logging.getLogger('invitations.worker').warning('worker stopping')"

    done = manage_py("shell", "-c", script, log_format="plain")

    assert done.stderr.strip().endswith("WARNING invitations.worker worker stopping")


def test_an_unknown_log_format_is_refused():
    done = manage_py("check", log_format="xml")

    assert done.returncode != 0
    assert "LOG_FORMAT must be plain or json, not 'xml'." in done.stderr


@pytest.fixture
def json_lines():
    """The app's log lines, through the json formatter of the project's LOGGING."""
    options = {key: value for key, value in settings.LOGGING["formatters"]["json"].items() if key != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**options))
    logger = logging.getLogger("invitations")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_delivery_attempts_line_has_its_fields_and_never_the_key_or_the_address(
    deliver, mailoutbox, json_lines
):
    invitation = Invitation.objects.create(email="ada@example.com")

    assert deliver(invitation) == DeliveryOutcome.SENT

    [line] = [line for line in json_lines() if "invitation_id" in line]
    assert line["message"].startswith(f"invitation id={invitation.pk} attempt=1 outcome=sent ms=")
    assert (line["invitation_id"], line["attempt"], line["outcome"]) == (invitation.pk, 1, "sent")
    assert isinstance(line["duration_ms"], int)
    assert (line["level"], line["logger"]) == ("INFO", "invitations.delivery")
    key = mailoutbox[0].body.split("/invites/accept/")[1].split("/")[0]
    assert key not in json.dumps(json_lines())
    assert "ada@example.com" not in json.dumps(json_lines())


def test_the_web_servers_access_line_is_json_too_and_has_no_accept_key():
    script = (
        "import logging; logging.getLogger('uvicorn.access').info("
        "'%s - \"%s %s HTTP/%s\" %d', '127.0.0.1:50000', 'GET', '/invites/accept/s3cret-Key_0/', '1.1', 302)"
    )

    done = manage_py("shell", "-c", script, log_format="json")

    [line] = done.stderr.splitlines()
    record = json.loads(line)
    assert record["logger"] == "uvicorn.access"
    assert record["message"] == '127.0.0.1:50000 - "GET /invites/accept/[key]/ HTTP/1.1" 302'
    assert "s3cret-Key_0" not in line
