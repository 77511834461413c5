from datetime import timedelta

import pytest
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from myproject.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved_session(**data) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    return session.session_key


def test_a_saved_session_is_read_back_as_djangos_store_reads_it(django_assert_num_queries):
    key = saved_session(user="ada", cart=[1, 2])

    with django_assert_num_queries(1):
        data = SessionStore(key).load()

    assert data == db.SessionStore(key).load() == {"user": "ada", "cart": [1, 2]}


@pytest.mark.parametrize("key", ["expired", "nobody-has-this-key-of-32-chars"])
def test_an_expired_or_unknown_session_is_empty_and_saved_under_a_new_key(key):
    if key == "expired":
        key = saved_session(user="ada")
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    session = SessionStore(key)

    assert session.load() == {}
    assert session.load() == db.SessionStore(key).load()
    session["user"] = "grace"
    session.save()
    assert session.session_key != key
    assert SessionStore(session.session_key).load() == {"user": "grace"}


def test_a_session_without_a_key_reads_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert SessionStore().load() == {}


def test_a_signed_in_staff_member_stays_signed_in(staff_client):
    assert staff_client.get("/invites/").status_code == 200
    assert staff_client.session.__class__ is SessionStore
