"""The app's settings: one `INVITATIONS` dict in the host's settings, a default for every key.

Read lazily and again after `setting_changed` (as django-debug-toolbar reads
`DEBUG_TOOLBAR_CONFIG`), never at import time, so `override_settings` works. Mistakes in the
dict are `manage.py check` errors (invitations/checks.py), not surprises at run time.

    from invitations.conf import app_settings
    app_settings.EXPIRY_DAYS
"""

import functools
import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.encoding import punycode
from django.utils.module_loading import import_string

# key -> default. None means "derived" (see AppSettings.derived) or "unset".
DEFAULTS: dict[str, object] = {
    # Absolute base URL of the links in mails; the accept path follows where the host mounted
    # invitations.urls.
    "SITE_URL": "http://127.0.0.1:8000",
    # Redis of the heartbeat, health and send rate: default, the channel layer's first host.
    "REDIS_URL": None,
    "CHANNEL": "send-invite",
    # Where the staff board's WebSocket connects (invitations.routing.websocket_urlpatterns).
    "WEBSOCKET_PATH": "ws/invites/",
    # Messages one worker process sends at once, each over its own mail connection: six keep a
    # provider that takes ~200 ms per mail at ~30 mails/s (bench scenario 2).
    "WORKER_CONCURRENCY": 6,
    # Most wake-ups one consumer takes and claims at once; it sends and stamps them one by one.
    "WORKER_BATCH": 20,
    # CONN_MAX_AGE of a worker's database connections when no pool is configured.
    "WORKER_CONN_MAX_AGE": 600,
    "MAX_ATTEMPTS": 5,
    "RETRY_BASE": 5.0,
    "RETRY_CAP": 600.0,
    # A claim older than this belongs to a worker that died; default 6 × the mail timeout.
    "CLAIM_TIMEOUT": None,
    "SWEEP_INTERVAL": 2.0,
    "REPUBLISH_AFTER": 45.0,
    "EXPIRY_DAYS": 7,
    # Invitations one sender may create per hour.
    "RATE_LIMIT": 100,
    # Seconds a followed accept link is remembered in the browser's session; a session that the
    # link began (a mail scanner's, a first visit) ends then too, instead of after two weeks.
    "ACCEPT_SESSION_AGE": 3600,
    # Each worker deletes expired sessions this often (seconds), as `clearsessions` does;
    # 0: never (the host runs clearsessions itself).
    "SESSION_PURGE_INTERVAL": 300.0,
    # Mails per second, minute or hour for the whole fleet ("14/s", "3000/h"); None: no limit.
    "SEND_RATE": None,
    # After SIGTERM, how long the web process answers the requests in flight (seconds): under
    # the 30 s after which platforms commonly send SIGKILL.
    "SHUTDOWN_TIMEOUT": 25.0,
    # Largest request body the web process reads (bytes); a larger one is answered 413 before
    # it is read. Fits the bulk page's largest legitimate POST: a CSV of forms.MAX_CSV_BYTES
    # (2 MiB) plus pasted addresses.
    "MAX_REQUEST_BYTES": 4 * 1024 * 1024,
    # How mails and pages name a person: a dotted path to a callable(user) -> str.
    "USER_DISPLAY_NAME": "invitations.conf.display_name",
    # The name invitations.backends.SMTPBackend greets the SMTP server with (EHLO); default,
    # the host of SITE_URL. Django's own backend says this machine's name, often "localhost",
    # which spam filters count against the mail.
    "EHLO_NAME": None,
    # Staging: every mail goes to these addresses instead of the invitee's (the row keeps the
    # real address), as django-post-office's OVERRIDE_RECIPIENTS; empty: mail goes out as addressed.
    "OVERRIDE_RECIPIENTS": [],
    # Workers delete invitations that ended (accepted, revoked, expired, failed, bounced,
    # complained, opted out) this many days ago, once a day; suppressions stay. None: keep them.
    "RETENTION_DAYS": None,
    # The Feedback-ID header of every mail (Gmail's "a:b:c:SenderId"); None: no header.
    "FEEDBACK_ID": None,
    # What the invitee is invited to join ("Acme"): the subject, the mail, the From display
    # name and the invitee's pages; default, the host of SITE_URL.
    "SITE_NAME": None,
    # One reminder (the same working link) to a sent invitation still open this many days after
    # it was sent, found by the workers' sweep; 0: never.
    "REMIND_AFTER_DAYS": 3,
    # The bearer token a scrape of /metrics must present; None: /metrics answers 404.
    "METRICS_TOKEN": None,
    # Where the invitee lands after signing up or accepting with an existing account: a URL or
    # a URL name (as LOGIN_REDIRECT_URL); the welcome travels there as a message.
    "ACCEPT_REDIRECT_URL": "/",
}
# Seconds allowed for one attempt of the mail backend when the host's mailer names none.
DEFAULT_MAIL_TIMEOUT = 10.0


def display_name(user) -> str:
    """The default USER_DISPLAY_NAME: what every user model has."""
    return user.get_username()


def display_name_of(user) -> str:
    """How mails and pages name `user`: INVITATIONS["USER_DISPLAY_NAME"]."""
    return import_string(app_settings.USER_DISPLAY_NAME)(user)


class AppSettings:
    """Attribute access to `INVITATIONS` with defaults, plus the names derived from them."""

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(f"INVITATIONS has no setting {name!r}")
        value = _user_settings().get(name, DEFAULTS[name])
        return self.derived(name) if value is None else value

    def derived(self, name: str):
        if name == "REDIS_URL":
            return redis_url_of_channel_layer() or "redis://127.0.0.1:6379/0"
        if name == "CLAIM_TIMEOUT":
            return 6 * mail_timeout()
        if name == "EHLO_NAME":
            return ehlo_name_of(site_host())
        if name == "SITE_NAME":
            return site_host()
        return None

    @property
    def KEY_PREFIX(self) -> str:
        """The Redis key prefix of the app's own keys: the channel layer's prefix."""
        return _channel_layer_config().get("prefix", "asgi")

    @property
    def SITE_ROOT(self) -> str:
        """SITE_URL without its trailing slash, for joining with an absolute path."""
        return self.SITE_URL.rstrip("/")


app_settings = AppSettings()


@functools.cache
def _user_settings() -> dict:
    configured = getattr(settings, "INVITATIONS", {})
    return configured if isinstance(configured, dict) else {}


def _channel_layer_config() -> dict:
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {})
    return layer.get("CONFIG", {}) if isinstance(layer, dict) else {}


def redis_url_of_channel_layer() -> str | None:
    """The URL of the channel layer's first Redis host, if it names one by URL."""
    hosts = _channel_layer_config().get("hosts") or []
    first = hosts[0] if hosts else None
    if isinstance(first, str):
        return first
    if isinstance(first, dict) and isinstance(first.get("address"), str):
        return first["address"]
    return None


def mail_timeout() -> float:
    """The default mailer's timeout (MAILERS on Django 6.1, EMAIL_TIMEOUT before)."""
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, dict):
        timeout = mailers.get("default", {}).get("OPTIONS", {}).get("timeout")
    else:
        timeout = getattr(settings, "EMAIL_TIMEOUT", None)
    return float(timeout) if timeout else DEFAULT_MAIL_TIMEOUT


def site_host() -> str:
    return urlsplit(app_settings.SITE_URL).hostname or "localhost"


def site_name() -> str:
    """What mails and pages name the site (the subject, the From display name, the accept page,
    the opt-out line): INVITATIONS["SITE_NAME"], default the host of SITE_URL."""
    return app_settings.SITE_NAME


def ehlo_name_of(host: str) -> str:
    """`host` as an SMTP client names itself (RFC 5321 4.1.3): a domain in its ASCII form, an IP
    address as an address literal, `[192.0.2.1]` or `[IPv6:2001:db8::1]`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return punycode(host)
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs) -> None:
    if setting == "INVITATIONS":
        _user_settings.cache_clear()
