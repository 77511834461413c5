"""The providers' tracking webhooks, through anymail's views, as a urlconf of their own:

    path("anymail/", include("invitations.tracking_urls")),   # /anymail/postmark/tracking/ …

Nothing is served unless ANYMAIL["WEBHOOK_SECRET"] is set: the basic auth that guards them.
"""

from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
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

urlpatterns = []
if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
    urlpatterns += [
        path(f"{esp}/tracking/", bad_request_on_malformed_body(view.as_view()), name=f"{esp}-tracking")
        for esp, view in TRACKING_WEBHOOKS.items()
    ]
