"""The reused connection against a real SMTP server on loopback (aiosmtpd): restarts, greetings."""

import pytest
from django.core.mail import EmailMessage

from invitations import mail
from loopback.processes import free_port
from tests.integration.smtp import start_smtp_server


class Server:
    """An SMTP server that a test may stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.controller, self.handler = start_smtp_server(self.port)

    def stop(self) -> None:
        self.controller.stop()

    def start(self) -> None:
        self.controller, _ = start_smtp_server(self.port, self.handler)


@pytest.fixture
def server(settings):
    running = Server()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": running.port, "timeout": 5},
        }
    }
    yield running
    running.stop()


def send(mailer: mail.ReusableMailer, to: str) -> None:
    mailer.send(EmailMessage(subject="hi", body="hello", from_email="team@example.com", to=[to]))


def test_after_the_server_restarts_the_next_mail_opens_one_connection_and_the_rest_reuse_it(server):
    mailer = mail.ReusableMailer()
    send(mailer, "a@example.com")
    server.stop()
    with pytest.raises(OSError, match="refused"):  # the kept connection is gone, a new one refused
        send(mailer, "b@example.com")
    server.start()

    for name in "cde":
        send(mailer, f"{name}@example.com")

    mailer.close()
    assert server.handler.recipients() == ["a@example.com", "c@example.com", "d@example.com", "e@example.com"]
    assert len(server.handler.greetings) == 2  # one SMTP session before the restart, one after
