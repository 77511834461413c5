"""Build the invitation e-mail and send it over a reused connection."""

import contextlib
import email.policy
import functools
import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, AddressHeader, BaseHeader, Group, HeaderRegistry

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.template.loader import get_template, render_to_string
from django.urls import reverse

from invitations.models import Invitation
from invitations.smtp import PLAIN_ADDRESS

logger = logging.getLogger(__name__)


def accept_url(key: str) -> str:
    return settings.SITE_URL + reverse("invitations:accept", kwargs={"key": key})


class _FoldedOnceHeader(BaseHeader):
    """A header that folds itself once per line settings, and then reuses the lines."""

    def fold(self, *, policy):
        # What BaseHeader.fold reads from the policy.
        lines = (policy.max_line_length, policy.linesep, policy.utf8)
        folded = self.__dict__.setdefault("_folded", {})
        if lines not in folded:
            folded[lines] = super().fold(policy=policy)
        return folded[lines]


class _PlainHeader(_FoldedOnceHeader):
    """A header whose value is known to parse to itself, parsed only if someone looks inside.

    Every mail has its own To and Message-ID, and parsing them was about a quarter of the
    time the email package spent on a mail. Written out, such a header is its name and its
    value; its parse tree and defects are computed, as BaseHeader would have, on first use.
    """

    @classmethod
    def unparsed(cls, name: str, value: str) -> "_PlainHeader":
        header = str.__new__(cls, value)
        header._name = name
        if isinstance(header, AddressHeader):
            # The one address a plain value is, as the parser would make it. Django reads the
            # addresses of every mail's To (to IDNA-encode their domains): parsing them for
            # that was over a quarter of the time message() and as_bytes() took.
            username, _, domain = value.partition("@")
            header._groups, header._addresses = (Group(None, [Address("", username, domain)]),), None
        return header

    def __getattr__(self, attribute: str):
        # Reached only for an attribute not set yet: those BaseHeader.init would have set.
        if attribute.startswith("__") or "_parsed" in self.__dict__:
            raise AttributeError(attribute)
        self.__dict__["_parsed"] = True
        parsed = {"defects": []}
        self.parse(str(self), parsed)
        del parsed["decoded"]  # the value itself: that is what makes the header plain
        self.init(self._name, **parsed)
        return getattr(self, attribute)

    def fold(self, *, policy):
        line = f"{self._name}: {self}"
        if not policy.max_line_length or len(line) <= policy.max_line_length:
            return line + policy.linesep
        return super().fold(policy=policy)


# Django's make_msgid(): <time.pid.random@host>, a plain address in angle brackets.
_PLAIN_MESSAGE_ID = re.compile(f"<{PLAIN_ADDRESS.pattern}>")
_PLAIN = {
    "to": PLAIN_ADDRESS,
    "cc": PLAIN_ADDRESS,
    "reply-to": PLAIN_ADDRESS,
    "message-id": _PLAIN_MESSAGE_ID,
}


class _ReusingHeaderRegistry(HeaderRegistry):
    """Parses and folds each distinct header once.

    Parsing and folding headers is most of the time Python's email package spends turning a
    mail into bytes, and the stdlib registry even makes a new class for every header it
    parses. Yet most headers of our mails are the same in each (MIME-Version, the
    Content-Types and Content-Transfer-Encodings, From, the Subject of one sender). Parsed
    headers are immutable str subclasses, so one object, folded once, serves every message;
    the LRU bound keeps those that differ per mail (To, Date, Message-ID, the boundary) from
    piling up.
    """

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnceHeader)
        self._classes: dict[str, type] = {}
        self._plain_classes: dict[str, type] = {}
        self._parse = functools.lru_cache(maxsize=256)(super().__call__)

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        if key not in self._classes:
            self._classes[key] = super().__getitem__(name)
        return self._classes[key]

    def _plain(self, name: str, value: str) -> _PlainHeader | None:
        key = name.lower()
        plain = _PLAIN.get(key)
        if plain is None or not plain.fullmatch(value):
            return None
        if key not in self._plain_classes:
            self._plain_classes[key] = type(f"_Plain{name}", (_PlainHeader, self[name]), {})
        return self._plain_classes[key].unparsed(name, value)

    def __call__(self, name: str, value):
        if type(value) is datetime:
            # Django dates each mail with a datetime (the Date header). It is written out to the
            # second, so the header parsed for the first mail of a second serves its others.
            value = value.replace(microsecond=0)
        elif type(value) is not str:
            return super().__call__(name, value)
        return self._plain(name, value) or self._parse(name, value)


@functools.cache
def _reusing_headers(policy: email.policy.Policy) -> email.policy.Policy:
    if not isinstance(policy, email.policy.EmailPolicy):
        return policy
    return policy.clone(header_factory=_ReusingHeaderRegistry())


class InvitationEmail(EmailMultiAlternatives):
    """Serialises to the same bytes as any EmailMultiAlternatives, in about half the time."""

    def message(self, *, policy: email.policy.Policy = email.policy.default):
        message = super().message(policy=_reusing_headers(policy))
        if message.is_multipart():
            message.set_boundary(self._boundary())
        return message

    def _boundary(self) -> str:
        """The process's boundary, unless a body holds it: then one drawn for this mail alone.

        Left to choose, email.generator draws a 63-bit boundary and compiles a regular
        expression to prove no line of the text holds it (a quarter of the time this class
        took). 128 random bits cannot occur in text we rendered ourselves unless someone who
        has seen them puts them there, and a plain search of the bodies rules that out; the
        bodies' encodings (7bit, 8bit, quoted-printable or base64) cannot make up `=` signs
        that are not in them. One boundary for all mails makes their Content-Type one header,
        parsed once.
        """
        bodies = [self.body, *(content for content, _ in self.alternatives if isinstance(content, str))]
        if any(_BOUNDARY in body for body in bodies):
            return _new_boundary()
        return _BOUNDARY


def _new_boundary() -> str:
    return f"=={secrets.token_hex(16)}=="


_BOUNDARY = _new_boundary()


SUBJECT_TEMPLATE = "invitations/email/subject.txt"
TEXT_TEMPLATE = "invitations/email/body.txt"
HTML_TEMPLATE = "invitations/email/body.html"


def load_templates() -> None:
    """Compile the mail's templates now rather than in the first mail a process sends."""
    for name in (SUBJECT_TEMPLATE, TEXT_TEMPLATE, HTML_TEMPLATE):
        get_template(name)


def build_message(invitation: Invitation, *, key: str) -> EmailMultiAlternatives:
    """The invitation mail: a text body and an autoescaped HTML alternative."""
    context = {
        "invitation": invitation,
        "sender_name": _sender_name(invitation),
        "accept_url": accept_url(key),
        "expiry_days": settings.INVITATION_EXPIRY_DAYS,
    }
    subject = render_to_string(SUBJECT_TEMPLATE, context)
    # Subjects must stay on one line: the template's newlines never reach a header.
    subject = " ".join(subject.split())
    message = InvitationEmail(
        subject=subject,
        body=render_to_string(TEXT_TEMPLATE, context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string(HTML_TEMPLATE, context), "text/html")
    return message


def _sender_name(invitation: Invitation) -> str:
    if invitation.sender is None:
        return "The team"
    return invitation.sender.get_full_name() or invitation.sender.get_username()


@dataclass(frozen=True)
class SendFailure:
    """Why a send failed, and whether trying again could help."""

    permanent: bool
    error: str


def classify(exc: Exception) -> SendFailure:
    """SMTP 5xx and malformed addresses are permanent; 4xx, disconnects and timeouts are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return SendFailure(permanent=code >= 500, error=_smtp_error(code, text))
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendFailure(permanent=exc.smtp_code >= 500, error=_smtp_error(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, ValueError):
        return SendFailure(permanent=True, error=f"invalid address: {exc}")
    return SendFailure(permanent=False, error=f"{type(exc).__name__}: {exc}")


def _smtp_error(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"SMTP {code} {text}"


class ReusableMailer:
    """One connection to the default mailer, kept open across messages.

    A connection the server closed while idle is reopened once, transparently.
    """

    def __init__(self) -> None:
        self.connection = None

    def open(self) -> None:
        """Connect ahead of the first message. Best effort: send() connects if this failed."""
        try:
            self._connect()
        except Exception as exc:
            logger.warning(
                "mail server not reachable yet (%s: %s); connecting at the first mail",
                type(exc).__name__,
                exc,
            )
            self.close()

    def send(self, message: EmailMultiAlternatives) -> None:
        reused = self.connection is not None
        try:
            self._send(message)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise
            self._send(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused, ValueError):
            raise  # the server answered: the connection is still good
        except Exception:
            self.close()  # state unknown (timeout, reset): start afresh next time
            raise

    def _send(self, message: EmailMultiAlternatives) -> None:
        self._connect()
        self.connection.send_messages([message])

    def _connect(self) -> None:
        if self.connection is None:
            self.connection = mailers.default
            self.connection.open()  # opened here, send_messages() leaves it open

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            # Closing a broken connection may fail too; there is nothing left to do then.
            with contextlib.suppress(Exception):
                connection.close()
