"""Project settings: read once from the environment, with defaults that run a fresh clone."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS

from invitations.redis_url import channel_layer_host
from myproject import sentry
from myproject.mailers import mailers_from_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "myproject.admin_site.SiteAdminConfig",  # django.contrib.admin, headed with the site's name
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "anymail",
    "axes",
    # Before "channels": our runworker (a non-hoarding worker) overrides the stock one.
    "invitations",
    "channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers 429 to a throttled login
    # Last, not second as WhiteNoise's docs put it: it is sync-only, and Django's ASGI handler
    # runs every middleware inside a sync-only one in sync mode, so the whole stack runs in one
    # thread hop instead of one per process_request/process_response. A static file passes
    # the lazy session and user unread.
    "whitenoise.middleware.WhiteNoiseMiddleware",
]

ROOT_URLCONF = "myproject.urls"
ASGI_APPLICATION = "myproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# PostgreSQL gets psycopg's pool (Django allows it only with CONN_MAX_AGE=0), which checks a
# connection before handing it out (CONN_HEALTH_CHECKS). Without a pool the worker keeps its
# connections (runworker).
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
WORKER_CONN_MAX_AGE = env.int("WORKER_CONN_MAX_AGE", default=600)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        # How long a request waits for a connection, every one busy or the database away: then
        # the 503 page. (At 10 s a load balancer's probe and staff waited 10 s to hear it.)
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=3.0),
        # psycopg_pool tries a lost connection again after 1, 2, 4 … s: once the database was
        # away for 40 s, its next try came 16 s after it was back. Past 5 s of failures the
        # attempt ends, and the next request connects at once.
        "reconnect_timeout": 5.0,
    }
# Longest SQL statement of a web request on PostgreSQL (milliseconds; 0: no limit); asgi.py
# applies it to the web process only, never to the worker or migrate.
DATABASE_STATEMENT_TIMEOUT = env.int("DATABASE_STATEMENT_TIMEOUT", default=30_000)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web and worker write concurrently: WAL plus a busy timeout instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}Validator"}
    for name in ("UserAttributeSimilarity", "MinimumLength", "CommonPassword", "NumericPassword")
]
LOGIN_URL = "login"
# The home page sends staff who may invite on to the board and shows anyone else their account:
# a login never ends on a 403. Logging out shows registration/logged_out.html (the site's own).
LOGIN_REDIRECT_URL = "home"

# Failed logins (the site's and the admin's) are throttled by django-axes, counted in the
# database so that every web process sees them: after LOGIN_FAILURE_LIMIT failures within
# LOGIN_COOLOFF_MINUTES for one username, or from one client address, that username or that
# address gets a 429 page until LOGIN_COOLOFF_MINUTES after its last failure; other users are
# unaffected. (Sessions name their backend: this one's first deploy logs everyone out once.)
AUTHENTICATION_BACKENDS = ["myproject.auth.ThrottledModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one: two separate counts
# The client address is the connection's (REMOTE_ADDR), which uvicorn takes from
# X-Forwarded-For only for the proxies FORWARDED_ALLOW_IPS trusts: a header the client writes
# can neither dodge the count nor pin failures on someone else's address.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A successful login clears no count (axes' default): with AXES_RESET_ON_SUCCESS, an attacker
# with an account of their own could log in between guesses and start their count again.
AXES_DISABLE_ACCESS_LOG = True  # no database write for each successful login

TIME_ZONE = "UTC"  # i18n and USE_TZ keep Django's defaults
# The languages an invitation may be written in (the invite form's `language`); the app ships
# German, French and Spanish translations beside its English.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

# Channel layer. redis-py 8's default socket timeout equals channels-redis' 5 s blocking
# wait, which ends an idle worker (channels_redis#422): give the socket more room than that.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
INVITATION_CHANNEL = "send-invite"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [channel_layer_host(REDIS_URL, socket_timeout=15, socket_connect_timeout=2)],
            "prefix": env.str("CHANNEL_PREFIX", default="asgi"),
            "expiry": env.int("CHANNEL_EXPIRY", default=60),
            # The database re-drives what the channel drops; more room, fewer re-drives.
            "channel_capacity": {INVITATION_CHANNEL: 1000},
        },
    },
}

# Django 6.1 mailers from EMAIL_URL; EMAIL_TIMEOUT is deprecated as a setting under MAILERS.
MAILERS = mailers_from_url(
    env.str("EMAIL_URL", default="consolemail://"),
    timeout=env.float("EMAIL_TIMEOUT", default=10.0),
    api_url=env.str("ANYMAIL_API_URL", default=None),
)
# Tracking webhooks (/anymail/<esp>/tracking/) must present this "user:password"; unset, none served.
ANYMAIL = {"WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=None)}
# Mailgun signs its webhooks with a key of its own; without it the Mailgun webhook is not served.
if env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env.str("MAILGUN_WEBHOOK_SIGNING_KEY")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="invitations@localhost")

# The app's settings (invitations/conf.py has every key and its default): each INVITATION_*
# environment variable fills the key of its name without the prefix, when it is set.
INVITATION_SETTINGS = {
    "WORKER_CONCURRENCY": env.int,
    "WORKER_BATCH": env.int,
    "MAX_ATTEMPTS": env.int,
    "RETRY_BASE": env.float,
    "RETRY_CAP": env.float,
    "CLAIM_TIMEOUT": env.float,
    "SWEEP_INTERVAL": env.float,
    "REPUBLISH_AFTER": env.float,
    "EXPIRY_DAYS": env.int,
    "RATE_LIMIT": env.int,
    "SEND_RATE": env.str,
    "EHLO_NAME": env.str,
    "ACCEPT_SESSION_AGE": env.int,
    "SESSION_PURGE_INTERVAL": env.float,
    "OVERRIDE_RECIPIENTS": env.list,
    "RETENTION_DAYS": env.int,
    "FEEDBACK_ID": env.str,
    "SITE_NAME": env.str,
    "REMIND_AFTER_DAYS": env.int,
    "ACCEPT_REDIRECT_URL": env.str,
}
INVITATIONS = {
    # Unset, the links in mails point at this machine's web process, on its PORT (make run's).
    "SITE_URL": env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"),
    "REDIS_URL": REDIS_URL,
    "CHANNEL": INVITATION_CHANNEL,
    "WORKER_CONN_MAX_AGE": env.int("WORKER_CONN_MAX_AGE", default=600),
    "SHUTDOWN_TIMEOUT": env.float("WEB_SHUTDOWN_TIMEOUT", default=25.0),
    "MAX_REQUEST_BYTES": env.int("WEB_MAX_REQUEST_BYTES", default=4 * 1024 * 1024),
    "USER_DISPLAY_NAME": "myproject.people.display_name",
    "METRICS_TOKEN": env.str("METRICS_TOKEN", default=None),
    **{
        key: read(f"INVITATION_{key}")
        for key, read in INVITATION_SETTINGS.items()
        if env(f"INVITATION_{key}", default="")
    },
}

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, and the fields a line
# passes with `extra=`, such as a delivery attempt's invitation_id, attempt, outcome, duration_ms).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
            # Django's request lines pass the request object: their message names the path.
            "reserved_attrs": [*RESERVED_ATTRS, "request"],
        },
    },
    "filters": {"forget_accept_keys": {"()": "myproject.logs.ForgetAcceptKeys"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["forget_accept_keys"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "invitations": {"level": env.str("LOG_LEVEL", default="INFO")},
        "django.channels": {"level": "INFO"},
        # uvicorn's own lines (the web process) in the same format, through the same filter.
        "uvicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Errors of web and worker to Sentry, scrubbed of addresses and keys (myproject/sentry.py).
if env.str("SENTRY_DSN", default=""):
    sentry.init(env.str("SENTRY_DSN"), environment=env.str("SENTRY_ENVIRONMENT", default=None))

# Production hardening; `manage.py check --deploy` is clean with DEBUG=0.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
