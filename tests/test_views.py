import pytest
from django.test import Client

from invitations import services
from invitations.forms import InvitationForm
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/invites/", "/invites/new/"])
def test_anonymous_visitor_is_sent_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_anonymous_post_creates_nothing(client):
    response = client.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 302
    assert not Invitation.objects.exists()


def test_user_without_permission_is_forbidden(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("mallory", password="x-long-password"))

    assert client.get("/invites/").status_code == 403
    assert client.post("/invites/new/", {"email": "ada@example.com"}).status_code == 403
    assert not Invitation.objects.exists()


def test_board_shows_the_form_and_each_invitation_with_its_status(staff_client, staff):
    Invitation.objects.create(email="ada@example.com", sender=staff)
    Invitation.objects.create(email="bob@example.com", status=Invitation.Status.FAILED)

    response = staff_client.get("/invites/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="email"' in page
    assert "ada@example.com" in page
    assert '<span class="status status-pending">pending</span>' in page
    assert '<span class="status status-failed">failed</span>' in page


def test_empty_board_says_so(staff_client):
    assert "No invitations yet." in staff_client.get("/invites/").content.decode()


def test_new_page_shows_the_form(staff_client):
    response = staff_client.get("/invites/new/")

    assert response.status_code == 200
    assert 'name="email"' in response.content.decode()


def test_inviting_queues_the_mail_and_says_so(
    staff_client, staff, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/invites/new/", {"email": " ada@EXAMPLE.com "})

    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.sender, invitation.status) == ("ada@example.com", staff, "pending")
    assert published() == [{"type": "invitation.send", "id": invitation.pk, "ahead": True}]
    assert response.status_code == 302
    assert response["Location"] == "/invites/"
    page = staff_client.get(response["Location"]).content.decode()
    assert "Invitation to ada@example.com queued for sending." in page
    assert "status-pending" in page
    assert "status-sent" not in page


@pytest.mark.parametrize(
    ("email", "error"),
    [("not-an-address", "Enter a valid email address."), ("", "This field is required.")],
)
def test_invalid_address_is_a_400_that_creates_nothing(
    staff_client, published, django_capture_on_commit_callbacks, email, error
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/invites/new/", {"email": email})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Invitation.objects.exists()
    assert published() == []


def test_address_already_invited_is_a_400_that_creates_nothing(
    staff_client, published, django_capture_on_commit_callbacks
):
    Invitation.objects.create(email="ada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/invites/new/", {"email": "ADA@example.com"})

    assert response.status_code == 400
    assert "ADA@example.com already has an open invitation." in response.content.decode()
    assert Invitation.objects.count() == 1
    assert published() == []


def test_post_without_csrf_token_is_refused(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_post_with_the_csrf_token_from_the_form_is_accepted(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    token = client.get("/invites/").context["csrf_token"]

    response = client.post("/invites/new/", {"email": "ada@example.com", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Invitation.objects.filter(email="ada@example.com").exists()


def test_address_invited_concurrently_gets_the_form_error_not_a_500(staff_client, monkeypatch):
    # The other request committed between this form's check and its insert.
    monkeypatch.setattr(InvitationForm, "clean_email", lambda form: form.cleaned_data["email"])
    Invitation.objects.create(email="ada@example.com")

    response = staff_client.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 400
    assert "already has an open invitation" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_a_sender_whose_other_request_took_the_last_invitation_gets_the_limit_not_a_500(
    staff_client, staff, settings, monkeypatch
):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1}
    create = services.invitation_create

    def after_a_concurrent_request(**kwargs):  # it committed between this form's check and its save
        Invitation.objects.create(email="other@example.com", sender=staff)
        return create(**kwargs)

    monkeypatch.setattr(services, "invitation_create", after_a_concurrent_request)

    response = staff_client.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 400
    assert "You have reached the limit of invitations per hour." in response.content.decode()
    assert list(Invitation.objects.values_list("email", flat=True)) == ["other@example.com"]
