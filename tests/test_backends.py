"""invitations.backends.SMTPBackend against a real SMTP server on loopback: the EHLO it sends."""

import smtplib
import warnings

import pytest
from django.core.mail import EmailMessage, mailers
from django.test import override_settings
from django.utils.deprecation import RemovedInDjango2028Warning

from invitations.backends import SMTPBackend
from invitations.conf import ehlo_name_of
from loopback.processes import free_port
from myproject.mailers import mailers_from_url
from tests.integration.smtp import start_smtp_server


@pytest.fixture
def smtp(settings):
    """A server, and the project's MAILERS pointing at it as EMAIL_URL=smtp://… does."""
    port = free_port()
    controller, handler = start_smtp_server(port)
    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{port}", timeout=5)
    yield handler
    controller.stop()


def send_one() -> None:
    """A mail through the default mailer, as invitations.mail.ReusableMailer sends."""
    message = EmailMessage(subject="hi", body="hello", from_email="team@example.com", to=["ada@example.com"])
    mailers.default.send_messages([message])


def test_the_server_is_greeted_with_the_host_of_site_url(smtp, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://invites.example.com/app/"}

    send_one()

    assert smtp.greetings == ["invites.example.com"]  # not "localhost"
    assert smtp.recipients() == ["ada@example.com"]


def test_an_ehlo_name_of_its_own_wins(smtp, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EHLO_NAME": "mail.example.org"}

    send_one()

    assert smtp.greetings == ["mail.example.org"]


def test_with_the_settings_of_django_5_2_the_backend_greets_as_the_site_too(smtp, settings):
    """EMAIL_BACKEND and EMAIL_HOST, no MAILERS: what a host project on Django 5.2 sets."""
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://invites.example.com"}
    del settings.MAILERS
    django_5_2 = override_settings(
        EMAIL_BACKEND="invitations.backends.SMTPBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=smtp.port
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RemovedInDjango2028Warning)  # Django 6.1: "migrate to MAILERS"
        with django_5_2:
            backend = mailers.default
            send_one()

    assert isinstance(backend, SMTPBackend)
    assert smtp.greetings == ["invites.example.com"]


def test_a_backend_over_ssl_greets_as_the_site_too():
    backend = SMTPBackend(alias="default", host="mail.example.com", use_ssl=True)

    assert issubclass(backend.connection_class, smtplib.SMTP_SSL)


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("invites.example.com", "invites.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("127.0.0.1", "[127.0.0.1]"),
        ("::1", "[IPv6:::1]"),
    ],
)
def test_a_site_host_is_named_as_rfc_5321_has_a_client_name_itself(host, name):
    assert ehlo_name_of(host) == name
