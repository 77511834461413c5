"""Bulk invitations: pasted addresses, CSV upload, the rate limit and the import command."""

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from invitations import services
from invitations.forms import BulkInvitationForm, InvitationForm
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Result = services.BulkResult


def receive_ids(channel_layer, count):
    return [async_to_sync(channel_layer.receive)("send-invite")["id"] for _ in range(count)]


def test_bulk_reports_a_result_per_address(staff, channel_layer, django_capture_on_commit_callbacks):
    Invitation.objects.create(email="taken@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        results = services.invitations_create_many(
            emails=["new@Example.com", "taken@EXAMPLE.com", "not-an-address", "new@example.com"],
            sender=staff,
        )

    assert results == [
        ("new@example.com", Result.QUEUED),
        ("taken@example.com", Result.ALREADY_INVITED),
        ("not-an-address", Result.INVALID),
        ("new@example.com", Result.DUPLICATE),
    ]
    new = Invitation.objects.get(email="new@example.com")
    assert new.sender == staff
    assert receive_ids(channel_layer, 1) == [new.pk]


def test_bulk_stops_queueing_at_the_senders_hourly_limit(staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 3}
    Invitation.objects.create(email="earlier@example.com", sender=staff)

    results = services.invitations_create_many(emails=[f"p{n}@example.com" for n in range(4)], sender=staff)

    assert [result for _, result in results] == [Result.QUEUED, Result.QUEUED] + [Result.RATE_LIMITED] * 2
    assert Invitation.objects.filter(sender=staff).count() == 3


def test_single_form_refuses_a_sender_over_the_limit(staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1}
    Invitation.objects.create(email="earlier@example.com", sender=staff)

    form = InvitationForm({"email": "ada@example.com"}, sender=staff)

    assert not form.is_valid()
    assert form.has_error("__all__", code="rate_limited")


def test_bulk_form_splits_pasted_addresses_and_reads_the_csv_email_column():
    upload = SimpleUploadedFile("people.csv", b"\xef\xbb\xbfName,Email\nAda,ada@example.com\nBob,\n")

    form = BulkInvitationForm(
        {"addresses": "x@example.com, y@example.com;\nz@example.com"}, {"csv_file": upload}
    )

    assert form.is_valid(), form.errors
    assert form.cleaned_data["emails"] == [
        "x@example.com",
        "y@example.com",
        "z@example.com",
        "ada@example.com",
    ]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"name\nAda\n", "no_email_column", "The CSV file has no “email” column."),
        (b"email\n\xff\xfe\n", "bad_csv", "The CSV file is not UTF-8 text."),
        (b"email\n" + b"a" * 200_000 + b"\n", "field_too_long", "longer than 131,072 characters"),
        (
            b"email,EMAIL\nada@example.com,bob@example.com\n",
            "duplicate_email_column",
            "The CSV file has 2 “email” columns (email, EMAIL): keep one.",
        ),
        (b"email\nada\x00@example.com\n", "nul_byte", "The CSV file contains a NUL byte (line 2)."),
    ],
    ids=["no-column", "not-utf8", "huge-field", "two-columns", "nul-byte"],
)
def test_bulk_form_rejects_unusable_csv_files_and_says_why(content, code, message):
    form = BulkInvitationForm({}, {"csv_file": SimpleUploadedFile("bad.csv", content)})

    assert form.has_error("csv_file", code=code)
    assert message in form.errors["csv_file"][0]


def test_bulk_invites_one_mailbox_written_two_ways_once(staff):
    results = services.invitations_create_many(
        emails=["user@bücher.example", "user@XN--BCHER-KVA.example"], sender=staff
    )

    assert results == [
        ("user@xn--bcher-kva.example", Result.QUEUED),
        ("user@xn--bcher-kva.example", Result.DUPLICATE),
    ]


def test_bulk_form_needs_some_addresses():
    form = BulkInvitationForm({"addresses": "  "})

    assert form.has_error("__all__", code="empty")


def test_bulk_page_shows_each_result_after_a_redirect(staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/invites/bulk/", {"addresses": "a@example.com bad@@example"})

    assert response.status_code == 302
    assert response["Location"] == "/invites/bulk/"
    page = staff_client.get(response["Location"]).content.decode()
    assert "1 of 2 invitation(s) queued for sending." in page
    assert "bad@@example" in page
    assert "invalid" in page
    assert Invitation.objects.filter(email="a@example.com", status="pending").exists()


def test_bulk_page_with_a_nul_byte_in_the_csv_is_a_400_that_says_so(staff_client):
    upload = SimpleUploadedFile("people.csv", b"email\nbob@example.com\nada\x00@example.com\n")

    response = staff_client.post("/invites/bulk/", {"csv_file": upload})

    assert response.status_code == 400
    assert "The CSV file contains a NUL byte (line 3)." in response.content.decode()
    assert not Invitation.objects.exists()


def test_bulk_page_with_nothing_to_invite_is_a_400(staff_client):
    response = staff_client.post("/invites/bulk/", {"addresses": ""})

    assert response.status_code == 400
    assert "Paste some addresses" in response.content.decode()
    assert not Invitation.objects.exists()


def test_import_command_queues_the_csv_rows(tmp_path, staff):
    path = tmp_path / "people.csv"
    path.write_text("email\nada@example.com\nada@example.com\nnope\n")
    out = StringIO()

    call_command("import_invitations", str(path), "--sender", staff.username, stdout=out)

    assert Invitation.objects.get().email == "ada@example.com"
    assert "1 queued" in out.getvalue()
    assert "1 duplicate" in out.getvalue()
    assert "1 invalid" in out.getvalue()


def test_import_command_explains_a_missing_column(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name\nAda\n")

    with pytest.raises(CommandError, match="no “email” column"):
        call_command("import_invitations", str(path))
