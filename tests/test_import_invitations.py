"""import_invitations reads the CSV in batches: results counted, never held; a bad file changes nothing."""

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from invitations import bulk_insert, queue, services
from invitations.management.commands import import_invitations
from invitations.models import Invitation
from invitations.signals import invitation_created

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(import_invitations, "BATCH", 2)


def test_a_file_larger_than_a_batch_is_imported_whole_and_counted(tmp_path, small_batches):
    path = tmp_path / "people.csv"
    path.write_text(
        "email\na@example.com\nb@example.com\n\nnope\nc@example.com\na@example.com\nd@example.com\n"
    )
    out = StringIO()

    call_command("import_invitations", str(path), stdout=out)

    emails = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert sorted(Invitation.objects.values_list("email", flat=True)) == emails
    assert out.getvalue().split("\n") == ["      1 already invited", "      1 invalid", "      4 queued", ""]


def test_a_nul_byte_late_in_the_file_imports_nothing(tmp_path, small_batches):
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\nb@example.com\nc@example.com\nd@exa\x00mple.com\n")

    with pytest.raises(CommandError, match=r"NUL byte \(line 5\)"):
        call_command("import_invitations", str(path))

    assert not Invitation.objects.exists()


# invitations_create_many, which the command calls batch by batch: one INSERT of many rows
# (bulk_insert.py), each row as the model makes it, published as far as the channel has room.


@pytest.fixture
def room(monkeypatch):
    """Set `room.left` to what the channel says it takes; an exception is Redis unreachable."""

    class Room:
        left: int | Exception = 1000

    def channel_room():
        if isinstance(Room.left, Exception):
            raise Room.left
        return Room.left

    monkeypatch.setattr(queue, "channel_room", channel_room)
    return Room


def test_each_row_is_the_models_pending_invitation_with_a_nonce_of_its_own(staff, room):
    group = Group.objects.create(name="editors")
    emails = [f"p{n}@example.com" for n in range(5)]

    services.invitations_create_many(emails=emails, sender=staff, groups=[group], language="de")

    rows = list(Invitation.objects.order_by("pk"))
    assert [row.email for row in rows] == emails  # ids in the order of the batch
    assert {(row.status, row.sender, row.language, row.attempts, row.last_error) for row in rows} == {
        (Invitation.Status.PENDING, staff, "de", 0, "")
    }
    assert len({row.created for row in rows}) == 1
    assert all(row.next_attempt_at == row.published_at == row.created for row in rows)
    assert len({row.key_nonce for row in rows}) == 5
    assert all(len(row.key_nonce) == 32 for row in rows)
    assert all(list(row.groups.all()) == [group] for row in rows)


def test_rows_past_the_channels_room_wait_unpublished_for_the_sweep(
    room, channel_layer, django_capture_on_commit_callbacks
):
    room.left = 2
    emails = [f"p{n}@example.com" for n in range(5)]

    with django_capture_on_commit_callbacks(execute=True):
        results = services.invitations_create_many(emails=emails, sender=None)

    assert {result for _, result in results} == {services.BulkResult.QUEUED}
    rows = list(Invitation.objects.order_by("pk"))
    assert [row.published_at is not None for row in rows] == [True, True, False, False, False]
    woken = [async_to_sync(channel_layer.receive)("send-invite")["id"] for _ in range(2)]
    assert woken == [rows[0].pk, rows[1].pk]
    assert Invitation.objects.forgotten(timezone.now()).count() == 3  # the sweep's next round


def test_with_the_channel_unreachable_every_row_waits_for_the_sweep(
    room, channel_layer, django_capture_on_commit_callbacks
):
    room.left = ConnectionError("Redis is down")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        results = services.invitations_create_many(emails=["a@example.com", "b@example.com"], sender=None)

    assert [result for _, result in results] == [services.BulkResult.QUEUED] * 2
    assert not Invitation.objects.filter(published_at__isnull=False).exists()
    assert Invitation.objects.forgotten(timezone.now()).count() == 2
    assert callbacks == []  # no publish to wait for


def test_receivers_of_invitation_created_get_each_row_as_saved(room, django_capture_on_commit_callbacks):
    heard = []

    def receiver(sender, invitation, **kwargs):
        heard.append(invitation)

    invitation_created.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.invitations_create_many(emails=["a@example.com", "b@example.com"], sender=None)
    finally:
        invitation_created.disconnect(receiver)

    saved = list(Invitation.objects.order_by("pk").values_list("pk", "email", "key_nonce"))
    assert [(row.pk, row.email, row.key_nonce) for row in heard] == saved


def test_the_one_statement_insert_writes_what_bulk_create_writes(staff):
    """bulk_insert's own INSERT (PostgreSQL) pinned to Django's: every column of a row it
    writes equals the row bulk_create writes from the same template, but for the address,
    nonce and id. (On other databases both are bulk_create.)"""
    now = timezone.now()
    template = Invitation(sender=staff, created=now, next_attempt_at=now, language="fr")
    [ours] = bulk_insert.insert_pending(["ours@example.com"], template=template, published=[now])
    [django] = Invitation.objects.bulk_create(
        [Invitation(**bulk_insert._shared_values(template), email="django@example.com", published_at=now)]
    )
    per_row = {"id", "email", "key_nonce"}
    columns = [field.attname for field in Invitation._meta.concrete_fields if field.attname not in per_row]
    assert Invitation.objects.filter(pk=ours).values(*columns).get() == (
        Invitation.objects.filter(pk=django.pk).values(*columns).get()
    )
