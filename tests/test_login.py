"""Logging in (myproject's /accounts/login/ and the admin's): failures are throttled per
username and per client address, across every web process (the database keeps the count)."""

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the staff fixture's
LOGIN = "/accounts/login/"


@pytest.fixture
def failure_limit(settings):
    settings.AXES_FAILURE_LIMIT = 5  # LOGIN_FAILURE_LIMIT in the environment
    return 5


def attempt(client, username: str, password: str, *, ip: str, path: str = LOGIN, **headers):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def fail(client, times: int, *, username: str = "grace", ip: str = "203.0.113.7", **kwargs) -> list[int]:
    """Log in with a wrong password `times` times (username "" : a different one each time)."""
    return [
        attempt(client, username or f"user{n}", "wrong", ip=ip, **kwargs).status_code for n in range(times)
    ]


def test_a_username_that_failed_too_often_is_refused_with_429_even_with_its_password(
    client, staff, failure_limit
):
    for n in range(failure_limit):  # from many addresses: the username's count is what stops it
        attempt(client, "grace", "wrong", ip=f"198.51.100.{n}")

    response = attempt(client, "grace", PASSWORD, ip="192.0.2.1")

    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_that_failed_too_often_is_refused_for_any_username(
    client, staff, django_user_model, failure_limit
):
    django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    fail(client, failure_limit, username="", ip="203.0.113.7")  # a different username each time

    assert attempt(client, "ada", PASSWORD, ip="203.0.113.7").status_code == 429
    assert attempt(client, "ada", PASSWORD, ip="192.0.2.1").status_code == 302, "others log in"


def test_other_users_and_addresses_are_not_locked_out(client, staff, django_user_model, failure_limit):
    django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    for n in range(failure_limit):
        attempt(client, "grace", "wrong", ip=f"198.51.100.{n}")

    assert attempt(client, "ada", PASSWORD, ip="198.51.100.1").status_code == 302


def test_a_forwarded_for_header_cannot_pin_failures_on_someone_elses_address(client, staff, failure_limit):
    fail(client, failure_limit, username="", ip="203.0.113.7", HTTP_X_FORWARDED_FOR="192.0.2.1")

    assert attempt(client, "grace", PASSWORD, ip="192.0.2.1").status_code == 302


def test_the_failure_that_reaches_the_limit_gets_the_page_that_says_so(client, staff, failure_limit):
    *before, last = fail(client, failure_limit)

    assert before == [200] * (failure_limit - 1)
    assert last == 429
    page = attempt(client, "grace", PASSWORD, ip="192.0.2.1").content.decode()
    assert "paused after 5 failed attempts" in page
    assert "try again in 15 minutes" in page


def test_the_admin_login_is_throttled_too(client, staff, failure_limit):
    staff.is_superuser = True
    staff.save()
    for n in range(failure_limit):
        attempt(client, "grace", "wrong", ip=f"198.51.100.{n}", path="/admin/login/")

    response = attempt(client, "grace", PASSWORD, ip="192.0.2.1", path="/admin/login/")

    assert response.status_code == 429


def test_failures_below_the_limit_leave_the_login_working(client, staff, failure_limit):
    assert fail(client, failure_limit - 1) == [200] * (failure_limit - 1)  # the form, with its error

    assert attempt(client, "grace", PASSWORD, ip="203.0.113.7").status_code == 302


def test_logging_in_to_ones_own_account_between_guesses_does_not_reset_the_count(
    client, staff, django_user_model, failure_limit
):
    django_user_model.objects.create_user("mallory", "mallory@example.com", PASSWORD)
    fail(client, failure_limit - 1, username="grace", ip="203.0.113.7")
    assert attempt(client, "mallory", PASSWORD, ip="203.0.113.7").status_code == 302
    client.logout()

    assert attempt(client, "grace", "wrong", ip="203.0.113.7").status_code == 429
