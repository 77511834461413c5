"""One mailbox, one way to write it: quoting, address literals and dotless domains."""

import pytest

from invitations import services
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

pytestmark = pytest.mark.django_db
Result = services.BulkResult


def test_a_quoted_local_part_is_the_suppressed_mailbox_it_names():
    Suppression.objects.create(email="bnc@example.com", reason="bounced", detail="550 no such user")

    form = InvitationForm({"email": '"bnc"@example.com'})

    assert not form.is_valid()
    assert form.has_error("email", code="suppressed")
    assert not Invitation.objects.exists()


def test_quoted_and_escaped_spellings_of_an_invited_mailbox_are_already_invited(staff):
    results = services.invitations_create_many(
        emails=["first@example.com", '"first"@example.com', '"\\first"@example.com', '"fir.st"@example.com'],
        sender=staff,
    )

    assert results == [
        ("first@example.com", Result.QUEUED),
        ("first@example.com", Result.DUPLICATE),
        ("first@example.com", Result.DUPLICATE),
        ("fir.st@example.com", Result.QUEUED),
    ]
    assert sorted(Invitation.objects.values_list("email", flat=True)) == [
        "fir.st@example.com",
        "first@example.com",
    ]


@pytest.mark.parametrize(
    "address",
    [
        "x@[127.0.0.1]",
        "x@[IPv6:::1]",
        "x@[::1]",
        "x@localhost",
        "x@intranet",
        '"a b"@example.com',
        '"a@b"@example.com',
        '"x..y"@example.com',
    ],
)
def test_address_literals_dotless_domains_and_quoting_that_is_needed_are_refused(staff, address):
    [(_, result)] = services.invitations_create_many(emails=[address], sender=staff)
    form = InvitationForm({"email": address}, sender=staff)

    assert result == Result.INVALID
    assert not form.is_valid()
    assert form.errors["email"] == ["Enter a valid email address."]
    assert not Invitation.objects.exists()
