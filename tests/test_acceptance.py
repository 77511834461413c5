"""Following the link: finding the invitation by its key and accepting it exactly once."""

from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from invitations import acceptance
from invitations.forms import AcceptForm
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
PASSWORD = "violet-harbour-kettle-93"


def new_user(invitation: Invitation, username: str):
    """The invitee's user as the accept form builds it, not saved yet."""
    form = AcceptForm(
        {"username": username, "password1": PASSWORD, "password2": PASSWORD}, invitation=invitation
    )
    assert form.is_valid(), form.errors
    return form.save(commit=False)


def test_key_finds_its_invitation(sent_invitation):
    invitation, key = sent_invitation

    assert acceptance.invitation_for_key(key=key) == invitation


@pytest.mark.parametrize("key", ["unknown", ""])
def test_unknown_key_is_not_found(sent_invitation, key):
    with pytest.raises(Http404):
        acceptance.invitation_for_key(key=key)


def test_fresh_sent_invitation_can_be_accepted(sent_invitation):
    invitation, _ = sent_invitation

    assert acceptance.acceptance_refusal(invitation) is None


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.ACCEPTED, "accepted"),
        (Status.REVOKED, "revoked"),
        (Status.PENDING, "expired"),
        (Status.FAILED, "expired"),
    ],
)
def test_closed_invitation_says_why_it_cannot_be_accepted(status, reason):
    invitation = Invitation.objects.create(email="ada@example.com", status=status, sent=timezone.now())

    assert acceptance.acceptance_refusal(invitation) == reason


def test_old_invitation_has_expired(sent_invitation, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}
    invitation, _ = sent_invitation
    invitation.sent = timezone.now() - timedelta(days=8)

    assert acceptance.acceptance_refusal(invitation) == "expired"


def test_accepting_creates_the_user_and_stamps_the_invitation(sent_invitation, django_user_model):
    invitation, _ = sent_invitation

    assert acceptance.invitation_accept(invitation=invitation, user=new_user(invitation, "ada"))

    user = django_user_model.objects.get(email="ada@example.com")
    assert (user.username, user.check_password(PASSWORD)) == ("ada", True)
    accepted = Invitation.objects.get(pk=invitation.pk)
    assert accepted.status == Status.ACCEPTED
    assert accepted.accepted is not None


def test_second_acceptance_creates_nobody(sent_invitation, django_user_model):
    invitation, _ = sent_invitation
    acceptance.invitation_accept(invitation=invitation, user=new_user(invitation, "ada"))
    first = Invitation.objects.get(pk=invitation.pk).accepted

    assert acceptance.invitation_accept(invitation=invitation, user=new_user(invitation, "ada2")) is False

    assert not django_user_model.objects.filter(username="ada2").exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted == first


def test_a_username_taken_meanwhile_is_refused_and_the_invitation_stays_open(
    sent_invitation, django_user_model
):
    invitation, _ = sent_invitation
    user = new_user(invitation, "ada")  # the form found "ada" free
    django_user_model.objects.create_user("ada")  # another invitee signs up as "ada" first

    with pytest.raises(acceptance.UsernameTaken):
        acceptance.invitation_accept(invitation=invitation, user=user)

    assert Invitation.objects.get(pk=invitation.pk).status == Status.SENT
    assert not django_user_model.objects.filter(email="ada@example.com").exists()
