"""An invitation carries Django auth groups: the sender may grant only their own (any, for a
superuser); the invitee joins them on accepting, in the same transaction."""

import re

import pytest
from django.contrib.auth.models import Group

from invitations.models import Invitation

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-kettle-93"


@pytest.fixture
def editors(staff):
    group = Group.objects.create(name="editors")
    staff.groups.add(group)
    return group


@pytest.fixture
def admins():
    return Group.objects.create(name="admins")  # grace is not in it


def test_staff_invite_into_a_group_of_their_own(staff_client, editors):
    response = staff_client.post("/invites/new/", {"email": "ada@example.com", "groups": [editors.pk]})

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert list(invitation.groups.all()) == [editors]


def test_the_form_offers_only_the_groups_the_sender_may_grant(staff_client, editors, admins):
    page = staff_client.get("/invites/").content.decode()

    assert f'value="{editors.pk}"' in page
    assert "editors" in page
    assert "admins" not in page


@pytest.mark.parametrize("path", ["/invites/new/", "/invites/bulk/"])
def test_a_group_the_sender_may_not_grant_is_a_form_error_and_creates_nothing(
    staff_client, editors, admins, path
):
    field = "email" if path.endswith("new/") else "addresses"

    response = staff_client.post(path, {field: "ada@example.com", "groups": [editors.pk, admins.pk]})

    assert response.status_code == 400
    assert response.context["form" if field == "email" else "bulk_form"].has_error("groups", "not_grantable")
    assert "You may not grant admins." in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("path", ["/invites/new/", "/invites/bulk/"])
def test_an_unknown_group_is_a_form_error_and_creates_nothing(staff_client, editors, path):
    field = "email" if path.endswith("new/") else "addresses"

    response = staff_client.post(path, {field: "ada@example.com", "groups": [editors.pk, 9999]})

    assert response.status_code == 400
    assert response.context["form" if field == "email" else "bulk_form"].has_error("groups", "invalid_choice")
    assert not Invitation.objects.exists()


def test_a_superuser_may_grant_any_group(client, admin_user, admins):
    client.force_login(admin_user)

    response = client.post("/invites/new/", {"email": "ada@example.com", "groups": [admins.pk]})

    assert response.status_code == 302
    assert list(Invitation.objects.get().groups.all()) == [admins]


def test_bulk_gives_every_invitation_the_groups(staff_client, editors):
    response = staff_client.post(
        "/invites/bulk/",
        {"addresses": "ada@example.com, bob@example.com", "groups": [editors.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 of 2 invitation(s) queued for sending." in response.content.decode()
    assert [list(i.groups.all()) for i in Invitation.objects.order_by("email")] == [[editors], [editors]]


def test_signing_up_joins_the_groups(client, staff, editors, deliver, mailoutbox, django_user_model):
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)
    invitation.groups.add(editors)
    deliver(invitation)
    key = mailoutbox[-1].body.split("/invites/accept/")[1].split("/")[0]

    response = client.post(
        f"/invites/accept/{key}/", {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 302
    ada = django_user_model.objects.get(username="ada")
    assert list(ada.groups.all()) == [editors]
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED


def test_the_admin_shows_and_changes_the_groups_of_an_open_invitation(admin_client, editors, admins):
    invitation = Invitation.objects.create(email="ada@example.com")
    invitation.groups.add(editors)
    url = f"/admin/invitations/invitation/{invitation.pk}/change/"

    page = admin_client.get(url).content.decode()
    assert re.search(rf'name="groups" value="{editors.pk}"[^>]*checked>', page)
    response = admin_client.post(url, {"groups": [admins.pk]})

    assert response.status_code == 302
    assert list(invitation.groups.all()) == [admins]
