import email
import email.policy
import smtplib

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage

from invitations import mail
from invitations.models import Invitation


class FakeConnection:
    """Stands in for an SMTP backend: delivers into `outbox` until told the server hung up."""

    def __init__(self, outbox: list, opened: list) -> None:
        self.outbox, self.error, self.closed = outbox, None, False
        opened.append(self)

    def open(self) -> None:
        pass

    def send_messages(self, messages) -> None:
        if self.error:
            raise self.error
        self.outbox.extend(messages)

    def close(self) -> None:
        self.closed = True
        if self.error:
            raise self.error


class FakeMailers:
    def __init__(self) -> None:
        self.outbox, self.opened = [], []

    @property
    def default(self) -> FakeConnection:
        return FakeConnection(self.outbox, self.opened)


@pytest.fixture
def server(monkeypatch):
    fake = FakeMailers()
    monkeypatch.setattr(mail, "mailers", fake)
    return fake


def message(to: str) -> EmailMessage:
    return EmailMessage(subject="hi", body="hello", to=[to])


def recipients(server: FakeMailers) -> list[list[str]]:
    return [m.to for m in server.outbox]


def test_mailer_reuses_one_connection_for_many_messages(server):
    mailer = mail.ReusableMailer()

    mailer.send(message("a@example.com"))
    mailer.send(message("b@example.com"))

    assert recipients(server) == [["a@example.com"], ["b@example.com"]]
    assert len(server.opened) == 1


def test_mailer_reopens_once_when_the_idle_connection_was_dropped(server):
    mailer = mail.ReusableMailer()
    mailer.send(message("a@example.com"))
    server.opened[0].error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    mailer.send(message("b@example.com"))

    assert recipients(server) == [["a@example.com"], ["b@example.com"]]
    assert len(server.opened) == 2
    assert server.opened[0].closed


def test_mailer_does_not_retry_a_fresh_connection_that_disconnects(server, monkeypatch):
    def hang_up(self):
        self.error = smtplib.SMTPServerDisconnected("please run connect() first")

    monkeypatch.setattr(FakeConnection, "open", hang_up)
    mailer = mail.ReusableMailer()

    with pytest.raises(smtplib.SMTPServerDisconnected):
        mailer.send(message("a@example.com"))

    assert server.outbox == []
    assert len(server.opened) == 1
    assert mailer.connection is None


def test_mailer_keeps_the_connection_after_a_server_refusal(server):
    mailer = mail.ReusableMailer()
    mailer.send(message("a@example.com"))
    server.opened[0].error = smtplib.SMTPRecipientsRefused({"b@example.com": (550, b"no such user")})

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mailer.send(message("b@example.com"))

    assert len(server.opened) == 1
    assert not server.opened[0].closed


def test_mailer_starts_afresh_after_a_timeout(server):
    mailer = mail.ReusableMailer()
    mailer.send(message("a@example.com"))
    server.opened[0].error = TimeoutError("timed out")

    with pytest.raises(TimeoutError):
        mailer.send(message("b@example.com"))
    mailer.send(message("c@example.com"))

    assert recipients(server) == [["a@example.com"], ["c@example.com"]]
    assert len(server.opened) == 2


def test_mailer_opened_ahead_sends_its_first_message_over_that_connection(server):
    mailer = mail.ReusableMailer()
    mailer.open()

    mailer.send(message("a@example.com"))

    assert recipients(server) == [["a@example.com"]]
    assert len(server.opened) == 1


def test_mailer_that_cannot_connect_ahead_connects_at_the_first_message(server, monkeypatch, caplog):
    refusals = [ConnectionRefusedError("connection refused")]

    def refuse_once(self):
        if refusals:
            raise refusals.pop()

    monkeypatch.setattr(FakeConnection, "open", refuse_once)
    mailer = mail.ReusableMailer()

    mailer.open()  # does not raise

    assert mailer.connection is None
    assert "mail server not reachable yet" in caplog.text
    mailer.send(message("a@example.com"))
    assert recipients(server) == [["a@example.com"]]


def test_closing_a_broken_connection_does_not_raise(server):
    mailer = mail.ReusableMailer()
    mailer.send(message("a@example.com"))
    server.opened[0].error = OSError("connection reset")

    mailer.close()

    assert mailer.connection is None
    assert server.opened[0].closed


def invitation_from(first_name: str, last_name: str = "") -> Invitation:
    sender = User(username="grace", first_name=first_name, last_name=last_name)
    return Invitation(pk=1, email="ada@example.com", sender=sender)


def html_body(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


def test_message_links_to_the_accept_page_in_both_bodies(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://invites.example.com"}
    settings.DEFAULT_FROM_EMAIL = "team@example.com"

    message = mail.build_message(invitation_from("Grace", "Hopper"), key="k3y")

    link = "https://invites.example.com/invites/accept/k3y/"
    assert (message.to, message.from_email) == (
        ["ada@example.com"],
        '"invites.example.com" <team@example.com>',
    )
    assert message.subject == "Grace Hopper invited you to join invites.example.com"
    assert link in message.body
    assert f'href="{link}"' in html_body(message)


def test_message_from_no_one_is_from_the_team():
    message = mail.build_message(Invitation(pk=1, email="ada@example.com"), key="k3y")

    assert message.subject == "The team invited you to join 127.0.0.1"


def test_message_escapes_the_sender_name_in_html():
    message = mail.build_message(invitation_from("<script>"), key="k3y")

    assert "&lt;script&gt; invited you" in html_body(message)
    assert "<script>" not in html_body(message)
    assert "<script> invited you" in message.body


def test_message_subject_stays_on_one_line():
    message = mail.build_message(invitation_from("Grace\r\nBcc: all@example.com"), key="k3y")

    assert message.subject == "Grace Bcc: all@example.com invited you to join 127.0.0.1"
    assert message.message()["Subject"] == message.subject


def test_message_parses_back_into_its_two_bodies():
    message = mail.build_message(invitation_from("Grâce"), key="k3y")

    parsed = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)

    assert parsed["To"] == "ada@example.com"
    for subtype, body in (("plain", message.body), ("html", html_body(message))):
        assert parsed.get_body((subtype,)).get_content().replace("\r\n", "\n") == body
