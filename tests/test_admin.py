from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
CHANGELIST = "/admin/invitations/invitation/"


@pytest.fixture
def rows():
    """One invitation in each state the admin tells apart."""
    return {
        "pending": Invitation.objects.create(email="pending@example.com"),
        "sent": Invitation.objects.create(email="sent@example.com", status=Status.SENT, sent=timezone.now()),
        "expired": Invitation.objects.create(
            email="expired@example.com", status=Status.SENT, sent=timezone.now() - timedelta(days=30)
        ),
        "failed": Invitation.objects.create(
            email="failed@example.com", status=Status.FAILED, attempts=1, last_error="SMTP 550 no such user"
        ),
        "accepted": Invitation.objects.create(email="accepted@example.com", status=Status.ACCEPTED),
    }


def listed(response) -> set[str]:
    return {invitation.email for invitation in response.context["cl"].result_list}


def test_changelist_shows_status_and_the_change_page_last_error(admin_client, rows):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert listed(response) == {row.email for row in rows.values()}
    assert '<td class="field-status">failed</td>' in page
    change_page = admin_client.get(f"{CHANGELIST}{rows['failed'].pk}/change/").content.decode()
    assert '<div class="readonly">SMTP 550 no such user</div>' in change_page


@pytest.mark.parametrize(
    ("status", "emails"),
    [
        ("failed", {"failed@example.com"}),
        ("sent", {"sent@example.com"}),
        ("expired", {"expired@example.com"}),
        ("accepted", {"accepted@example.com"}),
    ],
)
def test_changelist_filters_by_status(admin_client, rows, settings, status, emails):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAYS": 7}

    assert listed(admin_client.get(CHANGELIST, {"status": status})) == emails


def test_changelist_searches_by_address(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST, {"q": "FAILED@"})) == {"failed@example.com"}


@pytest.fixture
def act(admin_client, published, django_capture_on_commit_callbacks):
    """Run an admin action on some rows, commit, and return the messages the admin shows."""

    def act(action: str, *invitations: Invitation) -> list[str]:
        data = {"action": action, "_selected_action": [i.pk for i in invitations], "post": "yes"}
        with django_capture_on_commit_callbacks() as on_commit:
            response = admin_client.post(CHANGELIST, data, follow=True)
        assert published() == []  # nothing is queued before the transaction commits
        for callback in on_commit:
            callback()
        assert response.status_code == 200
        return [str(message) for message in response.context["messages"]]

    return act


def status_of(invitation: Invitation) -> str:
    return Invitation.objects.get(pk=invitation.pk).status


def test_resend_queues_sent_invitations_only(act, rows, published, mailoutbox):
    report = act("resend", rows["sent"], rows["expired"], rows["failed"])

    assert report == ["2 invitation(s) queued again. 1 skipped: the action does not apply to them."]
    assert sorted(m["id"] for m in published()) == sorted([rows["sent"].pk, rows["expired"].pk])
    assert (status_of(rows["sent"]), status_of(rows["expired"])) == (Status.PENDING, Status.PENDING)
    assert status_of(rows["failed"]) == Status.FAILED
    assert mailoutbox == []


def test_retry_now_queues_failed_invitations_only(act, rows, published, mailoutbox):
    report = act("retry_now", rows["failed"], rows["sent"])

    assert report == ["1 invitation(s) queued for a retry. 1 skipped: the action does not apply to them."]
    assert published() == [{"type": "invitation.send", "id": rows["failed"].pk, "ahead": True}]
    retried = Invitation.objects.get(pk=rows["failed"].pk)
    assert (retried.status, retried.attempts, retried.last_error) == (Status.PENDING, 0, "")
    assert status_of(rows["sent"]) == Status.SENT
    assert mailoutbox == []


def test_action_that_applies_to_nothing_says_so(act, rows, published):
    report = act("retry_now", rows["accepted"])

    assert report == ["0 invitation(s) queued for a retry. 1 skipped: the action does not apply to them."]
    assert published() == []


def test_revoke_closes_invitations_not_yet_accepted(act, rows, published, mailoutbox):
    report = act("revoke", rows["pending"], rows["sent"], rows["accepted"])

    assert report == ["2 invitation(s) revoked. 1 skipped: the action does not apply to them."]
    assert (status_of(rows["pending"]), status_of(rows["sent"])) == (Status.REVOKED, Status.REVOKED)
    assert status_of(rows["accepted"]) == Status.ACCEPTED
    assert published() == []
    assert mailoutbox == []


def test_adding_through_the_admin_queues_a_pending_invitation(
    admin_client, admin_user, published, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{CHANGELIST}add/", {"email": "new@EXAMPLE.com"})

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.status) == ("new@example.com", Status.PENDING)
    assert invitation.sender == admin_user
    assert published() == [{"type": "invitation.send", "id": invitation.pk, "ahead": True}]
    assert mailoutbox == []


def test_admin_add_form_refuses_an_address_already_invited(admin_client, rows):
    response = admin_client.post(f"{CHANGELIST}add/", {"email": "PENDING@example.com"})

    assert response.status_code == 200
    assert "already has an open invitation" in response.content.decode()
    assert Invitation.objects.filter(email__iexact="pending@example.com").count() == 1


def test_saving_an_existing_invitation_changes_only_its_groups(admin_client, rows):
    pending = rows["pending"]

    response = admin_client.post(f"{CHANGELIST}{pending.pk}/change/", {"email": "other@example.com"})

    assert response.status_code == 302
    row = Invitation.objects.get(pk=pending.pk)
    assert (row.email, row.status) == (pending.email, Status.PENDING)


def test_an_ended_invitation_cannot_be_saved_at_all(admin_client, rows):
    failed = rows["failed"]

    response = admin_client.post(f"{CHANGELIST}{failed.pk}/change/", {"email": "other@example.com"})

    assert response.status_code == 403  # its page is Django's read-only view
    row = Invitation.objects.get(pk=failed.pk)
    assert (row.email, row.status, row.last_error) == (failed.email, Status.FAILED, failed.last_error)


def test_admin_add_form_keeps_to_the_senders_hourly_limit(client, staff, settings):
    """The limit of /invites/new/ holds in the admin too: there the sender is known while the
    form validates."""
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1}
    staff.user_permissions.add(Permission.objects.get(codename="view_invitation"))
    client.force_login(staff)
    assert client.post("/invites/new/", {"email": "first@example.com"}).status_code == 302

    response = client.post(f"{CHANGELIST}add/", {"email": "second@example.com"})

    assert response.status_code == 200
    assert "limit of invitations per hour" in response.content.decode()
    assert list(Invitation.objects.values_list("email", flat=True)) == ["first@example.com"]
