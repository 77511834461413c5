"""The pipelining SMTP connection against a real SMTP server (aiosmtpd) on loopback."""

import smtplib
from dataclasses import dataclass, field
from functools import partial

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import EmailMessage, mailers

from invitations import smtp
from tests.addresses import plain_addresses
from tests.integration.stack import free_port

MESSAGE = b"Subject: hi\r\n\r\nhello\r\n.leading dot\r\n"


@dataclass
class ScriptedHandler:
    """Accepts mail unless told otherwise; offers PIPELINING when `pipelining` is set."""

    pipelining: bool = True
    mail_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    accepted: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        self.commands.append("MAIL")
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.commands.append("RCPT")
        if reply := self.rcpt_replies.get(address):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.commands.append("DATA")
        if self.data_reply:
            return self.data_reply
        self.accepted.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


@pytest.fixture
def handler():
    handler = ScriptedHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


class CountingSocket:
    """The connection's socket, counting the writes that go out on it."""

    def __init__(self, sock):
        self._sock, self.writes = sock, 0

    def sendall(self, data):
        self.writes += 1
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


@pytest.fixture
def connect(handler):
    opened = []

    def connect() -> smtp.SMTP:
        connection = smtp.SMTP("127.0.0.1", handler.port, timeout=5)
        connection.ehlo()
        connection.sock = CountingSocket(connection.sock)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()


def test_a_mail_goes_out_in_two_writes_when_the_server_pipelines(handler, connect):
    connection = connect()

    refused = connection.sendmail("from@example.com", ["a@example.com", "b@example.com"], MESSAGE)

    assert refused == {}
    assert connection.sock.writes == 2  # MAIL + RCPT + RCPT + DATA, then the message
    assert handler.accepted == [("from@example.com", ["a@example.com", "b@example.com"], MESSAGE)]


def test_the_server_receives_the_same_bytes_as_from_smtplib(handler, connect):
    """Dot-stuffing and the final CRLF, as smtplib.SMTP.data() sends them."""
    connect().sendmail("from@example.com", "a@example.com", MESSAGE.rstrip(b"\r\n"))
    handler.pipelining = False
    connect().sendmail("from@example.com", "a@example.com", MESSAGE.rstrip(b"\r\n"))

    assert handler.accepted[0] == handler.accepted[1]


def test_a_server_without_pipelining_gets_smtplibs_sendmail(handler, connect):
    handler.pipelining = False
    connection = connect()

    connection.sendmail("from@example.com", ["a@example.com"], MESSAGE)

    assert connection.sock.writes == 4  # MAIL, RCPT, DATA and the message, one at a time
    assert len(handler.accepted) == 1


@pytest.mark.parametrize(
    ("scripted", "reply", "error"),
    [
        ("mail_reply", "550 sender not allowed", smtplib.SMTPSenderRefused),
        ("data_reply", "554 looks like spam", smtplib.SMTPDataError),
    ],
)
def test_a_refusal_raises_as_smtplib_does_and_the_connection_carries_on(
    handler, connect, scripted, reply, error
):
    connection = connect()
    setattr(handler, scripted, reply)

    with pytest.raises(error) as refusal:
        connection.sendmail("from@example.com", ["a@example.com"], MESSAGE)
    setattr(handler, scripted, None)
    connection.sendmail("from@example.com", ["b@example.com"], MESSAGE)

    assert refusal.value.smtp_code == int(reply[:3])
    assert [recipients for _, recipients, _ in handler.accepted] == [["b@example.com"]]


def test_refused_recipients_are_returned_while_the_others_get_the_mail(handler, connect):
    handler.rcpt_replies["gone@example.com"] = "550 no such user"

    refused = connect().sendmail("from@example.com", ["gone@example.com", "a@example.com"], MESSAGE)

    assert refused == {"gone@example.com": (550, b"no such user")}
    assert [recipients for _, recipients, _ in handler.accepted] == [["a@example.com"]]


def test_every_recipient_refused_raises_and_the_connection_carries_on(handler, connect):
    connection = connect()
    handler.rcpt_replies["gone@example.com"] = "550 no such user"

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refusal:
        connection.sendmail("from@example.com", ["gone@example.com"], MESSAGE)
    connection.sendmail("from@example.com", ["a@example.com"], MESSAGE)

    assert refusal.value.recipients == {"gone@example.com": (550, b"no such user")}
    assert [recipients for _, recipients, _ in handler.accepted] == [["a@example.com"]]


def test_a_server_closing_the_connection_with_421_is_a_disconnect(handler, connect):
    connection = connect()
    handler.rcpt_replies["a@example.com"] = "421 closing, try later"

    with pytest.raises(smtplib.SMTPServerDisconnected, match="421"):
        connection.sendmail("from@example.com", ["a@example.com"], MESSAGE)

    assert connection.sock is None  # closed, as smtplib closes on 421
    assert handler.accepted == []


def test_a_mail_that_needs_smtputf8_gets_smtplibs_sendmail(handler, connect):
    connection = connect()

    connection.sendmail("from@example.com", ["a@example.com"], MESSAGE, mail_options=["SMTPUTF8"])

    assert connection.sock.writes == 4
    assert len(handler.accepted) == 1


def test_a_newline_in_a_command_is_refused_before_anything_is_sent(handler, connect):
    connection = connect()

    with pytest.raises(ValueError, match="prohibited newline"):
        connection.sendmail(
            "from@example.com", ["a@example.com"], MESSAGE, rcpt_options=["NOTIFY=NEVER\r\nRSET"]
        )

    assert connection.sock.writes == 0
    assert handler.commands == []


def test_djangos_backend_sends_over_the_pipelining_connection(handler, settings):
    options = {"host": "127.0.0.1", "port": handler.port, "timeout": 5}
    settings.MAILERS = {"default": {"BACKEND": "invitations.smtp.EmailBackend", "OPTIONS": options}}
    backend = mailers.default
    backend.open()
    try:
        sent = backend.send_messages([EmailMessage("hi", "hello", "from@example.com", ["a@example.com"])])
        assert isinstance(backend.connection, smtp.SMTP)
    finally:
        backend.close()

    assert sent == 1
    assert [recipients for _, recipients, _ in handler.accepted] == [["a@example.com"]]


DJANGOS_PREP_ADDRESS = smtp.smtp.EmailBackend.prep_address


@pytest.fixture
def parsed(monkeypatch) -> list[tuple]:
    """The arguments of every call that reaches Django's own prep_address (its parser)."""
    calls = []

    def counting(self, *args):
        calls.append(args)
        return DJANGOS_PREP_ADDRESS(self, *args)

    monkeypatch.setattr(smtp.smtp.EmailBackend, "prep_address", counting)
    return calls


@pytest.fixture
def backend(settings):
    options = {"host": "127.0.0.1", "port": 25}
    settings.MAILERS = {"default": {"BACKEND": "invitations.smtp.EmailBackend", "OPTIONS": options}}
    return mailers.default


def test_the_backend_parses_an_address_once_and_refuses_a_bad_one_every_time(backend, parsed):
    for _ in range(3):
        assert backend.prep_address("Invitations <from@exämple.com>") == "from@xn--exmple-cua.com"
        assert backend.prep_address("from@exämple.com", force_ascii=False) == "from@exämple.com"
        with pytest.raises(ValueError, match="Invalid address"):
            backend.prep_address("ada@example.com\nBcc: all@example.com")

    assert parsed.count(("Invitations <from@exämple.com>", True)) == 1
    assert parsed.count(("from@exämple.com", False)) == 1
    assert parsed.count(("ada@example.com\nBcc: all@example.com", True)) == 3


NOT_PLAIN = [
    "Ada <ada@example.com>",
    "ada@exämple.com",
    "adä@example.com",
    '"ada lovelace"@example.com',
    "ada..lovelace@example.com",
    ".ada@example.com",
    "ada.@example.com",
    "ada@example..com",
    "ada@example_com",
    "ada@[127.0.0.1]",
    "ada(comment)@example.com",
    " ada@example.com",
    "ada@example.com ",
    "ada@example.com\n",
    "ada@example.com\nBcc: all@example.com",
    "ada@example.com, bob@example.com",
    "webmaster",
    "@example.com",
    "",
]


@pytest.mark.parametrize("force_ascii", [True, False])
def test_a_plain_address_is_not_parsed_and_comes_out_as_djangos(backend, parsed, force_ascii):
    def outcome(prep, address):
        try:
            return prep(address, force_ascii)
        except ValueError as error:
            return type(error)

    plain = plain_addresses(3000)
    djangos = partial(DJANGOS_PREP_ADDRESS, backend)
    expected = {address: outcome(djangos, address) for address in plain + NOT_PLAIN}
    assert all(expected[address] == address for address in plain)

    assert {address: outcome(backend.prep_address, address) for address in expected} == expected
    assert sorted(address for address, _ in parsed) == sorted(NOT_PLAIN)


def test_a_plain_address_is_quoted_as_smtplib_quotes_it_without_a_parse(monkeypatch):
    plain = plain_addresses(3000)
    expected = {address: smtplib.quoteaddr(address) for address in plain + NOT_PLAIN}
    assert {address: smtp.quoteaddr(address) for address in expected} == expected

    parsed = []
    monkeypatch.setattr(smtplib.email.utils, "parseaddr", parsed.append)
    for address in plain:
        smtp.quoteaddr(address)
    assert parsed == []
