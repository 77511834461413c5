"""A production process without collected static files refuses to start; with them, pages work."""

import os
import subprocess
import sys

SERVE_LOGIN_PAGE = (
    "import myproject.asgi; from django.test import Client;"
    " print(Client().get('/accounts/login/').status_code)"
)


def run_python(code: str, static_root, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "a-test-only-production-key",
        "STATIC_ROOT": str(static_root),
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": "sqlite:///:memory:",
        "DJANGO_SETTINGS_MODULE": "myproject.settings",
    }
    command = [
        sys.executable,
        *(["manage.py", *args] if args else ["-c", f"import django; django.setup(); {code}"]),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_without_collectstatic_start_up_fails_at_once_and_says_what_to_run(tmp_path):
    started = run_python(SERVE_LOGIN_PAGE, tmp_path)

    assert started.returncode != 0
    assert "Static files are not collected" in started.stderr
    assert "python manage.py collectstatic --noinput" in started.stderr


def test_after_collectstatic_the_pages_are_served(tmp_path):
    assert run_python("", tmp_path, "collectstatic", "--noinput").returncode == 0

    served = run_python(SERVE_LOGIN_PAGE, tmp_path)

    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == "200"
