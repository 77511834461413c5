"""Two invitees signing up at the same moment, over two real connections to the database."""

import re
import threading

import pytest
from django.test import Client

from invitations import acceptance
from invitations.models import Invitation

PASSWORD = "violet-harbour-kettle-93"


@pytest.fixture
def two_keys(staff, deliver, mailoutbox):
    invitations = [Invitation.objects.create(email=f"{name}@example.com", sender=staff) for name in "ab"]
    for invitation in invitations:
        deliver(invitation)
    return [re.search(r"/invites/accept/([^/\s]+)/", mail.body).group(1) for mail in mailoutbox]


@pytest.mark.django_db(transaction=True)
def test_two_invitees_taking_one_username_at_once_one_wins_the_other_is_told(
    two_keys, monkeypatch, django_user_model
):
    # Both requests pass the form's username check before either saves: the race a busy
    # site runs into, made certain by holding each at the start of the acceptance.
    both_validated = threading.Barrier(2, timeout=10)
    accept = acceptance.invitation_accept

    def accept_together(**kwargs):
        both_validated.wait()
        return accept(**kwargs)

    monkeypatch.setattr(acceptance, "invitation_accept", accept_together)
    responses = {}

    def sign_up(key: str) -> None:
        data = {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
        responses[key] = Client().post(f"/invites/accept/{key}/", data)

    threads = [threading.Thread(target=sign_up, args=(key,)) for key in two_keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    codes = sorted(response.status_code for response in responses.values())
    assert codes == [200, 302]
    [lost] = [key for key, response in responses.items() if response.status_code == 200]
    assert "A user with that username already exists." in responses[lost].content.decode()
    winner = django_user_model.objects.get(username="ada")
    statuses = dict(Invitation.objects.values_list("email", "status"))
    loser_email = ({"a@example.com", "b@example.com"} - {winner.email}).pop()
    assert statuses == {winner.email: "accepted", loser_email: "sent"}  # the loser's stays acceptable

    monkeypatch.setattr(acceptance, "invitation_accept", accept)
    data = {"username": "ada2", "password1": PASSWORD, "password2": PASSWORD}
    assert Client().post(f"/invites/accept/{lost}/", data).status_code == 302
    assert django_user_model.objects.get(username="ada2").email == loser_email
