"""`manage.py check` errors for a wrong INVITATIONS or wiring, before anything runs.

Each mistake here would otherwise surface later, in a worker or in a request: a typo in a key
is silently ignored, a malformed send rate stops the worker at start-up, a stock worker that
hoards messages runs in place of ours.
"""

import difflib
from numbers import Real
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from django.utils.module_loading import import_string

from invitations import conf, throttle
from invitations.redis_url import is_sentinel, parse_sentinel_url

REDIS_SCHEMES = {"redis", "rediss", "unix", "redis+sentinel"}
# Keys whose value must be a number of at least this.
MINIMUMS = {
    "WORKER_CONCURRENCY": 1,
    "WORKER_BATCH": 1,
    "WORKER_CONN_MAX_AGE": 0,
    "MAX_ATTEMPTS": 1,
    "RETRY_BASE": 0,
    "RETRY_CAP": 0,
    "CLAIM_TIMEOUT": 1,
    "SWEEP_INTERVAL": 0.01,
    "REPUBLISH_AFTER": 1,
    "EXPIRY_DAYS": 1,
    "RATE_LIMIT": 0,
    "REMIND_AFTER_DAYS": 0,
    "SHUTDOWN_TIMEOUT": 0,
    "ACCEPT_SESSION_AGE": 60,
    "SESSION_PURGE_INTERVAL": 0,
    "MAX_REQUEST_BYTES": 1024,
    "RETENTION_DAYS": 1,
}
INTEGERS = {
    "WORKER_CONCURRENCY",
    "WORKER_BATCH",
    "WORKER_CONN_MAX_AGE",
    "MAX_ATTEMPTS",
    "EXPIRY_DAYS",
    "RATE_LIMIT",
    "RETENTION_DAYS",
    "REMIND_AFTER_DAYS",
}
LISTS = {"OVERRIDE_RECIPIENTS"}  # of e-mail addresses
STRINGS = {
    "SITE_URL",
    "REDIS_URL",
    "CHANNEL",
    "WEBSOCKET_PATH",
    "SEND_RATE",
    "USER_DISPLAY_NAME",
    "EHLO_NAME",
    "FEEDBACK_ID",
    "SITE_NAME",
    "METRICS_TOKEN",
    "ACCEPT_REDIRECT_URL",
}


@register()
def check_settings(app_configs=None, **kwargs) -> list[Error]:
    configured = getattr(settings, "INVITATIONS", {})
    if not isinstance(configured, dict):
        return [
            Error(
                f"INVITATIONS must be a dict, not {type(configured).__name__}.",
                id="invitations.E001",
            )
        ]
    errors = [_unknown(key) for key in configured if key not in conf.DEFAULTS]
    for key, value in configured.items():
        if key in conf.DEFAULTS and value is not None:
            errors.extend(_wrong_type(key, value) or _wrong_value(key, value))
    return errors


def _unknown(key: str) -> Error:
    close = difflib.get_close_matches(str(key), conf.DEFAULTS, n=1)
    return Error(
        f"INVITATIONS has an unknown key {key!r}.",
        hint=f"Did you mean {close[0]!r}?" if close else f"The keys are: {', '.join(conf.DEFAULTS)}.",
        id="invitations.E002",
    )


def _wrong_type(key: str, value) -> list[Error]:
    if key in STRINGS:
        expected, ok = "a string", isinstance(value, str)
    elif key in LISTS:
        expected = "a list of e-mail addresses"
        ok = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
    elif key in INTEGERS:
        expected, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
    else:
        expected, ok = "a number", isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        return []
    return [Error(f"INVITATIONS[{key!r}] must be {expected}, not {value!r}.", id="invitations.E003")]


def _wrong_value(key: str, value) -> list[Error]:
    problem = None
    if key in MINIMUMS and value < MINIMUMS[key]:
        problem = f"must be at least {MINIMUMS[key]}"
    elif key == "SEND_RATE":
        try:
            throttle.parse_rate(value)
        except ValueError:
            return [
                Error(
                    f"INVITATIONS['SEND_RATE'] is {value!r}.",
                    hint="Write mails per second, minute or hour: '14/s', '600/m', '3000/h'.",
                    id="invitations.E005",
                )
            ]
    elif key == "SITE_URL":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "must be an absolute http:// or https:// URL (the links in mails start with it)"
    elif key == "REDIS_URL":
        return _redis_url_errors(value)
    elif key == "USER_DISPLAY_NAME":
        try:
            import_string(value)
        except ImportError as error:
            problem = f"cannot be imported ({error})"
    elif key == "ACCEPT_REDIRECT_URL" and not value.strip():
        problem = "must be a URL or a URL name"
    elif key in ("CHANNEL", "WEBSOCKET_PATH") and not value.strip("/"):
        problem = "must not be empty"
    elif key == "OVERRIDE_RECIPIENTS" and (invalid := [item for item in value if not _is_address(item)]):
        problem = f"must hold e-mail addresses only, not {', '.join(map(repr, invalid))}"
    if problem is None:
        return []
    return [Error(f"INVITATIONS[{key!r}] {problem}; it is {value!r}.", id="invitations.E004")]


def _is_address(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _redis_url_errors(url: str) -> list[Error]:
    if urlsplit(url).scheme not in REDIS_SCHEMES:
        return [
            Error(
                f"INVITATIONS['REDIS_URL'] must be a redis://, rediss://, unix:// or "
                f"redis+sentinel:// URL; it starts with {url.partition(':')[0]!r}.",
                id="invitations.E006",
            )
        ]
    if is_sentinel(url):
        try:
            parse_sentinel_url(url)
        except ImproperlyConfigured as error:
            return [Error(str(error), id="invitations.E006")]
    return []


@register()
def check_wiring(app_configs=None, **kwargs) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    apps = list(settings.INSTALLED_APPS)
    ours = next((index for index, name in enumerate(apps) if _is_app(name, "invitations")), None)
    stock = next((index for index, name in enumerate(apps) if _is_app(name, "channels")), None)
    if ours is not None and stock is not None and stock < ours:
        problems.append(
            Error(
                "'invitations' is listed after 'channels' in INSTALLED_APPS, so `runworker` is "
                "Channels' stock worker, which takes every queued message into memory and loses "
                "them on a deploy.",
                hint="List 'invitations' before 'channels'.",
                id="invitations.E007",
            )
        )
    if stock is None:
        problems.append(
            Error("'channels' is not in INSTALLED_APPS: there is no runworker.", id="invitations.E008")
        )
    problems.extend(_channel_layer_problems())
    configured = getattr(settings, "INVITATIONS", {})
    if (
        isinstance(configured, dict)
        and not configured.get("REDIS_URL")
        and not conf.redis_url_of_channel_layer()
    ):
        problems.append(
            Warning(
                "INVITATIONS has no REDIS_URL and the default channel layer names no Redis URL: "
                "the heartbeat, /healthz and the send rate use redis://127.0.0.1:6379/0.",
                hint="Set INVITATIONS['REDIS_URL'] to the Redis of the channel layer.",
                id="invitations.W001",
            )
        )
    return problems


def _channel_layer_problems() -> list[Error | Warning]:
    backend = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", "")
    if backend == "channels_redis.pubsub.RedisPubSubChannelLayer":
        return [
            Error(
                "The default channel layer is channels-redis' PubSub layer, which delivers every "
                "wake-up to every worker: each invitation would be claimed by all of them at once.",
                hint="Use channels_redis.core.RedisChannelLayer.",
                id="invitations.E009",
            )
        ]
    if backend != "channels_redis.core.RedisChannelLayer":
        return [
            Warning(
                f"The default channel layer is {backend or 'missing'}: the web process cannot wake "
                "a worker in another process, so invitations wait for the worker's sweep.",
                hint="Use channels_redis.core.RedisChannelLayer in production.",
                id="invitations.W002",
            )
        ]
    return []


def _is_app(entry: str, label: str) -> bool:
    """An INSTALLED_APPS entry names the app `label` or one of its AppConfigs."""
    return entry == label or entry.startswith(label + ".apps.")


@register(deploy=True)
def check_override_recipients(app_configs=None, **kwargs) -> list[Warning]:
    """invitations.W003: the staging switch left on in production sends nobody their invitation."""
    configured = getattr(settings, "INVITATIONS", {})
    override = configured.get("OVERRIDE_RECIPIENTS") if isinstance(configured, dict) else None
    if not override or settings.DEBUG:
        return []
    return [
        Warning(
            f"INVITATIONS['OVERRIDE_RECIPIENTS'] is set with DEBUG off: every invitation mail goes "
            f"to {', '.join(override)} instead of the invitee.",
            hint="Unset INVITATION_OVERRIDE_RECIPIENTS outside staging.",
            id="invitations.W003",
        )
    ]
