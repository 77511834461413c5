import email
import email.headerregistry
import email.policy
import re
import smtplib
from datetime import UTC, datetime
from email.headerregistry import HeaderRegistry
from email.utils import format_datetime, make_msgid

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, EmailMultiAlternatives

from invitations import mail
from invitations.models import Invitation
from tests.addresses import plain_addresses


@pytest.mark.parametrize(
    ("exc", "permanent", "error"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"no such user")}), True, "SMTP 550 no such user"),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"mailbox busy")}), False, "SMTP 450 mailbox busy"),
        (smtplib.SMTPResponseException(421, b"closing channel"), False, "SMTP 421 closing channel"),
        (smtplib.SMTPResponseException(554, "rejected"), True, "SMTP 554 rejected"),
        (smtplib.SMTPServerDisconnected("lost"), False, "SMTPServerDisconnected: lost"),
        (TimeoutError("timed out"), False, "TimeoutError: timed out"),
        (ValueError("bad address"), True, "invalid address: bad address"),
    ],
)
def test_classify_tells_permanent_from_transient_failures(exc, permanent, error):
    assert mail.classify(exc) == mail.SendFailure(permanent=permanent, error=error)


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
    return Invitation(email="ada@example.com", sender=sender)


def html_body(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


def test_message_links_to_the_accept_page_in_both_bodies(settings):
    settings.SITE_URL = "https://invites.example.com"
    settings.DEFAULT_FROM_EMAIL = "team@example.com"

    message = mail.build_message(invitation_from("Grace", "Hopper"), key="k3y")

    link = "https://invites.example.com/invites/accept/k3y/"
    assert (message.to, message.from_email) == (["ada@example.com"], "team@example.com")
    assert message.subject == "Grace Hopper invited you to join"
    assert link in message.body
    assert f'href="{link}"' in html_body(message)


def test_message_from_no_one_is_from_the_team():
    message = mail.build_message(Invitation(email="ada@example.com"), key="k3y")

    assert message.subject == "The team invited you to join"


def test_message_escapes_the_sender_name_in_html():
    message = mail.build_message(invitation_from("<script>"), key="k3y")

    assert "&lt;script&gt; invited you" in html_body(message)
    assert "<script>" not in html_body(message)
    assert "<script> invited you" in message.body


def test_message_subject_stays_on_one_line():
    message = mail.build_message(invitation_from("Grace\r\nBcc: all@example.com"), key="k3y")

    assert message.subject == "Grace Bcc: all@example.com invited you to join"
    assert message.message()["Subject"] == message.subject


@pytest.mark.parametrize("policy", [email.policy.SMTP, email.policy.default])
def test_message_serialises_exactly_as_django_would(policy):
    """InvitationEmail reuses parsed and folded headers and draws its own boundary; with the
    same boundary, the bytes on the wire are Django's, mail after mail."""
    senders = [User(username="grace", first_name="Grâce Ünïcode"), None, User(username="ada")]
    for number, sender in enumerate(senders * 2):
        address = f"zoë{number}@exämple.com" if number % 3 else f"zoe.{number}@example.com"
        invitation = Invitation(email=address, sender=sender)
        message = mail.build_message(invitation, key=f"k3y{number}" * 10)
        # Django dates a mail with a datetime; a header may be given as a string too.
        date = datetime(2026, 11, 22, 6, 0, number, 1000 * number, tzinfo=UTC)
        date_header = date if number % 2 else format_datetime(date)
        message_id = make_msgid(domain="host.example.com") if number % 2 else f"<{number} @example.com>"
        headers = {"Date": date_header, "Message-ID": message_id}
        message.extra_headers = headers
        stock = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=message.from_email,
            to=message.to,
            alternatives=message.alternatives,
            headers=headers,
        )

        ours, theirs = (m.message(policy=policy) for m in (message, stock))
        for serialised in (ours, theirs):
            serialised.set_boundary(f"==boundary-{number}==")

        assert ours.as_bytes() == theirs.as_bytes()
        # Headers folded once for one line length and ending are folded afresh for another.
        narrow = policy.clone(max_line_length=40, linesep="\n" if policy.linesep == "\r\n" else "\r\n")
        assert ours.as_bytes(policy=narrow) == theirs.as_bytes(policy=narrow)


def test_mails_share_a_boundary_that_parses_back_into_their_two_bodies():
    messages = [mail.build_message(invitation_from(name), key="k3y") for name in ("Grace", "Ada")]

    serialised = [message.message(policy=email.policy.SMTP).as_bytes() for message in messages]

    boundaries = {email.message_from_bytes(raw).get_boundary() for raw in serialised}
    assert len(boundaries) == 1
    assert re.fullmatch(r"==[0-9a-f]{32}==", boundaries.pop())
    for message, raw in zip(messages, serialised, strict=True):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        for subtype, body in (("plain", message.body), ("html", html_body(message))):
            assert parsed.get_body((subtype,)).get_content().replace("\r\n", "\n") == body


@pytest.mark.parametrize("subtype", ["plain", "html"])
def test_a_body_that_holds_the_shared_boundary_gets_one_of_its_own(subtype):
    shared = mail.build_message(invitation_from("Ada"), key="k").message().get_boundary()
    message = mail.build_message(invitation_from("Grace"), key="k3y")
    if subtype == "plain":
        message.body += f"\n--{shared}\n"
    else:
        message.alternatives = []
        message.attach_alternative(f"<p>\n--{shared}--\n</p>", "text/html")

    parsed = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)

    assert parsed.get_boundary() != shared
    assert re.fullmatch(r"==[0-9a-f]{32}==", parsed.get_boundary())
    assert f"--{shared}" in parsed.get_body((subtype,)).get_content()


PLAIN_HEADERS = [
    ("To", "ada@example.com"),
    ("To", "a.b!#$%&'*+/=?^_`{|}~-c@mail-1.example.org"),
    ("To", "x" * 70 + "@" + "long-domain." * 3 + "example"),  # longer than a line
    ("Cc", "grace@localhost"),
    ("Reply-To", "team@example.com"),
    ("Message-ID", make_msgid(domain="host.example.com")),
    ("Message-ID", "<x" + "y" * 80 + "@example.com>"),
]
NOT_PLAIN_HEADERS = [
    ("To", "Ada <ada@example.com>"),
    ("To", "zoë@exämple.com"),
    ("To", "ada@example.com, grace@example.com"),
    ("To", "ada..lovelace@example.com"),
    ("Message-ID", "<1 @example.com>"),
    ("Message-ID", "1@example.com"),
    ("Subject", "ada@example.com"),
]


@pytest.mark.parametrize(("name", "value"), PLAIN_HEADERS + NOT_PLAIN_HEADERS)
def test_a_header_left_unparsed_is_the_one_the_email_package_parses(name, value):
    """To, Cc, Reply-To and Message-ID values that parse to themselves are parsed only when
    someone looks inside; written out or looked into, they are what the stdlib makes of them."""
    ours, theirs = (
        mail._reusing_headers(email.policy.SMTP).header_factory(name, value),
        HeaderRegistry()(name, value),
    )

    assert isinstance(ours, mail._PlainHeader) is ((name, value) in PLAIN_HEADERS)
    for policy in (email.policy.SMTP, email.policy.default.clone(max_line_length=40), email.policy.HTTP):
        assert ours.fold(policy=policy) == theirs.fold(policy=policy)
    assert (str(ours), ours.name) == (str(theirs), theirs.name)
    assert [repr(defect) for defect in ours.defects] == [repr(defect) for defect in theirs.defects]
    if hasattr(theirs, "addresses"):
        assert ours.addresses == theirs.addresses
        assert ours.groups == theirs.groups


def test_every_plain_address_is_left_unparsed_and_written_out_as_the_stdlib_would():
    ours, theirs = mail._reusing_headers(email.policy.SMTP).header_factory, HeaderRegistry()
    for address in plain_addresses(2000):
        header = ours("To", address)

        assert isinstance(header, mail._PlainHeader)
        assert header.fold(policy=email.policy.SMTP) == theirs("To", address).fold(policy=email.policy.SMTP)
        assert header.groups == theirs("To", address).groups


def test_the_addresses_of_a_plain_to_are_read_without_parsing_it(monkeypatch):
    """Django reads the addresses of every mail's To; they come without the parse."""
    theirs, parses = HeaderRegistry()("To", "ada@example.com"), []
    monkeypatch.setattr(email.headerregistry.parser, "get_address_list", parses.append)
    header = mail._reusing_headers(email.policy.SMTP).header_factory("To", "ada@example.com")

    assert header.addresses == theirs.addresses
    assert (header.addresses[0].username, header.addresses[0].domain) == ("ada", "example.com")
    assert parses == []
