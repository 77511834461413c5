import pytest
from django.core.mail import mailers

from myproject.mailers import mailers_from_url

SMTP = "django.core.mail.backends.smtp.EmailBackend"


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
