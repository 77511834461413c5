"""`manage.py check` reports a wrong INVITATIONS or wiring as errors with ids."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from invitations import checks, liveness
from invitations.conf import app_settings


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


def test_the_reference_settings_are_clean(settings):
    from myproject import settings as project_settings

    settings.CHANNEL_LAYERS = project_settings.CHANNEL_LAYERS  # not the unit tests' in-memory one

    assert checks.check_settings() == []
    assert checks.check_wiring() == []


def test_the_in_memory_layer_is_a_warning_and_pubsub_an_error(settings):
    assert ids(checks.check_wiring()) == ["invitations.W002"]  # the unit tests' layer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}

    assert ids(checks.check_wiring()) == ["invitations.E009"]


def test_a_typo_in_a_key_is_an_error_that_suggests_the_key(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "EXPIRY_DAY": 3}

    [error] = checks.check_settings()

    assert error.id == "invitations.E002"
    assert "'EXPIRY_DAY'" in error.msg
    assert error.hint == "Did you mean 'EXPIRY_DAYS'?"


def test_manage_py_check_fails_on_a_typo(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATELIMIT": 5}

    with pytest.raises(SystemCheckError, match=r"invitations\.E002.*'RATELIMIT'"):
        call_command("check")


@pytest.mark.parametrize(
    ("key", "value", "error_id"),
    [
        ("EXPIRY_DAYS", "7", "invitations.E003"),
        ("EXPIRY_DAYS", 7.5, "invitations.E003"),
        ("RETRY_CAP", True, "invitations.E003"),
        ("SITE_URL", 8000, "invitations.E003"),
        ("EXPIRY_DAYS", 0, "invitations.E004"),
        ("WORKER_CONCURRENCY", -1, "invitations.E004"),
        ("SITE_URL", "app.example.com", "invitations.E004"),
        ("USER_DISPLAY_NAME", "nowhere.name", "invitations.E004"),
        ("SEND_RATE", "14 per second", "invitations.E005"),
        ("SEND_RATE", "0/s", "invitations.E005"),
        ("REDIS_URL", "http://127.0.0.1:6379", "invitations.E006"),
        ("REDIS_URL", "redis+sentinel://h1:26379", "invitations.E006"),
        ("RETENTION_DAYS", "30", "invitations.E003"),
        ("RETENTION_DAYS", 0, "invitations.E004"),
        ("FEEDBACK_ID", 5, "invitations.E003"),
        ("SITE_NAME", 5, "invitations.E003"),
        ("REMIND_AFTER_DAYS", -1, "invitations.E004"),
        ("REMIND_AFTER_DAYS", "3", "invitations.E003"),
        ("ACCEPT_REDIRECT_URL", 5, "invitations.E003"),
        ("ACCEPT_REDIRECT_URL", " ", "invitations.E004"),
    ],
)
def test_wrong_types_and_values_are_errors(settings, key, value, error_id):
    settings.INVITATIONS = {**settings.INVITATIONS, key: value}

    assert ids(checks.check_settings()) == [error_id]


def test_numbers_may_be_integers_where_seconds_are_asked(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETRY_CAP": 60, "SEND_RATE": "3000/h"}

    assert checks.check_settings() == []


def test_invitations_must_be_a_dict(settings):
    settings.INVITATIONS = [("SITE_URL", "https://x.example")]

    assert ids(checks.check_settings()) == ["invitations.E001"]


def test_invitations_after_channels_is_an_error(settings):
    apps = [app for app in settings.INSTALLED_APPS if app != "invitations"]
    settings.INSTALLED_APPS = [*apps, "invitations.apps.InvitationsConfig"]

    assert "invitations.E007" in ids(checks.check_wiring())


def test_without_a_redis_url_anywhere_it_warns(settings):
    settings.INVITATIONS = {key: value for key, value in settings.INVITATIONS.items() if key != "REDIS_URL"}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    assert ids(checks.check_wiring()) == ["invitations.W002", "invitations.W001"]


def test_the_redis_url_defaults_to_the_channel_layers_host(settings):

    settings.INVITATIONS = {key: value for key, value in settings.INVITATIONS.items() if key != "REDIS_URL"}
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://redis.internal:6380/2"}], "prefix": "site"},
        }
    }

    assert app_settings.REDIS_URL == "redis://redis.internal:6380/2"
    assert liveness.heartbeat_key() == "site:invitations:heartbeat"
    assert checks.check_wiring() == []
