"""The invitation admin as Django's own admin reads: a narrow list, a sender filter of senders,
a change page that leads with what matters and offers the actions as buttons, revoke asked first."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status
CHANGELIST = "/admin/invitations/invitation/"


def change_url(invitation: Invitation, tail: str = "change/") -> str:
    return f"{CHANGELIST}{invitation.pk}/{tail}"


@pytest.fixture
def sent(staff):
    return Invitation.objects.create(
        email="sent@example.com", sender=staff, status=Status.SENT, sent=timezone.now()
    )


@pytest.fixture
def failed(staff):
    return Invitation.objects.create(
        email="failed@example.com", sender=staff, status=Status.FAILED, last_error="550"
    )


def test_the_list_shows_five_columns(admin_client, sent):
    page = admin_client.get(CHANGELIST).content.decode()

    columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert columns == ["email", "status", "sender", "sent", "created"]


def test_the_sender_filter_lists_only_users_who_sent_invitations(
    admin_client, admin_user, sent, django_user_model
):
    django_user_model.objects.create_user("ada", "ada@example.com")  # an invitee: a user who sent nothing
    Invitation.objects.create(email="unsent@example.com")  # no sender

    response = admin_client.get(CHANGELIST)

    [sender_filter] = [spec for spec in response.context["cl"].filter_specs if spec.title == "sender"]
    assert [title for _, title in sender_filter.lookup_choices] == ["grace"]
    assert Invitation.objects.sender_ids() == [sent.sender_id]
    filtered = admin_client.get(CHANGELIST, {"sender": str(sent.sender_id)})
    assert [row.email for row in filtered.context["cl"].result_list] == ["sent@example.com"]


def test_revoking_from_the_list_asks_first_and_changes_nothing_until_confirmed(admin_client, sent, failed):
    ids = [sent.pk, failed.pk]

    response = admin_client.post(CHANGELIST, {"action": "revoke", "_selected_action": ids})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Revoke these 2 invitations? Their links stop working at once" in page
    assert '<input type="hidden" name="post" value="yes">' in page
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.SENT, Status.FAILED}
    admin_client.post(CHANGELIST, {"action": "revoke", "_selected_action": ids, "post": "yes"})
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.REVOKED}


def test_the_change_page_leads_with_the_address_and_folds_the_delivery_internals(admin_client, sent):
    page = admin_client.get(change_url(sent)).content.decode()

    assert page.index("sent@example.com") < page.index("Link expires") < page.index("Claimed by")
    assert re.search(r"<details[^>]*>\s*<summary>\s*<h2[^>]*>\s*Delivery", page)  # collapsed
    assert 'name="_save"' in page  # its groups may still change


def test_an_accepted_invitation_has_no_save_button_and_no_actions(admin_client):
    accepted = Invitation.objects.create(email="accepted@example.com", status=Status.ACCEPTED)

    page = admin_client.get(change_url(accepted)).content.decode()

    assert 'name="_save"' not in page
    assert "Resend" not in page
    assert "Revoke…" not in page


def test_the_buttons_offer_what_applies_and_act(
    admin_client, sent, failed, published, django_capture_on_commit_callbacks
):
    assert re.findall(
        r"<li>.*?>(Resend|Retry now|Revoke…)<", admin_client.get(change_url(sent)).content.decode()
    ) == [
        "Resend",
        "Revoke…",
    ]
    assert "Retry now" in admin_client.get(change_url(failed)).content.decode()
    assert admin_client.get(change_url(sent, "resend/")).status_code == 405  # a GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change_url(failed, "retry/"), follow=True)

    assert response.redirect_chain == [(change_url(failed), 302)]
    assert "1 invitation(s) queued for a retry." in response.content.decode()
    assert published() == [{"type": "invitation.send", "id": failed.pk, "ahead": True}]  # in the lane


def test_the_revoke_button_asks_first(admin_client, sent):
    confirmation = admin_client.get(change_url(sent, "revoke/")).content.decode()
    assert "Revoke this invitation? Its link stops working at once" in confirmation
    assert Invitation.objects.get().status == Status.SENT

    response = admin_client.post(change_url(sent, "revoke/"), {"post": "yes"}, follow=True)

    assert "1 invitation(s) revoked." in response.content.decode()
    assert Invitation.objects.get().status == Status.REVOKED


def test_who_may_only_view_gets_no_buttons_and_cannot_post_them(client, staff, sent):
    staff.user_permissions.add(Permission.objects.get(codename="view_invitation"))
    client.force_login(staff)

    page = client.get(change_url(sent)).content.decode()

    assert "Resend" not in page
    assert 'name="_save"' not in page
    assert client.post(change_url(sent, "resend/")).status_code == 403
    assert client.post(change_url(sent, "revoke/"), {"post": "yes"}).status_code == 403
    assert Invitation.objects.get().status == Status.SENT


def test_the_add_page_shows_only_what_one_can_type(admin_client):
    Group.objects.create(name="editors")

    page = admin_client.get(f"{CHANGELIST}add/").content.decode()

    assert re.findall(r'<div class="flex-container[^"]*">\s*<label[^>]*for="id_(\w+)', page) == [
        "email",
        "language",
    ]
    assert 'name="groups"' in page
    assert '<div class="readonly">' not in page


def test_the_admin_is_headed_with_the_sites_name(admin_client, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_NAME": "Acme"}

    page = admin_client.get("/admin/").content.decode()

    assert '<div id="site-name"><a href="/admin/">Acme</a></div>' in page
    assert "<title>Site administration | Acme</title>" in page


def test_the_change_page_reads_the_invitation_once(admin_client, sent):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(change_url(sent))

    by_id = re.compile(r'FROM "invitations_invitation" WHERE "invitations_invitation"\."id" = ')
    assert len([query for query in queries if by_id.search(query["sql"])]) == 1
