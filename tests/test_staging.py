"""The staging switch (OVERRIDE_RECIPIENTS): every mail goes elsewhere, and everyone who could
mistake staging for production is told: the board, the admin, `check --deploy`."""

import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks

from invitations import checks

pytestmark = pytest.mark.django_db
OVERRIDE = ["qa@example.com", "dev@example.com"]


@pytest.fixture
def staging(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "OVERRIDE_RECIPIENTS": OVERRIDE}


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


def test_the_board_says_that_mail_goes_to_the_override(staging, staff_client):
    page = staff_client.get("/invites/").content.decode()

    assert "Staging: every invitation mail goes to qa@example.com, dev@example.com" in page


def test_the_board_says_nothing_without_it(staff_client):
    assert "Staging:" not in staff_client.get("/invites/").content.decode()


def test_the_admin_changelist_says_it(staging, admin_client):
    page = admin_client.get("/admin/invitations/invitation/").content.decode()

    assert "Staging: every invitation mail goes to qa@example.com, dev@example.com" in page


def test_check_deploy_warns_when_it_is_on_without_debug(staging, settings):
    settings.DEBUG = False

    assert "invitations.W003" in ids(run_checks(include_deployment_checks=True))
    assert "invitations.W003" not in ids(run_checks())


def test_check_deploy_is_quiet_in_debug_or_without_it(staging, settings):
    settings.DEBUG = True
    assert checks.check_override_recipients() == []
    settings.DEBUG = False
    settings.INVITATIONS = {**settings.INVITATIONS, "OVERRIDE_RECIPIENTS": []}
    assert checks.check_override_recipients() == []


@pytest.mark.parametrize(
    ("value", "error_id"),
    [("qa@example.com", "invitations.E003"), ([1], "invitations.E003"), (["qa"], "invitations.E004")],
)
def test_the_override_must_be_a_list_of_addresses(settings, value, error_id):
    settings.INVITATIONS = {**settings.INVITATIONS, "OVERRIDE_RECIPIENTS": value}

    assert ids(checks.check_settings()) == [error_id]


def test_the_project_reads_the_environment_as_a_comma_list():
    env = {
        **os.environ,
        "DEBUG": "1",
        "INVITATION_OVERRIDE_RECIPIENTS": "qa@example.com,dev@example.com",
        "INVITATION_RETENTION_DAYS": "90",
        "INVITATION_FEEDBACK_ID": "invite:app:example:Invitations",
    }
    code = (
        "from myproject import settings as s; i = s.INVITATIONS; "
        "print(i['OVERRIDE_RECIPIENTS'], i['RETENTION_DAYS'], i['FEEDBACK_ID'])"
    )

    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout  # noqa: S603

    assert out == "['qa@example.com', 'dev@example.com'] 90 invite:app:example:Invitations\n"
