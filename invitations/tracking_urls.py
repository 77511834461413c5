"""The providers' tracking webhooks, through anymail's views, as a urlconf of their own:

    path("anymail/", include("invitations.tracking_urls")),   # /anymail/postmark/tracking/ …

Nothing is served unless ANYMAIL["WEBHOOK_SECRET"] is set: the basic auth that guards them.
A provider whose view cannot work here (Mailgun without MAILGUN_WEBHOOK_SIGNING_KEY, Amazon SES
without boto3) is not served either, rather than answering 500 to every post; `manage.py
check` says what the provider in use misses (invitations.W101, W102).
"""

import warnings

from anymail.exceptions import AnymailWarning
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from invitations.tracking import bad_request_on_malformed_body

TRACKING_WEBHOOKS = {
    "amazon_ses": AmazonSESTrackingWebhookView,
    "brevo": BrevoTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
    "postmark": PostmarkTrackingWebhookView,
    "resend": ResendTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
}


def webhook_secret() -> str | None:
    return getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET")


def webhook_problem(esp: str) -> str | None:
    """Why the provider's tracking view cannot work in this deployment (anymail's words), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnymailWarning)  # SendGrid's "no longer supported": it works
        try:
            TRACKING_WEBHOOKS[esp]()
        except ImproperlyConfigured as error:  # a missing setting or package
            return str(error)
    return None


def __getattr__(name: str):
    # Worked out when the URLconf is loaded, from the settings then.
    if name == "urlpatterns":
        if not webhook_secret():
            return []
        return [
            path(f"{esp}/tracking/", bad_request_on_malformed_body(view.as_view()), name=f"{esp}-tracking")
            for esp, view in TRACKING_WEBHOOKS.items()
            if webhook_problem(esp) is None
        ]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def providers_in_use() -> list[str]:
    """The providers of TRACKING_WEBHOOKS whose anymail backend a mailer uses."""
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, dict):
        backends = [str(mailer.get("BACKEND", "")) for mailer in mailers.values() if isinstance(mailer, dict)]
    else:
        backends = [str(getattr(settings, "EMAIL_BACKEND", ""))]
    parts = [backend.split(".") for backend in backends]
    return sorted({p[2] for p in parts if p[:2] == ["anymail", "backends"] and p[2] in TRACKING_WEBHOOKS})


def webhooks_check(**kwargs) -> list[checks.CheckMessage]:
    """What keeps the tracking webhook of the provider in use from being served."""
    in_use = providers_in_use()
    if in_use and not webhook_secret():
        message = f"No tracking webhook is served: bounces and complaints from {', '.join(in_use)} are lost."
        hint = "Set ANYMAIL['WEBHOOK_SECRET'] to the user:password the provider sends (basic auth)."
        return [checks.Warning(message, hint=hint, id="invitations.W102")]
    problems = {esp: problem for esp in in_use if (problem := webhook_problem(esp))}
    return [
        checks.Warning(
            f"The {esp} tracking webhook is not served: its events answer 404 and are lost.",
            hint=problem,
            id="invitations.W101",
        )
        for esp, problem in problems.items()
    ]
