import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import mailers

from myproject.mailers import mailers_from_url

SMTP = "invitations.backends.SMTPBackend"  # Django's, greeting the server as the site


def test_console_url_configures_the_console_backend():
    assert mailers_from_url("consolemail://", timeout=10) == {
        "default": {"BACKEND": "django.core.mail.backends.console.EmailBackend", "OPTIONS": {}}
    }


def test_smtp_url_carries_host_port_credentials_and_timeout():
    assert mailers_from_url("smtp://user:pass@host:2525", timeout=7.5) == {
        "default": {
            "BACKEND": SMTP,
            "OPTIONS": {
                "host": "host",
                "port": 2525,
                "username": "user",
                "password": "pass",
                "use_tls": False,
                "use_ssl": False,
                "timeout": 7.5,
            },
        }
    }


@pytest.mark.parametrize(
    ("url", "use_tls", "use_ssl"),
    [
        ("smtp+tls://user:pass@mail.example.com:587", True, False),
        ("smtp+ssl://user:pass@mail.example.com:465", False, True),
    ],
)
def test_secure_smtp_urls_turn_on_tls_or_ssl(url, use_tls, use_ssl):
    options = mailers_from_url(url, timeout=10)["default"]["OPTIONS"]

    assert (options["use_tls"], options["use_ssl"]) == (use_tls, use_ssl)
    assert options["host"] == "mail.example.com"
    assert options["timeout"] == 10


@pytest.mark.parametrize(
    "url",
    ["smtp://", "smtp://mail.example.com", "smtp+tls://mail.example.com:587", "smtp+ssl://u:p@h:465"],
)
def test_every_smtp_url_gets_a_timeout(url):
    assert mailers_from_url(url, timeout=3)["default"]["OPTIONS"]["timeout"] == 3


def test_smtp_url_without_credentials_logs_in_as_nobody():
    options = mailers_from_url("smtp://mail.example.com:25", timeout=10)["default"]["OPTIONS"]

    assert (options["username"], options["password"]) == (None, None)


def test_smtp_url_without_host_means_localhost():
    assert mailers_from_url("smtp://", timeout=10)["default"]["OPTIONS"]["host"] == "localhost"


def test_django_builds_the_configured_smtp_mailer(settings):
    settings.MAILERS = mailers_from_url("smtp+tls://user:pass@mail.example.com:587", timeout=4)

    mailer = mailers.default

    assert type(mailer).__module__ + "." + type(mailer).__name__ == SMTP
    assert (mailer.host, mailer.port, mailer.username, mailer.password) == (
        "mail.example.com",
        587,
        "user",
        "pass",
    )
    assert (mailer.use_tls, mailer.use_ssl, mailer.timeout) == (True, False, 4)


def test_file_mail_url_keeps_an_absolute_path():
    mailers = mailers_from_url("filemail:///var/mail/invitations", timeout=10)

    assert mailers["default"]["OPTIONS"] == {"file_path": "/var/mail/invitations"}


@pytest.mark.parametrize(
    ("url", "backend", "options"),
    [
        ("postmark://s3rver-t0ken@", "postmark", {"server_token": "s3rver-t0ken"}),
        ("sendgrid://SG.k%2Fey@", "sendgrid", {"api_key": "SG.k/ey"}),
        (
            "mailgun://key-123@mg.example.com",
            "mailgun",
            {"api_key": "key-123", "sender_domain": "mg.example.com"},
        ),
        ("resend://re_123@", "resend", {"api_key": "re_123"}),
        ("brevo://xkeysib-1@", "brevo", {"api_key": "xkeysib-1"}),
        ("amazon-ses://", "amazon_ses", {}),
    ],
)
def test_provider_urls_configure_anymails_backend_with_a_timeout(url, backend, options):
    assert mailers_from_url(url, timeout=7) == {
        "default": {
            "BACKEND": f"anymail.backends.{backend}.EmailBackend",
            "OPTIONS": {"timeout": 7, **options},
        }
    }


def test_anymail_api_url_replaces_the_providers_own(settings):
    settings.MAILERS = mailers_from_url("postmark://t0ken@", timeout=3, api_url="http://127.0.0.1:9/")

    backend = mailers.default

    assert (backend.api_url, backend.server_token, backend.timeout) == ("http://127.0.0.1:9/", "t0ken", 3)


def test_a_provider_url_without_its_key_says_what_is_missing():
    with pytest.raises(ImproperlyConfigured, match="postmark:// needs the server_token"):
        mailers_from_url("postmark://", timeout=3)


def test_an_unknown_scheme_fails_naming_the_supported_ones():
    with pytest.raises(ImproperlyConfigured, match="'sparkpost' is not supported") as refused:
        mailers_from_url("sparkpost://key@", timeout=3)

    assert "smtp+tls://" in str(refused.value)
    assert "postmark://" in str(refused.value)


def test_a_process_started_with_an_unknown_scheme_stops_at_once_and_says_why():
    env = {**os.environ, "EMAIL_URL": "carrier-pigeon://coo@", "DEBUG": "1"}

    started = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert started.returncode != 0
    assert "EMAIL_URL scheme 'carrier-pigeon' is not supported; use one of smtp://" in started.stderr
