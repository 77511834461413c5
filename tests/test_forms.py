import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction

from invitations import live, services
from invitations.forms import AcceptForm, InvitationForm
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-kettle-93"


def test_address_is_stripped_and_its_domain_lowercased():
    form = InvitationForm({"email": "  Ada.Lovelace@EXAMPLE.Com  "})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "Ada.Lovelace@example.com"


@pytest.mark.parametrize("address", ["ada@example.com", "ADA@Example.COM"])
def test_address_with_an_open_invitation_is_refused(address):
    Invitation.objects.create(email="ada@example.com")

    form = InvitationForm({"email": address})

    assert not form.is_valid()
    assert form.has_error("email", code="already_invited")
    assert "already has an open invitation" in form.errors["email"][0]


def test_the_screen_of_an_address_takes_three_queries(staff, django_assert_num_queries):
    form = InvitationForm({"email": "ada@example.com"}, sender=staff)

    with django_assert_num_queries(3):  # open invitations, suppressions, the sender's hour
        assert form.is_valid(), form.errors


def test_a_sender_at_the_limit_is_refused_whatever_the_address(staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1}
    Invitation.objects.create(email="ada@example.com", sender=staff)

    for address in ("grace@example.com", "not-an-address"):
        form = InvitationForm({"email": address}, sender=staff)
        assert not form.is_valid()
        assert form.has_error("__all__", code="rate_limited"), address
    assert form.has_error("email", code="invalid")
    # An address already invited says so first: inviting it again would not help anyway.
    assert InvitationForm({"email": "ada@example.com"}, sender=staff).has_error("email", "already_invited")


def test_address_whose_invitation_failed_can_be_invited_again():
    Invitation.objects.create(email="ada@example.com", status=Invitation.Status.FAILED)

    assert InvitationForm({"email": "ada@example.com"}).is_valid()


@pytest.mark.parametrize(
    ("address", "code"), [("not-an-address", "invalid"), ("ada@", "invalid"), ("", "required")]
)
def test_invalid_address_is_refused(address, code):
    form = InvitationForm({"email": address})

    assert not form.is_valid()
    assert form.has_error("email", code=code)


def test_save_publishes_the_id_only_after_commit(django_capture_on_commit_callbacks, published, staff):
    form = InvitationForm({"email": "ada@example.com"}, sender=staff)
    assert form.is_valid()

    with django_capture_on_commit_callbacks(execute=True):
        invitation = form.save()
        assert published() == []

    assert published() == [{"type": "invitation.send", "id": invitation.pk, "ahead": True}]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.sender) == (Invitation.Status.PENDING, staff)
    assert invitation.published_at is not None


def test_the_board_hears_of_a_new_invitation_before_a_worker_is_woken(
    channel_layer, staff, django_capture_on_commit_callbacks, monkeypatch
):
    async def listen():
        board = await channel_layer.new_channel()
        await channel_layer.group_add(live.STAFF_GROUP, board)
        return board

    board = async_to_sync(listen)()
    order = []
    send, group_send = channel_layer.send, channel_layer.group_send

    async def recording_send(channel, message):
        if channel == "send-invite":  # not the group's own sends to its members
            order.append(channel)
        await send(channel, message)

    async def recording_group_send(group, message):
        order.append(group)
        await group_send(group, message)

    monkeypatch.setattr(channel_layer, "send", recording_send)
    monkeypatch.setattr(channel_layer, "group_send", recording_group_send)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(email="ada@example.com", sender=staff)

    assert order == [live.STAFF_GROUP, "send-invite"]
    message = async_to_sync(channel_layer.receive)(board)
    assert [(row["id"], row["status"]) for row in message["invitations"]] == [(invitation.pk, "pending")]


def test_a_screened_address_taken_meanwhile_raises_and_leaves_the_callers_transaction_usable(
    staff, monkeypatch
):
    services.invitation_create(email="ada@example.com", sender=staff)
    # As if the screen ran before that invitation committed, in a concurrent request.
    monkeypatch.setattr(Invitation.objects, "open_addresses", lambda emails: set())

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            services.invitation_create(email="ADA@example.com", sender=staff)
        services.invitation_create(email="bob@example.com", sender=staff)

    assert set(Invitation.objects.values_list("email", flat=True)) == {"ada@example.com", "bob@example.com"}


def test_save_without_commit_is_refused():
    form = InvitationForm({"email": "ada@example.com"})
    assert form.is_valid()

    with pytest.raises(ValueError, match="always commits"):
        form.save(commit=False)
    assert not Invitation.objects.exists()


def save_and_commit(django_capture_on_commit_callbacks) -> Invitation:
    form = InvitationForm({"email": "ada@example.com"})
    assert form.is_valid()
    with django_capture_on_commit_callbacks(execute=True):
        invitation = form.save()
    invitation.refresh_from_db()
    return invitation


def test_failed_publish_leaves_the_invitation_pending_for_the_sweep(
    django_capture_on_commit_callbacks, channel_layer, monkeypatch
):
    async def redis_down(channel, message):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(channel_layer, "send", redis_down)

    invitation = save_and_commit(django_capture_on_commit_callbacks)

    assert invitation.status == Invitation.Status.PENDING
    assert invitation.published_at is None


def test_full_channel_leaves_the_invitation_pending_for_the_sweep(
    django_capture_on_commit_callbacks, settings
):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1}}
    }
    layer = get_channel_layer()
    async_to_sync(layer.send)("send-invite", {"type": "invitation.send", "id": 0})
    with pytest.raises(ChannelFull):
        async_to_sync(layer.send)("send-invite", {"type": "invitation.send", "id": -1})

    invitation = save_and_commit(django_capture_on_commit_callbacks)

    assert invitation.status == Invitation.Status.PENDING
    assert invitation.published_at is None
    assert async_to_sync(layer.receive)("send-invite") == {"type": "invitation.send", "id": 0}


def accept_form(invitation: Invitation, **data) -> AcceptForm:
    data = {"username": "ada", "password1": PASSWORD, "password2": PASSWORD, **data}
    return AcceptForm(data, invitation=invitation)


def test_accept_form_gives_the_user_the_invited_address(django_user_model):
    invitation = Invitation.objects.create(email="ada@example.com", status=Invitation.Status.SENT)
    form = accept_form(invitation, email="mallory@example.com")

    assert form.is_valid(), form.errors
    form.save()

    user = django_user_model.objects.get(username="ada")
    assert user.email == "ada@example.com"
    assert user.check_password(PASSWORD)


def test_accept_form_refuses_a_password_like_the_invited_address():
    invitation = Invitation.objects.create(email="ada.lovelace@example.com", status=Invitation.Status.SENT)

    form = accept_form(invitation, password1="ada.lovelace", password2="ada.lovelace")

    assert not form.is_valid()
    assert form.has_error("password2", code="password_too_similar")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@xn--bcher-kva.example", "user@BÜCHER.example"),
    ],
)
def test_one_mailbox_written_two_ways_gets_one_open_invitation(first, second):
    form = InvitationForm({"email": first})
    assert form.is_valid(), form.errors
    assert form.save().email == "user@xn--bcher-kva.example"  # the one form both take

    again = InvitationForm({"email": second})

    assert not again.is_valid()
    assert again.has_error("email", code="already_invited")
