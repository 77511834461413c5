"""Accept links' keys: derived from SECRET_KEY and a nonce, so a mail sent twice carries one
working link, a resend kills the old one, and the database alone cannot make one."""

import re

import pytest

from invitations import keys
from invitations.models import Invitation, key_digest

pytestmark = pytest.mark.django_db
Status = Invitation.Status
LINK = re.compile(r"/invites/accept/([^/\s]+)/")


def link_key(mail) -> str:
    return LINK.search(mail.body).group(1)


def test_the_key_in_the_mail_finds_its_invitation_and_is_on_no_row(deliver, mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")
    deliver(invitation)

    key = link_key(mailoutbox[0])

    assert keys.invitation_for_key(key) == invitation
    assert key not in str(Invitation.objects.filter(pk=invitation.pk).values().get())


def test_a_mail_sent_again_after_a_crash_carries_the_same_working_link(deliver, mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")
    deliver(invitation)
    # As when a worker died between the server's 250 and the stamp: its claim expired.
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.PENDING, sent=None)
    deliver(invitation)

    first, second = (link_key(mail) for mail in mailoutbox)
    assert first == second
    assert keys.invitation_for_key(first) == invitation


def test_a_resend_draws_a_new_key_and_the_old_one_stops_working(sent_invitation):
    invitation, key = sent_invitation
    Invitation.objects.filter(pk=invitation.pk).update(key_nonce="a-new-nonce")

    assert keys.invitation_for_key(key) is None


def test_keys_made_with_a_retired_secret_work_while_it_is_a_fallback(sent_invitation, settings):
    invitation, key = sent_invitation

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-secret-key", ["test-only-key-not-secret"]
    assert keys.invitation_for_key(key) == invitation
    assert keys.invitation_for_key(keys.invitation_key(invitation)) == invitation  # new ones too

    settings.SECRET_KEY_FALLBACKS = []
    assert keys.invitation_for_key(key) is None


@pytest.mark.parametrize(
    "key", ["", "zz", "1-" + "0" * 64, "not-a-key", "1-" + "g" * 64, "1" * 20 + "-" + "0" * 64]
)
def test_anything_that_is_not_a_key_finds_nothing(sent_invitation, key):
    assert keys.invitation_for_key(key) is None


def test_a_link_mailed_before_keys_were_derived_still_works(sent_invitation):
    invitation, _ = sent_invitation
    legacy = "Zq3x_random-urlsafe-key-of-an-older-release"
    Invitation.objects.filter(pk=invitation.pk).update(key_digest=key_digest(legacy))

    assert keys.invitation_for_key(legacy) == invitation


def test_what_a_session_keeps_of_a_key_finds_its_invitation_but_is_no_key(sent_invitation, settings):
    invitation, key = sent_invitation
    legacy = "Zq3x_random-urlsafe-key-of-an-older-release"
    other = Invitation.objects.create(email="bob@example.com", key_digest=key_digest(legacy))
    reference = keys.key_reference(key)

    assert key.rpartition("-")[2] not in reference
    assert keys.invitation_for_key(reference) is None
    assert keys.invitation_for_reference(reference) == invitation
    assert keys.invitation_for_reference(keys.key_reference(legacy)) == other
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-secret-key", ["test-only-key-not-secret"]
    assert keys.invitation_for_reference(reference) == invitation
    Invitation.objects.filter(pk=invitation.pk).update(key_nonce="a-new-nonce")  # a resend
    assert keys.invitation_for_reference(reference) is None
