"""Turn EMAIL_URL into Django 6.1's MAILERS setting: SMTP, console and file mail through
django-environ's parser (SMTP through the app's backend, which greets the server as the site),
the HTTP APIs of e-mail providers through django-anymail."""

from urllib.parse import unquote, urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# Django's SMTP backend, greeting the server as the site (INVITATIONS["EHLO_NAME"]).
APP_SMTP_BACKEND = "invitations.backends.SMTPBackend"
DJANGO_SCHEMES = ("smtp", "smtp+tls", "smtp+ssl", "consolemail", "filemail", "memorymail", "dummymail")
# scheme -> anymail backend, and the backend option the URL's user part carries.
ANYMAIL_SCHEMES = {
    "amazon-ses": ("amazon_ses", None),  # credentials from boto3's own chain (environment, role)
    "brevo": ("brevo", "api_key"),
    "mailgun": ("mailgun", "api_key"),  # mailgun://<api-key>@<sending domain>
    "postmark": ("postmark", "server_token"),
    "resend": ("resend", "api_key"),
    "sendgrid": ("sendgrid", "api_key"),
}


def mailers_from_url(url: str, *, timeout: float, api_url: str | None = None) -> dict:
    """A MAILERS dict whose "default" is the backend EMAIL_URL names. Every backend gets a
    timeout, so one stalled server cannot hold a worker forever; `api_url` replaces an
    anymail provider's API base URL (ANYMAIL_API_URL)."""
    scheme = urlparse(url).scheme
    if scheme in ANYMAIL_SCHEMES:
        return {"default": _anymail(url, timeout=timeout, api_url=api_url)}
    if scheme not in DJANGO_SCHEMES:
        supported = ", ".join(f"{name}://" for name in (*DJANGO_SCHEMES, *ANYMAIL_SCHEMES))
        raise ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported; use one of {supported}")
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
        backend = APP_SMTP_BACKEND
    elif backend.endswith("filebased.EmailBackend"):
        # django-environ drops the leading "/" of filemail:///abs/path; keep the path as written.
        options = {"file_path": urlparse(url).path or config["EMAIL_FILE_PATH"]}
    return {"default": {"BACKEND": backend, "OPTIONS": options}}


def _anymail(url: str, *, timeout: float, api_url: str | None) -> dict:
    parsed = urlparse(url)
    module, credential = ANYMAIL_SCHEMES[parsed.scheme]
    options: dict = {"timeout": timeout}
    if credential:
        if not parsed.username:
            raise ImproperlyConfigured(
                f"EMAIL_URL {parsed.scheme}:// needs the {credential}: {parsed.scheme}://<key>@"
            )
        options[credential] = unquote(parsed.username)
    if parsed.scheme == "mailgun":
        options["sender_domain"] = parsed.hostname
    if api_url:
        options["api_url"] = api_url
    return {"BACKEND": f"anymail.backends.{module}.EmailBackend", "OPTIONS": options}
