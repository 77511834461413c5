"""The app as another team installs it: its wheel, in a venv of its own with Django 5.2 LTS,
in a host project that knows nothing of myproject (tests/host_project/README.md)."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.integration.conftest import REDIS_URL
from tests.integration.stack import ROOT, Browser, Process, answers, free_port, wait_for

pytestmark = pytest.mark.host_project
HOST_PROJECT = ROOT / "tests" / "host_project"
PASSWORD = "violet-harbour-kettle-93"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel .` builds, from a copy of what the distribution is made of."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "invitations", source / "invitations", ignore=shutil.ignore_patterns("__pycache__")
    )
    built = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", built]
    subprocess.run([*pip, source], check=True, capture_output=True, timeout=120)
    [path] = built.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def host_python(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel (not editable) and the host's requirements. This venv's pip
    installs into it (`--python`): 16 s instead of 27 s with a pip of its own."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin/python", "install", "-q"]
    requirements = ["-r", HOST_PROJECT / "requirements.txt"]
    done = subprocess.run(
        [*pip, "--disable-pip-version-check", wheel, *requirements],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin/python"


def test_the_wheel_holds_the_app_with_its_files_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()

    assert {name.split("/")[0] for name in names} == {
        "invitations",
        "django_channels_invitations-0.2.0.dist-info",
    }
    for expected in [
        "invitations/templates/invitations/base.html",
        "invitations/templates/invitations/email/body.txt",
        "invitations/templates/invitations/email/body.html",
        "invitations/static/invitations/live.js",
        "invitations/migrations/0001_initial.py",
        "invitations/management/commands/runworker.py",
        "invitations/routing.py",
        "invitations/urls.py",
    ]:
        assert expected in names
    metadata = zipfile.ZipFile(wheel).read("django_channels_invitations-0.2.0.dist-info/METADATA").decode()
    assert "Requires-Dist: Django<7,>=5.2" in metadata
    for dependency in ("channels", "channels-redis", "redis", "django-anymail"):
        assert re.search(rf"^Requires-Dist: {dependency}\b", metadata, re.MULTILINE), dependency


def test_a_host_project_on_django_5_2_invites_sends_and_signs_up(host_python, tmp_path, redis_client, smtp):
    site = tmp_path / "site"
    shutil.copytree(HOST_PROJECT, site, ignore=shutil.ignore_patterns("__pycache__"))
    port, prefix, signals_log = free_port(), f"host{uuid.uuid4().hex[:8]}", tmp_path / "signals.jsonl"
    env = {
        key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    env.update(
        SMTP_PORT=str(smtp.port),
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=prefix,
        SITE_URL=f"http://127.0.0.1:{port}",
        SIGNALS_LOG=str(signals_log),
        PYTHONUNBUFFERED="1",
    )

    def manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
        command = [host_python, "manage.py", *args]
        return subprocess.run(
            command, cwd=site, env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    typo = manage("check", INVITATIONS_TYPO="1")
    assert typo.returncode == 1
    assert "(invitations.E002) INVITATIONS has an unknown key 'EXPIRY_DAY'." in typo.stderr
    assert "HINT: Did you mean 'EXPIRY_DAYS'?" in typo.stderr
    assert manage("check").returncode == 0
    where = manage(
        "shell", "-c", "import django, invitations; print(django.get_version(), invitations.__file__)"
    )
    version, location = where.stdout.splitlines()[-1].split()
    assert version.startswith("5.2.")
    assert "site-packages" in location  # the installed wheel, not this checkout
    migrated = manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    boss = {"DJANGO_SUPERUSER_EMAIL": "boss@host.example", "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    assert manage("createsuperuser", "--noinput", **boss).returncode == 0

    bin_dir = host_python.parent
    web_command = [bin_dir / "daphne", "-b", "127.0.0.1", "-p", str(port), "hostsite.asgi:application"]
    processes = [
        Process("host-web", web_command, env, tmp_path, cwd=site),
        Process(
            "host-worker", [host_python, "manage.py", "runworker", "send-invite"], env, tmp_path, cwd=site
        ),
    ]
    try:
        web, worker = processes
        web.wait_until(lambda: answers(env["SITE_URL"] + "/login/"), timeout=30, what="to answer")
        # No LOGGING in the host: its worker says it is up by its heartbeat, as /healthz reads it.
        heartbeat = f"{prefix}:invitations:heartbeat"
        worker.wait_until(lambda: redis_client.exists(heartbeat), timeout=30, what="to beat")
        staff = Browser(env["SITE_URL"])
        status, page = staff.submit("/login/", {"username": "boss@host.example", "password": PASSWORD})
        status, page = staff.get("/team/invitations/")
        assert status == 200, page
        assert "Host site layout" in page  # the host's invitations/base.html

        status, page = staff.submit(
            "/team/invitations/new/", {"email": "ada@example.com"}, form_page="/team/invitations/"
        )
        assert status == 200
        assert "Invitation to ada@example.com queued for sending." in page

        wait_for(lambda: smtp.received, timeout=20, message="the invitation mail")
        [mail] = smtp.received
        assert mail.recipients == ["ada@example.com"]
        assert mail.message["Subject"] == "boss@host.example invited you to join 127.0.0.1"  # SITE_URL host
        link = re.search(r"(http://\S+/accept/[\w-]+/)", mail.text).group(1)
        assert link.startswith(env["SITE_URL"] + "/team/invitations/accept/")  # the host's prefix

        invitee = Browser(env["SITE_URL"])
        status, page = invitee.get(link)
        assert status == 200
        assert 'name="password1"' in page
        assert 'name="email"' not in page  # the invited address is the username
        status, page = invitee.submit(
            "/team/invitations/accept/set/", {"password1": PASSWORD, "password2": PASSWORD}
        )
        assert status == 200, page
        assert "Welcome, ada@example.com! Your account is ready and you are logged in." in page
        assert "<h1>Host home</h1>" in page  # the host's "/", where ACCEPT_REDIRECT_URL leads

        accounts = manage(
            "shell",
            "-c",
            "from accounts.models import User; print(User.objects.filter(email='ada@example.com').count())",
        )
        assert accounts.stdout.splitlines()[-1] == "1"
        heard = wait_for(
            lambda: _signals(signals_log), timeout=10, message="the accepted signal", interval=0.1
        )
        assert [event["signal"] for event in heard] == ["created", "sent", "accepted"]
        assert heard[2] == {
            "signal": "accepted",
            "email": "ada@example.com",
            "user": "ada@example.com",
            "path": "/team/invitations/accept/set/",
        }
    finally:
        for process in processes:
            process.stop()
        keys = list(redis_client.scan_iter(match=f"{prefix}*"))
        if keys:
            redis_client.delete(*keys)


def _signals(log: Path) -> list[dict] | None:
    """The signals received so far, once the last of the three has arrived."""
    if not log.exists():
        return None
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return events if any(event["signal"] == "accepted" for event in events) else None
