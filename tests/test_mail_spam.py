"""The real invitation mail, as the worker builds it, through Debian's SpamAssassin with its
local rules only (no network tests): it must not look like spam to a receiving server."""

import email.policy
import re
import shutil
import subprocess

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from invitations import keys, mail
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
MAX_SCORE = 1.0
# How the receiving MTA records the connection: a public address whose reverse DNS and the
# EHLO name (invitations.backends.SMTPBackend: the host of SITE_URL) agree, as they must in
# production, so that SpamAssassin's HELO and relay rules have something real to judge.
RECEIVED = (
    "Received: from app.example.com (app.example.com [52.95.48.10])\r\n"
    "\tby mx.example.org (Postfix) with ESMTPS id 4ZK3Q71bGYz9sWQ\r\n"
    "\tfor <ada@example.org>; {date}\r\n"
)


@pytest.fixture
def spamassassin() -> str:
    """Installed by the Makefile, as Chromium is; a missing one fails, never skips."""
    path = shutil.which("spamassassin")
    if path is None:
        pytest.fail("spamassassin is required (Debian package 'spamassassin'; `make test` installs it)")
    return path


@pytest.fixture
def production_like(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://app.example.com"}
    settings.DEFAULT_FROM_EMAIL = "invitations@app.example.com"


def received_mail(policy) -> bytes:
    """The bytes the worker hands to the server, as the receiving server stores them."""
    sender = User.objects.create_user("grace", first_name="Grace", last_name="Hopper")
    invitation = Invitation.objects.create(email="ada@example.org", sender=sender)
    message = mail.build_message(invitation, key=keys.invitation_key(invitation))
    message.extra_headers.setdefault("Message-ID", mail.message_id())  # as ReusableMailer does
    date = timezone.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    return RECEIVED.format(date=date).encode() + message.message(policy=policy).as_bytes()


def spam_score(spamassassin: str, raw: bytes, home) -> tuple[float, str]:
    # -L: local tests only (no DNS blocklists, no network); no Bayes, nothing learnt or kept.
    command = [spamassassin, "-L", "-t", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0"]
    result = subprocess.run(  # noqa: S603
        command,
        input=raw,
        capture_output=True,
        check=True,
        timeout=60,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    report = result.stdout.decode(errors="replace")
    status = re.search(r"^X-Spam-Status: .*?score=(-?[\d.]+).*?(?=^\S)", report, re.MULTILINE | re.DOTALL)
    return float(status.group(1)), status.group(0)


@pytest.mark.parametrize("policy", [email.policy.SMTP, email.policy.default], ids=["smtp", "default"])
def test_the_invitation_mail_scores_as_ham(spamassassin, production_like, tmp_path, policy):
    score, status = spam_score(spamassassin, received_mail(policy), tmp_path)

    assert score <= MAX_SCORE, status


def test_list_unsubscribe_reaches_the_server_on_one_line_unencoded(production_like):
    raw = received_mail(email.policy.SMTP)

    [line] = re.findall(rb"^List-Unsubscribe: .*\r\n(?![ \t])", raw, re.MULTILINE)
    assert re.fullmatch(
        rb"List-Unsubscribe: <https://app\.example\.com/invites/opt-out/[0-9a-z]+-[0-9a-f]{64}/>\r\n", line
    )
