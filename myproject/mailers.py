"""Turn EMAIL_URL into Django 6.1's MAILERS setting (django-environ still speaks EMAIL_*)."""

from urllib.parse import urlparse

import environ

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def mailers_from_url(url: str, *, timeout: float) -> dict:
    """A MAILERS dict whose "default" is the backend EMAIL_URL names; SMTP always gets a
    timeout, so one stalled server cannot hold a worker forever."""
    config = environ.Env.email_url_config(url)
    backend = config["EMAIL_BACKEND"]
    options: dict = {}
    if backend == SMTP_BACKEND:
        options = {
            "host": config["EMAIL_HOST"] or "localhost",
            "port": config["EMAIL_PORT"],
            "username": config["EMAIL_HOST_USER"] or None,
            "password": config["EMAIL_HOST_PASSWORD"] or None,
            "use_tls": config.get("EMAIL_USE_TLS", False),
            "use_ssl": config.get("EMAIL_USE_SSL", False),
            "timeout": timeout,
        }
    elif backend.endswith("filebased.EmailBackend"):
        # django-environ drops the leading "/" of filemail:///abs/path; keep the path as written.
        options = {"file_path": urlparse(url).path or config["EMAIL_FILE_PATH"]}
    return {"default": {"BACKEND": backend, "OPTIONS": options}}
