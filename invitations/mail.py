"""Build the invitation e-mail and send it over a reused connection."""

import contextlib
import email.message
import logging
import secrets
import smtplib
from email.utils import formataddr, parseaddr

from anymail.backends.base import AnymailBaseBackend
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from invitations import keys
from invitations.conf import app_settings, site_name
from invitations.models import Invitation

try:  # Django 6.1+: the MAILERS setting; mailers.default also honours the older EMAIL_* ones
    from django.core.mail import mailers
except ImportError:  # Django 5.2 and 6.0
    mailers = None

logger = logging.getLogger(__name__)


def default_backend():
    """A new instance of the project's default mail backend, whichever way it is configured:
    the one seam between Django 6.1's MAILERS and the EMAIL_* settings before it."""
    if mailers is None:
        return get_connection()
    return mailers.default


def accept_url(key: str) -> str:
    return app_settings.SITE_ROOT + reverse("invitations:accept", kwargs={"key": key})


def opt_out_url(invitation: Invitation) -> str:
    """The one-click opt-out link (List-Unsubscribe) of the invitation's mails."""
    token = keys.opt_out_token(invitation)
    return app_settings.SITE_ROOT + reverse("invitations:opt-out", kwargs={"token": token})


def from_address() -> str:
    """DEFAULT_FROM_EMAIL's address with the site's name as display name (any it had replaced)."""
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((site_name(), address or settings.DEFAULT_FROM_EMAIL))


def headers_for(*, opt_out: str) -> dict[str, str]:
    """What inboxes expect of a sender's mail: RFC 8058 one-click opt-out, RFC 3834's mark that
    no auto-responder should answer (Exchange reads its own header), Gmail's Feedback-ID."""
    headers = {
        "List-Unsubscribe": f"<{opt_out}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if app_settings.FEEDBACK_ID:
        headers["Feedback-ID"] = app_settings.FEEDBACK_ID
    return headers


class InvitationMessage(EmailMultiAlternatives):
    """Django's message, except that List-Unsubscribe stays one line. Python's email package
    folds a header line over 78 characters, and a URL has no space to fold at, so it turns the
    URL into RFC 2047 encoded words (python/cpython#85725), which Gmail and others do not
    decode there: no unsubscribe button. RFC 5322 allows up to 998 characters."""

    def message(self, **kwargs):
        message = super().message(**kwargs)
        value = message["List-Unsubscribe"]
        # Django 5.2's legacy message folds at spaces only; a non-ASCII URL is left to Django.
        if isinstance(message, email.message.EmailMessage) and value and str(value).isascii():
            del message["List-Unsubscribe"]
            message.set_raw("List-Unsubscribe", str(value))  # a plain value, not a header to refold
            message.policy = message.policy.clone(refold_source="none")  # written as it is
        return message


SUBJECT_TEMPLATE = "invitations/email/subject.txt"
TEXT_TEMPLATE = "invitations/email/body.txt"
HTML_TEMPLATE = "invitations/email/body.html"
# The one reminder (redrive.py finds it due): the same link, and the date it stops working.
REMINDER_TEMPLATES = (
    "invitations/email/reminder_subject.txt",
    "invitations/email/reminder_body.txt",
    "invitations/email/reminder_body.html",
)


def build_message(
    invitation: Invitation, *, key: str, has_account: bool = False, reminder: bool = False
) -> InvitationMessage:
    """The invitation mail, or its `reminder`: a text body and an autoescaped HTML alternative;
    `has_account`: the address already has an account, whose owner logs in to accept. Addressed
    to OVERRIDE_RECIPIENTS instead of the invitee when that is set (staging)."""
    opt_out = opt_out_url(invitation)
    subject_template, text_template, html_template = (
        REMINDER_TEMPLATES if reminder else (SUBJECT_TEMPLATE, TEXT_TEMPLATE, HTML_TEMPLATE)
    )
    context = {
        "expires": invitation.expires,
        "has_account": has_account,
        "invitation": invitation,
        "sender_name": invitation.sender_name,
        "accept_url": accept_url(key),
        "expiry_days": app_settings.EXPIRY_DAYS,
        "site_name": site_name(),
        "opt_out_url": opt_out,
    }
    with translation.override(invitation.language_code):  # the invitee's, not the worker's
        # Subjects must stay on one line: the template's newlines never reach a header.
        subject = " ".join(render_to_string(subject_template, context).split())
        text, html = render_to_string(text_template, context), render_to_string(html_template, context)
    message = InvitationMessage(
        subject=subject,
        body=text,
        from_email=from_address(),
        to=list(app_settings.OVERRIDE_RECIPIENTS) or [invitation.email],
        headers=headers_for(opt_out=opt_out),
    )
    message.attach_alternative(html, "text/html")
    return message


def warm_up() -> None:
    """Render and serialise a throwaway mail, so that the templates are compiled and the email
    package's first-use work is done before the first real mail: under a send rate, a cold
    first mail is late for its turn and bunches up with the next (bench scenario 7)."""
    build_message(Invitation(pk=0, email="warm-up@example.invalid"), key="warm-up").message().as_bytes()


def _domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"


def message_id() -> str:
    """A Message-ID of 128 random bits on the domain of DEFAULT_FROM_EMAIL. Not make_msgid():
    it writes the time, the worker's PID and (without a domain) its host name into every mail."""
    return f"<{secrets.token_hex(16)}@{_domain()}>"


class ReusableMailer:
    """One connection to the default mailer, kept open across messages; one the server closed
    while idle is reopened once, transparently."""

    def __init__(self) -> None:
        self.connection = None

    def open(self) -> None:
        """Connect ahead of the first message. Best effort: send() connects if this failed."""
        try:
            self._connect()
        except Exception as exc:
            logger.warning("mail server not reachable yet (%r); connecting at the first mail", exc)
            self.close()

    def send(self, message: EmailMultiAlternatives) -> str:
        """Send `message`; return its id as the provider knows it (for SMTP, its Message-ID)."""
        while True:
            reused = self.connection is not None
            try:
                self._send(message)
            except smtplib.SMTPServerDisconnected:
                self.close()
                if not reused:
                    raise
                continue  # a kept connection the server dropped: once more, on a new one
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused, ValueError):
                raise  # the server answered: the connection is still good
            except Exception:
                self.close()  # state unknown (timeout, reset): start afresh next time
                raise
            break

        status = getattr(message, "anymail_status", None)  # an HTTP provider's own id
        return (status.message_id or "") if status else message.extra_headers.get("Message-ID", "")

    def _send(self, message: EmailMultiAlternatives) -> None:
        self._connect()
        if not isinstance(self.connection, AnymailBaseBackend):  # our own id, for the webhooks
            message.extra_headers.setdefault("Message-ID", message_id())
        self.connection.send_messages([message])

    def _connect(self) -> None:
        """Open a connection unless one is kept. Kept only once open: a backend whose open()
        failed would open and close a connection of its own for every message after."""
        if self.connection is None:
            connection = default_backend()
            try:
                connection.open()  # opened here, send_messages() leaves it open
            except Exception:
                with contextlib.suppress(Exception):
                    connection.close()  # what a half-done open() left (connected, no login)
                raise
            self.connection = connection

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            # Closing a broken connection may fail too; there is nothing left to do then.
            with contextlib.suppress(Exception):
                connection.close()
