"""What inboxes expect of the invitation mail: one-click opt-out, no auto-replies, a named
sender, a complete HTML document; and the staging switch that sends every mail elsewhere."""

import email
import email.policy
import re

import pytest
from django.core import mail as outbox
from django.urls import include, path

from invitations import keys, mail
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
urlpatterns = [path("team/", include("invitations.urls"))]  # a host that mounts the app elsewhere


@pytest.fixture
def production_like(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://app.example.com"}
    settings.DEFAULT_FROM_EMAIL = "invitations@app.example.com"


@pytest.fixture
def invitation():
    return Invitation.objects.create(email="Ada@Example.com")


def sent(invitation: Invitation) -> email.message.EmailMessage:
    """The mail as the worker hands it to the server."""
    message = mail.build_message(invitation, key=keys.invitation_key(invitation))
    return email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)


def test_the_mail_carries_one_click_opt_out_and_auto_submitted(production_like, invitation):
    parsed = sent(invitation)

    token = keys.opt_out_token(invitation)
    assert parsed["List-Unsubscribe"] == f"<https://app.example.com/invites/opt-out/{token}/>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert "Feedback-ID" not in parsed


def test_the_opt_out_link_follows_where_the_host_mounted_the_urls(production_like, invitation, settings):
    settings.ROOT_URLCONF = __name__

    link = sent(invitation)["List-Unsubscribe"]

    assert re.fullmatch(r"<https://app\.example\.com/team/opt-out/[0-9a-z]+-[0-9a-f]{64}/>", link)


def test_both_parts_say_how_to_opt_out(production_like, invitation):
    parsed = sent(invitation)

    link = f"https://app.example.com/invites/opt-out/{keys.opt_out_token(invitation)}/"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert f"Don't want invitations from app.example.com? Opt out:\n{link}" in text.replace("\r\n", "\n")
    assert f'Don\'t want invitations from app.example.com? <a href="{link}"' in html


def test_the_sender_is_named_after_the_site_keeping_the_address(production_like, invitation, settings):
    settings.DEFAULT_FROM_EMAIL = "Old Name <invitations@app.example.com>"

    assert sent(invitation)["From"] == '"app.example.com" <invitations@app.example.com>'


def test_the_feedback_id_is_sent_when_configured(production_like, invitation, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "FEEDBACK_ID": "invite:app:example:Invitations"}

    assert sent(invitation)["Feedback-ID"] == "invite:app:example:Invitations"


def test_the_message_id_is_on_the_sender_domain_and_says_nothing_of_the_worker(production_like):
    message_id = mail.message_id()

    assert re.fullmatch(r"<[0-9a-f]{32}@app\.example\.com>", message_id)


def test_the_html_part_is_a_complete_document_that_fits_a_phone(production_like, invitation):
    html = sent(invitation).get_body(("html",)).get_content()

    assert re.search(r'<html lang="en">\s*<head>', html)
    assert "<title>The team invited you to join app.example.com</title>" in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<p style="overflow-wrap:anywhere">' in html  # long links wrap
    assert 'style="color:#1f6feb; word-break:break-all">https://app.example.com/invites/accept/' in html


def test_staging_sends_every_mail_to_the_override_and_the_row_keeps_the_address(settings, deliver):
    settings.INVITATIONS = {
        **settings.INVITATIONS,
        "OVERRIDE_RECIPIENTS": ["qa@example.com", "dev@example.com"],
    }
    invitation = Invitation.objects.create(email="ada@example.com")

    deliver(invitation)

    assert [m.to for m in outbox.outbox] == [["qa@example.com", "dev@example.com"]]
    invitation.refresh_from_db()
    assert (invitation.email, invitation.status) == ("ada@example.com", Invitation.Status.SENT)
